import { expect } from "chai";
import { keccak256, verifyMessage, Wallet } from "ethers";
import {
  parseStageRequestHeaders,
  parseStageResponseHeaders,
  STAGE_HEADERS,
  STAGE_REFUSALS,
  sessionAuthMessage,
  signSessionToken,
  stageRequestHeaders,
} from "../../../../worker/src/shards/transport/StageProtocol.js";
import { CHAIN_ID, REGISTRY } from "./fixtures.js";

describe("StageProtocol: the wire contract", () => {
  const caller = Wallet.createRandom();
  const body = Uint8Array.from([1, 2, 3]);
  const inputHash = keccak256(body);

  it("builds the canonical session string field by field", () => {
    const message = sessionAuthMessage({
      chainId: 31_337n,
      shardRegistry: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
      host: "0xAbCdEf0123456789aBcDeF0123456789AbCdEf01",
      expires: 1_700_000_000_123,
    });
    expect(message).to.equal("tessera-session/1|31337|0x5fbdb2315678afecb367f032d93f642f64180aa3|0xabcdef0123456789abcdef0123456789abcdef01|1700000000123");
  });

  it("sends a session token with a stage's headers: they parse back and recover to the caller for that host", async () => {
    const hostAddress = Wallet.createRandom().address;
    const token = await signSessionToken(caller, { chainId: CHAIN_ID, shardRegistry: REGISTRY, host: hostAddress, expires: 1_700_000_000_000 });
    const headers = stageRequestHeaders(token, { requestId: 9n, versionId: 4n, shardIndex: 0, inputHash, inputRef: Uint8Array.from([0x01, 0x55]), body });
    expect([headers[":method"], headers[":path"], headers["content-length"]]).to.deep.equal(["POST", "/v1/stage", "3"]);
    const parsed = parseStageRequestHeaders(headers);
    if (!parsed.ok) throw new Error(parsed.error);
    expect(parsed.value).to.deep.equal({
      requestId: 9n,
      versionId: 4n,
      shardIndex: 0,
      inputHash,
      inputRef: "0x0155",
      peer: caller.address,
      expires: 1_700_000_000_000,
      auth: token.auth,
    });
    const message = sessionAuthMessage({ chainId: CHAIN_ID, shardRegistry: REGISTRY, host: hostAddress, expires: parsed.value.expires });
    expect(verifyMessage(message, parsed.value.auth)).to.equal(caller.address);
    // The same token at another host recovers to someone else.
    const elsewhere = sessionAuthMessage({ chainId: CHAIN_ID, shardRegistry: REGISTRY, host: caller.address, expires: parsed.value.expires });
    expect(verifyMessage(elsewhere, parsed.value.auth)).to.not.equal(caller.address);
  });

  it("names the first bad header: missing, repeated, out of range, not an address", async () => {
    const token = await signSessionToken(caller, { chainId: CHAIN_ID, shardRegistry: REGISTRY, host: caller.address, expires: 1 });
    const good = stageRequestHeaders(token, { requestId: 1n, versionId: 1n, shardIndex: 1, inputHash, body });
    const bad = (patch: Record<string, string | string[] | undefined>) => {
      const parsed = parseStageRequestHeaders({ ...good, ...patch });
      expect(parsed.ok).to.equal(false);
      return parsed.ok ? "" : parsed.error;
    };
    expect(bad({ [STAGE_HEADERS.requestId]: undefined })).to.equal(`header ${STAGE_HEADERS.requestId} is missing`);
    expect(bad({ [STAGE_HEADERS.shard]: ["1", "2"] })).to.equal(`header ${STAGE_HEADERS.shard} is repeated`);
    expect(bad({ [STAGE_HEADERS.shard]: "65536" })).to.contain("uint16");
    expect(bad({ [STAGE_HEADERS.version]: "01" })).to.contain("decimal");
    expect(bad({ [STAGE_HEADERS.requestId]: (2n ** 256n).toString() })).to.contain("uint256");
    expect(bad({ [STAGE_HEADERS.peer]: "0xnotanaddress" })).to.contain(STAGE_HEADERS.peer);
    expect(bad({ [STAGE_HEADERS.inputHash]: "0x1234" })).to.contain(STAGE_HEADERS.inputHash);
    expect(bad({ [STAGE_HEADERS.inputRef]: "0x" + "00".repeat(513) })).to.contain("longer");
    expect(bad({ [STAGE_HEADERS.expires]: "-1" })).to.contain(STAGE_HEADERS.expires);
    expect(parseStageRequestHeaders({ ...good, [STAGE_HEADERS.requestId]: (2n ** 256n - 1n).toString() }).ok).to.equal(true);
  });

  it("parses answer headers and maps every refusal code to its status", () => {
    const signature = "0x" + "11".repeat(65);
    const parsed = parseStageResponseHeaders({
      [STAGE_HEADERS.outputHash]: inputHash,
      [STAGE_HEADERS.host]: caller.address.toLowerCase(),
      [STAGE_HEADERS.stageSignature]: signature,
    });
    expect(parsed).to.deep.equal({ ok: true, value: { outputHash: inputHash, host: caller.address, signature } });
    expect(parseStageResponseHeaders({}).ok).to.equal(false);
    expect(STAGE_REFUSALS).to.include({ BAD_REQUEST: 400, BAD_AUTH: 401, AUTH_EXPIRED: 401, INPUT_HASH_MISMATCH: 400, PEER_NOT_AUTHORIZED: 403, SHARD_NOT_SERVED: 404, BODY_TOO_LARGE: 413, BUSY: 429, RUNNER_FAILED: 500, SHUTTING_DOWN: 503 });
  });
});
