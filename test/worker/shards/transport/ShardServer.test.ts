import { connect, type ClientHttp2Session } from "node:http2";
import { expect } from "chai";
import { keccak256, Wallet, type Signer } from "ethers";
import { stageSigner } from "../../../../worker/src/shards/StageSignature.js";
import { ShardClient, StageError, type StageCall } from "../../../../worker/src/shards/transport/ShardClient.js";
import { SESSION_WINDOW_BYTES, signSessionToken, STAGE_HEADERS, STREAM_WINDOW_BYTES, stageRequestHeaders } from "../../../../worker/src/shards/transport/StageProtocol.js";
import { CHAIN_ID, Gate, host, randomBytes, rawCall, REGISTRY, REQUEST, reversed, until, VERSION, type Hosted, stageCall, stageFailure } from "./fixtures.js";

const hostKey = Wallet.createRandom();
const caller = Wallet.createRandom();
const stranger = Wallet.createRandom();

const stage = (input: Uint8Array, over: Partial<StageCall> = {}): StageCall => stageCall(0, input, over);

const refusal = stageFailure;

/** A session token of `signer` (default the caller) for `forHost` (default the host), valid 10 min from now. */
function token(over: { signer?: Signer; forHost?: string; expires?: number } = {}) {
  return signSessionToken(over.signer ?? caller, {
    chainId: CHAIN_ID,
    shardRegistry: REGISTRY,
    host: over.forHost ?? hostKey.address,
    expires: over.expires ?? Date.now() + 600_000,
  });
}

/** The headers of a stage of `body` (its input hash keccak256(body) unless given) under `token()`. */
async function signedHeaders(body: Uint8Array, over: { inputHash?: string; forHost?: string; expires?: number } = {}) {
  return stageRequestHeaders(await token(over), { requestId: REQUEST, versionId: VERSION, shardIndex: 0, inputHash: over.inputHash ?? keccak256(body), body });
}

describe("ShardServer: stages over HTTP/2", function () {
  this.timeout(30_000);
  let hosted: Hosted;
  let client: ShardClient;

  beforeEach(async () => {
    hosted = await host(hostKey, [caller.address]);
    client = new ShardClient({ signer: caller, chainId: CHAIN_ID, shardRegistry: REGISTRY });
  });
  afterEach(async () => {
    await client.close();
    await hosted.server.stop();
  });

  it("runs a stage and answers its output with the host's stage signature", async () => {
    const input = randomBytes(4096);
    const { output, stage: signed } = await client.runStage(hosted.endpoint, hostKey.address, stage(input));
    expect(Buffer.from(output).equals(Buffer.from(reversed(input)))).to.equal(true);
    expect(signed.outputHash).to.equal(keccak256(output));
    expect(signed.inputHash).to.equal(keccak256(input));
    expect(signed.host).to.equal(hostKey.address);
    const claim = { requestId: REQUEST, modelVersionId: VERSION, shardIndex: 0, inputHash: keccak256(input), outputHash: keccak256(output) };
    expect(stageSigner(CHAIN_ID, REGISTRY, claim, signed.signature)).to.equal(hostKey.address);
    expect(hosted.authorized).to.deep.equal([{ peer: caller.address, requestId: REQUEST, versionId: VERSION }]);
    expect(hosted.server.served).to.equal(1);
  });

  it("multiplexes 20 stages in flight at once on one session", async () => {
    await hosted.server.stop();
    hosted = await host(hostKey, [caller.address], { maxConcurrent: 32 });
    const gate = new Gate();
    hosted.runner.gate = gate;
    const inputs = Array.from({ length: 20 }, (_, i) => randomBytes(1000 + i * 37, i + 1));
    const calls = inputs.map((input, i) => client.runStage(hosted.endpoint, hostKey.address, stage(input, { shardIndex: i % 2 })));
    await hosted.runner.waitForCalls(20); // all 20 are inside the runner together
    expect(hosted.server.connections).to.equal(1);
    gate.open();
    const results = await Promise.all(calls);
    results.forEach(({ output, stage: signed }, i) => {
      expect(Buffer.from(output).equals(Buffer.from(reversed(inputs[i]!)))).to.equal(true);
      const claim = { requestId: REQUEST, modelVersionId: VERSION, shardIndex: i % 2, inputHash: keccak256(inputs[i]!), outputHash: keccak256(output) };
      expect(stageSigner(CHAIN_ID, REGISTRY, claim, signed.signature)).to.equal(hostKey.address);
    });
    expect(hosted.server.served).to.equal(20);
    expect(hosted.server.connections).to.equal(1);
  });

  describe("refusals (the runner is never called)", () => {
    afterEach(() => expect(hosted.runner.calls).to.have.length(0));

    it("401 BAD_AUTH: a token for another host, or with another expiry than signed", async () => {
      const body = randomBytes(100);
      const answer = await rawCall(hosted.endpoint, await signedHeaders(body, { forHost: stranger.address }), body);
      expect(answer.status).to.equal(401);
      expect(answer.json?.code).to.equal("BAD_AUTH");
      expect(answer.json?.error).to.be.a("string").and.not.empty;
      const stretched = await signedHeaders(body);
      stretched[STAGE_HEADERS.expires] = String(Number(stretched[STAGE_HEADERS.expires]) + 1); // signed for one ms less
      const again = await rawCall(hosted.endpoint, stretched, body);
      expect([again.status, again.json?.code]).to.deep.equal([401, "BAD_AUTH"]);
    });

    it("401 BAD_AUTH: a peer header that is not the signer", async () => {
      const body = randomBytes(100);
      const headers = await signedHeaders(body);
      headers[STAGE_HEADERS.peer] = stranger.address;
      const answer = await rawCall(hosted.endpoint, headers, body);
      expect([answer.status, answer.json?.code]).to.deep.equal([401, "BAD_AUTH"]);
      const garbled = await signedHeaders(body);
      garbled[STAGE_HEADERS.auth] = "0x" + "11".repeat(65);
      const again = await rawCall(hosted.endpoint, garbled, body);
      expect([again.status, again.json?.code]).to.deep.equal([401, "BAD_AUTH"]);
    });

    it("400 BAD_REQUEST: malformed headers", async () => {
      const body = randomBytes(10);
      const headers = await signedHeaders(body);
      headers[STAGE_HEADERS.shard] = "70000"; // above uint16
      const answer = await rawCall(hosted.endpoint, headers, body);
      expect([answer.status, answer.json?.code]).to.deep.equal([400, "BAD_REQUEST"]);
      expect(answer.json?.error).to.contain(STAGE_HEADERS.shard);
    });

    it("403 PEER_NOT_AUTHORIZED: a peer the host does not authorize", async () => {
      const other = new ShardClient({ signer: stranger, chainId: CHAIN_ID, shardRegistry: REGISTRY });
      const err = await refusal(other.runStage(hosted.endpoint, hostKey.address, stage(randomBytes(8))));
      await other.close();
      expect([err.code, err.status, err.serverCode, err.retryable]).to.deep.equal(["HTTP_403", 403, "PEER_NOT_AUTHORIZED", false]);
      expect(hosted.authorized[0]).to.deep.equal({ peer: stranger.address, requestId: REQUEST, versionId: VERSION });
    });

    it("404 SHARD_NOT_SERVED", async () => {
      const err = await refusal(client.runStage(hosted.endpoint, hostKey.address, stage(randomBytes(8), { shardIndex: 5 })));
      expect([err.code, err.serverCode, err.retryable]).to.deep.equal(["HTTP_404", "SHARD_NOT_SERVED", false]);
    });

    it("413 BODY_TOO_LARGE: decided while the body streams, without buffering it", async () => {
      await hosted.server.stop();
      hosted = await host(hostKey, [caller.address], { maxBodyBytes: 1024 });
      // Through the client (declares its length): refused at once.
      const big = randomBytes(10 * 1024 * 1024);
      const bigHash = keccak256(big); // hashed once: keccak256 of 10 MiB takes a while in JS
      const started = Date.now();
      const err = await refusal(client.runStage(hosted.endpoint, hostKey.address, stage(big, { inputHash: bigHash })));
      expect([err.code, err.serverCode, err.retryable]).to.deep.equal(["HTTP_413", "BODY_TOO_LARGE", false]);
      expect(Date.now() - started).to.be.below(3_000);
      // No declared length: the answer comes while only a small part of the 10 MiB has been sent.
      const headers = await signedHeaders(big, { inputHash: bigHash });
      delete headers["content-length"];
      const streamed = await rawCall(hosted.endpoint, headers, big);
      expect([streamed.status, streamed.json?.code]).to.deep.equal([413, "BODY_TOO_LARGE"]);
      expect(streamed.writtenAtAnswer).to.be.below(1024 * 1024);
      // A body that never ends is refused as soon as it passes the limit.
      const open = await rawCall(hosted.endpoint, headers, big.subarray(0, 2048), true);
      expect(open.status).to.equal(413);
      expect(hosted.server.refused.BODY_TOO_LARGE).to.equal(3);
    });

    it("400 INPUT_HASH_MISMATCH: a body that is not what the input hash hashes (claimed so, or tampered on the way)", async () => {
      const input = randomBytes(64);
      const claimed = keccak256(randomBytes(64, 9));
      const answer = await rawCall(hosted.endpoint, await signedHeaders(input, { inputHash: claimed }), input);
      expect([answer.status, answer.json?.code]).to.deep.equal([400, "INPUT_HASH_MISMATCH"]);
      const tampered = Uint8Array.from(input);
      tampered[0]! ^= 1;
      const tamperedAnswer = await rawCall(hosted.endpoint, await signedHeaders(input), tampered);
      expect([tamperedAnswer.status, tamperedAnswer.json?.code]).to.deep.equal([400, "INPUT_HASH_MISMATCH"]);
      const err = await refusal(client.runStage(hosted.endpoint, hostKey.address, stage(input, { inputHash: claimed })));
      expect([err.code, err.serverCode, err.retryable]).to.deep.equal(["HTTP_400", "INPUT_HASH_MISMATCH", false]);
      expect(hosted.server.refused.INPUT_HASH_MISMATCH).to.equal(3);
    });

    it("400 when an input ref does not hash to the input hash", async () => {
      const ref = Uint8Array.from(Buffer.from("01551220" + "ab".repeat(32), "hex"));
      const input = randomBytes(32);
      const err = await refusal(
        client.runStage(hosted.endpoint, hostKey.address, stage(input, { inputRef: ref, inputHash: keccak256(input) })),
      );
      expect([err.code, err.serverCode]).to.deep.equal(["HTTP_400", "INPUT_HASH_MISMATCH"]);
    });
  });

  it("401 AUTH_EXPIRED just past either edge of a token's life; exactly at each edge is accepted", async () => {
    await hosted.server.stop();
    const T = 1_800_000_000_000;
    const SKEW = 60_000;
    const MAX = 15 * 60_000;
    hosted = await host(hostKey, [caller.address], { now: () => T, clockSkewMs: SKEW, maxSessionLifetimeMs: MAX });
    const call = async (expires: number) => {
      const body = randomBytes(8);
      return rawCall(hosted.endpoint, await signedHeaders(body, { expires }), body);
    };
    // Expired: beyond the skew behind the host's clock. Too long-lived: beyond lifetime + skew ahead of it.
    for (const expires of [T - SKEW - 1, T + MAX + SKEW + 1]) {
      const answer = await call(expires);
      expect([answer.status, answer.json?.code]).to.deep.equal([401, "AUTH_EXPIRED"]);
    }
    expect(hosted.runner.calls).to.have.length(0);
    for (const expires of [T - SKEW, T + MAX + SKEW]) expect((await call(expires)).status).to.equal(200);
    expect(hosted.server.served).to.equal(2);
  });

  it("the client signs one token per host, reuses it for every stage, renews it past half its life and after a 401", async () => {
    let now = Date.now();
    const signed: string[] = [];
    const counting = Object.assign(Object.create(caller) as Wallet, {
      signMessage: async (m: string | Uint8Array) => {
        signed.push(String(m));
        return caller.signMessage(m);
      },
    });
    const c = new ShardClient({ signer: counting, chainId: CHAIN_ID, shardRegistry: REGISTRY, now: () => now, sessionLifetimeMs: 600_000 });
    await Promise.all(Array.from({ length: 8 }, (_, i) => c.runStage(hosted.endpoint, hostKey.address, stage(randomBytes(8, i + 1)))));
    expect(signed).to.have.length(1);
    expect(signed[0]).to.contain(hostKey.address.toLowerCase());
    now += 300_000; // exactly half its life left: still used
    await c.runStage(hosted.endpoint, hostKey.address, stage(randomBytes(8)));
    expect(signed).to.have.length(1);
    now += 1; // less than half: a new one
    await c.runStage(hosted.endpoint, hostKey.address, stage(randomBytes(8)));
    expect(signed).to.have.length(2);
    // A host that refuses the token (here: its clock runs 20 min behind, so the token looks too long-lived) makes the
    // client sign a new one next time, although by the client's clock the old one still had most of its life.
    await hosted.server.stop();
    hosted = await host(hostKey, [caller.address], { now: () => Date.now() - 20 * 60_000 });
    const err = await refusal(c.runStage(hosted.endpoint, hostKey.address, stage(randomBytes(8))));
    expect(err.serverCode).to.equal("AUTH_EXPIRED");
    now = Date.now() - 20 * 60_000;
    await c.runStage(hosted.endpoint, hostKey.address, stage(randomBytes(8)));
    expect(signed).to.have.length(3);
    expect(hosted.server.served).to.equal(1);
    await c.close();
    // A lifetime hosts would refuse is refused at once.
    expect(() => new ShardClient({ signer: caller, chainId: CHAIN_ID, shardRegistry: REGISTRY, sessionLifetimeMs: 15 * 60_000 + 1 })).to.throw(RangeError, /sessionLifetimeMs/);
  });

  it("a peer the host refuses (peerRefusal) gets 403 with the host's sentence; onServed hears each delivered stage", async () => {
    await hosted.server.stop();
    const served: unknown[] = [];
    let refused = false;
    hosted = await host(hostKey, [caller.address], {
      peerRefusal: (peer) => (refused && peer === caller.address ? "did not pay for a stage" : undefined),
      onServed: (stage) => served.push(stage),
    });
    await client.runStage(hosted.endpoint, hostKey.address, stage(randomBytes(8), { shardIndex: 1 }));
    await until(() => served.length > 0); // heard once the answer is handed to the connection, maybe after the caller has it
    expect(served).to.deep.equal([{ peer: caller.address, requestId: REQUEST, versionId: VERSION, shardIndex: 1 }]);
    refused = true;
    const err = await refusal(client.runStage(hosted.endpoint, hostKey.address, stage(randomBytes(8))));
    expect([err.status, err.serverCode]).to.deep.equal([403, "PEER_NOT_AUTHORIZED"]);
    expect(err.message).to.contain("did not pay for a stage");
    expect(hosted.runner.calls).to.have.length(1);
    expect(hosted.authorized).to.have.length(1); // refused before the (chain-reading) authorization
    expect(served).to.have.length(1);
  });

  it("accepts an input ref whose keccak256 is the input hash (the body is then not hashed against it)", async () => {
    const ref = Uint8Array.from(Buffer.from("01551220" + "cd".repeat(32), "hex"));
    const input = randomBytes(32);
    const { output, stage: signed } = await client.runStage(hosted.endpoint, hostKey.address, stage(input, { inputRef: ref, inputHash: keccak256(ref) }));
    expect(Buffer.from(output).equals(Buffer.from(reversed(input)))).to.equal(true);
    expect(signed.inputHash).to.equal(keccak256(ref));
    expect(Buffer.from(hosted.runner.calls[0]!.input).equals(Buffer.from(input))).to.equal(true);
  });

  it("429 BUSY beyond the concurrency limit, while the runner is blocked", async () => {
    await hosted.server.stop();
    hosted = await host(hostKey, [caller.address], { maxConcurrent: 2 });
    const gate = new Gate();
    hosted.runner.gate = gate;
    const first = [1, 2].map((i) => client.runStage(hosted.endpoint, hostKey.address, stage(randomBytes(16, i))));
    await hosted.runner.waitForCalls(2);
    const err = await refusal(client.runStage(hosted.endpoint, hostKey.address, stage(randomBytes(16, 3))));
    expect([err.code, err.serverCode, err.retryable]).to.deep.equal(["HTTP_429", "BUSY", true]);
    expect(hosted.runner.calls).to.have.length(2);
    gate.open();
    await Promise.all(first);
    await client.runStage(hosted.endpoint, hostKey.address, stage(randomBytes(16, 4)));
    expect(hosted.server.served).to.equal(3);
  });

  it("attack: one caller floods the host; it holds at most its share of the slots, and another caller is still served", async () => {
    await hosted.server.stop();
    const other = Wallet.createRandom();
    hosted = await host(hostKey, [caller.address, other.address], { maxConcurrent: 4, maxConcurrentPerPeer: 2 });
    const otherClient = new ShardClient({ signer: other, chainId: CHAIN_ID, shardRegistry: REGISTRY });
    try {
      const gate = new Gate();
      hosted.runner.gate = gate;
      const flood = [1, 2].map((i) => client.runStage(hosted.endpoint, hostKey.address, stage(randomBytes(16, i))));
      await hosted.runner.waitForCalls(2);
      const err = await refusal(client.runStage(hosted.endpoint, hostKey.address, stage(randomBytes(16, 3))));
      expect([err.code, err.serverCode, err.retryable]).to.deep.equal(["HTTP_429", "BUSY", true]);
      expect(err.message).to.contain("this caller runs 2 stages here already");
      const served = otherClient.runStage(hosted.endpoint, hostKey.address, stage(randomBytes(16, 4)));
      await hosted.runner.waitForCalls(3);
      gate.open();
      await Promise.all([...flood, served]);
      // Its slots given back, the first caller is served again.
      await client.runStage(hosted.endpoint, hostKey.address, stage(randomBytes(16, 5)));
      expect(hosted.server.served).to.equal(4);
    } finally {
      await otherClient.close();
    }
  });

  it("500 RUNNER_FAILED with the runner's sentence; the next stage is served", async () => {
    hosted.runner.failWith = new Error("the shard ran out of memory");
    const err = await refusal(client.runStage(hosted.endpoint, hostKey.address, stage(randomBytes(16))));
    expect([err.code, err.serverCode, err.retryable]).to.deep.equal(["HTTP_500", "RUNNER_FAILED", true]);
    expect(err.message).to.contain("the shard ran out of memory");
    hosted.runner.failWith = undefined;
    const input = randomBytes(16, 5);
    const { output } = await client.runStage(hosted.endpoint, hostKey.address, stage(input));
    expect(Buffer.from(output).equals(Buffer.from(reversed(input)))).to.equal(true);
  });

  it("stop() answers the stage in flight, refuses new ones, then closes", async () => {
    const gate = new Gate();
    hosted.runner.gate = gate;
    const input = randomBytes(256);
    const inFlight = client.runStage(hosted.endpoint, hostKey.address, stage(input));
    await hosted.runner.waitForCalls(1);
    let stopped = false;
    const stopping = hosted.server.stop().then(() => (stopped = true));
    const during = await refusal(client.runStage(hosted.endpoint, hostKey.address, stage(randomBytes(8, 2))));
    // On the open session: 503 SHUTTING_DOWN (a Node that sends GOAWAY at close() would make it a connection failure).
    expect(during.retryable).to.equal(true);
    expect(["HTTP_503", "UNREACHABLE", "CONNECTION_LOST"]).to.include(during.code);
    if (during.code === "HTTP_503") expect(during.serverCode).to.equal("SHUTTING_DOWN");
    await new Promise((r) => setTimeout(r, 50));
    expect(stopped).to.equal(false);
    gate.open();
    const { output } = await inFlight;
    expect(Buffer.from(output).equals(Buffer.from(reversed(input)))).to.equal(true);
    await stopping;
    await hosted.server.stop(); // idempotent
    const after = await refusal(client.runStage(hosted.endpoint, hostKey.address, stage(randomBytes(8, 3)), { timeoutMs: 5_000 }));
    expect([after.code, after.retryable]).to.deep.equal(["UNREACHABLE", true]);
    expect(hosted.runner.calls).to.have.length(1);
  });

  it("HTTP/2 flow control: a connection keeps the protocol's 64 KiB windows until its caller has a stage admitted (all a stranger can make the host buffer unread per stream), then 4 MiB a stream and 32 MiB in all; at most 16 streams at once", async () => {
    const session = connect(hosted.endpoint);
    try {
      await new Promise<void>((r) => session.once("remoteSettings", () => r()));
      const synced = () => new Promise<void>((r) => session.ping(() => r()));
      await synced();
      expect([session.remoteSettings.initialWindowSize, session.state.remoteWindowSize, session.remoteSettings.maxConcurrentStreams]).to.deep.equal([65_535, 65_535, 16]);
      // A stranger's stage is refused: the windows stay as they were.
      const body = randomBytes(32);
      const refused = await streamOn(session, await stageRequestHeaders(await token({ signer: stranger }), { requestId: REQUEST, versionId: VERSION, shardIndex: 0, inputHash: keccak256(body), body }), body);
      expect(refused).to.equal(403);
      await synced();
      expect(session.remoteSettings.initialWindowSize).to.equal(65_535);
      expect(session.state.remoteWindowSize).to.be.at.most(65_535);
      // The caller's stage is admitted: the windows open.
      expect(await streamOn(session, await signedHeaders(body), body)).to.equal(200);
      await synced();
      expect(session.remoteSettings.initialWindowSize).to.equal(STREAM_WINDOW_BYTES);
      expect(session.state.remoteWindowSize).to.be.greaterThan(SESSION_WINDOW_BYTES - 65_536);
    } finally {
      session.destroy();
    }
  });
});

/** Sends one request on an open session and resolves with the answer's status once the stream closed. */
function streamOn(session: ClientHttp2Session, headers: Record<string, string>, body: Uint8Array): Promise<number> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers);
    let status = 0;
    stream.on("response", (h) => (status = Number(h[":status"])));
    stream.on("error", reject);
    stream.resume();
    stream.on("close", () => resolve(status));
    stream.end(body);
  });
}
