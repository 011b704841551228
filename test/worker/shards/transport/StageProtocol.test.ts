import { expect } from "chai";
import { keccak256, verifyMessage, Wallet } from "ethers";
import {
  parseStageRequestHeaders,
  parseStageResponseHeaders,
  STAGE_HEADERS,
  STAGE_REFUSALS,
  stageAuthMessage,
  stageRequestHeaders,
} from "../../../../worker/src/shards/transport/StageProtocol.js";
import { CHAIN_ID, REGISTRY } from "./fixtures.js";

describe("StageProtocol: the wire contract", () => {
  const caller = Wallet.createRandom();
  const body = Uint8Array.from([1, 2, 3]);
  const inputHash = keccak256(body);

  it("builds the canonical auth string field by field", () => {
    const message = stageAuthMessage({
      chainId: 31_337n,
      shardRegistry: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
      requestId: 2n ** 255n,
      versionId: 7n,
      shardIndex: 3,
      inputHash: "0x" + "AB".repeat(32),
      bodyHash: "0x" + "cd".repeat(32),
      timestamp: 1_700_000_000_123,
    });
    expect(message).to.equal(
      `tessera-stage/1|31337|0x5fbdb2315678afecb367f032d93f642f64180aa3|${2n ** 255n}|7|3|0x${"ab".repeat(32)}|0x${"cd".repeat(32)}|1700000000123`,
    );
  });

  it("signs request headers that parse back and recover to the caller", async () => {
    const headers = await stageRequestHeaders(caller, CHAIN_ID, REGISTRY, {
      requestId: 9n,
      versionId: 4n,
      shardIndex: 0,
      inputHash,
      inputRef: Uint8Array.from([0x01, 0x55]),
      body,
      timestamp: 1_700_000_000_000,
    });
    expect([headers[":method"], headers[":path"], headers["content-length"]]).to.deep.equal(["POST", "/v1/stage", "3"]);
    const parsed = parseStageRequestHeaders(headers);
    if (!parsed.ok) throw new Error(parsed.error);
    expect(parsed.value).to.deep.equal({
      requestId: 9n,
      versionId: 4n,
      shardIndex: 0,
      inputHash,
      inputRef: "0x0155",
      bodyHash: keccak256(body),
      peer: caller.address,
      timestamp: 1_700_000_000_000,
      auth: parsed.value.auth,
    });
    const message = stageAuthMessage({ chainId: CHAIN_ID, shardRegistry: REGISTRY, ...parsed.value });
    expect(verifyMessage(message, parsed.value.auth)).to.equal(caller.address);
  });

  it("names the first bad header: missing, repeated, out of range, not an address", async () => {
    const good = await stageRequestHeaders(caller, CHAIN_ID, REGISTRY, { requestId: 1n, versionId: 1n, shardIndex: 1, inputHash, body, timestamp: 1 });
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
    expect(STAGE_REFUSALS).to.include({ BAD_REQUEST: 400, BAD_AUTH: 401, CLOCK_SKEW: 401, PEER_NOT_AUTHORIZED: 403, SHARD_NOT_SERVED: 404, BODY_TOO_LARGE: 413, BUSY: 429, RUNNER_FAILED: 500, SHUTTING_DOWN: 503 });
  });
});
