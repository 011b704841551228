import { connect, constants as h2, createServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { keccak256, Wallet } from "ethers";
import { signStage, stageSigner } from "../../../../worker/src/shards/StageSignature.js";
import { ShardClient, StageError, type StageCall } from "../../../../worker/src/shards/transport/ShardClient.js";
import {
  BATCH_HEADERS,
  MAX_STAGES_PER_CALL,
  parseStageBatchRequestHeaders,
  parseStageBatchResponseHeaders,
  stageBatchRequestHeaders,
  stageBatchResponseHeaders,
  STAGES_PATH,
} from "../../../../worker/src/shards/transport/StageBatchProtocol.js";
import { signSessionToken, STAGE_HEADERS, type SessionToken } from "../../../../worker/src/shards/transport/StageProtocol.js";
import { CHAIN_ID, host, randomBytes, rawCall, REGISTRY, REQUEST, reversed, TestRunner, until, VERSION, type Hosted } from "./fixtures.js";

const hostKey = Wallet.createRandom();
const caller = Wallet.createRandom();

/** Stage `shardIndex` of requests REQUEST + i, on inputs of `bytes` bytes (seeded by i). */
const batch = (n: number, bytes = 200, shardIndex = 1): StageCall[] =>
  Array.from({ length: n }, (_, i) => {
    const input = randomBytes(bytes, i + 1);
    return { requestId: REQUEST + BigInt(i), versionId: VERSION, shardIndex, inputHash: keccak256(input), input };
  });

/** The signer of `stage`'s answer over exactly that stage and output. */
const signerOf = (stage: StageCall, output: Uint8Array, signature: string) =>
  stageSigner(CHAIN_ID, REGISTRY, { requestId: stage.requestId, modelVersionId: stage.versionId, shardIndex: stage.shardIndex, inputHash: stage.inputHash, outputHash: keccak256(output) }, signature);

async function rejection(call: Promise<unknown>): Promise<StageError> {
  const err = await call.then(() => undefined, (e: unknown) => e);
  expect(err).to.be.instanceOf(StageError);
  return err as StageError;
}

describe("Batched stages (POST /v1/stages): several requests' stages of one shard in one exchange", function () {
  this.timeout(30_000);

  describe("the wire format", () => {
    let token: SessionToken;
    before(async () => {
      token = await signSessionToken(caller, { chainId: CHAIN_ID, shardRegistry: REGISTRY, host: hostKey.address, expires: 1_700_000_000_000 });
    });

    it("a batch's headers parse back to what was sent: lists in order, content-length the inputs' sum", () => {
      const stages = batch(3, 10);
      const headers = stageBatchRequestHeaders(token, { versionId: VERSION, shardIndex: 1, stages });
      expect([headers[":path"], headers["content-length"], headers[BATCH_HEADERS.count], headers[BATCH_HEADERS.inputLengths]]).to.deep.equal([STAGES_PATH, "30", "3", "10,10,10"]);
      const parsed = parseStageBatchRequestHeaders(headers);
      if (!parsed.ok) throw new Error(parsed.error);
      expect(parsed.value).to.deep.equal({
        versionId: VERSION,
        shardIndex: 1,
        requestIds: stages.map((s) => s.requestId),
        inputHashes: stages.map((s) => s.inputHash),
        inputLengths: [10, 10, 10],
        peer: caller.address,
        expires: 1_700_000_000_000,
        auth: token.auth,
      });
    });

    const malformed: [string, (h: Record<string, string>) => void, RegExp][] = [
      ["no stages", (h) => (h[BATCH_HEADERS.count] = "0"), /x-tessera-stages is not a count of stages from 1 to 16/],
      ["one more stage than a call carries", (h) => (h[BATCH_HEADERS.count] = String(MAX_STAGES_PER_CALL + 1)), /from 1 to 16/],
      ["a list shorter than the count", (h) => (h[BATCH_HEADERS.inputLengths] = "10,10"), /x-tessera-input-lengths lists 2 items, not 3/],
      ["a request named twice", (h) => (h[BATCH_HEADERS.requestIds] = `${REQUEST},${REQUEST},${REQUEST + 1n}`), /names a request twice/],
      ["an input hash that is not 32 bytes", (h) => (h[BATCH_HEADERS.inputHashes] = h[BATCH_HEADERS.inputHashes]!.replace(/,0x[0-9a-f]{64}$/, ",0x12")), /x-tessera-input-hashes item 2 is malformed/],
      ["a length with a sign", (h) => (h[BATCH_HEADERS.inputLengths] = "10,-10,10"), /x-tessera-input-lengths item 1 is malformed/],
      ["a length beyond 10 digits", (h) => (h[BATCH_HEADERS.inputLengths] = "10,10,12345678901"), /item 2 is malformed/],
      ["no session token", (h) => delete h[STAGE_HEADERS.auth], /x-tessera-auth is missing/],
    ];
    for (const [what, mangle, why] of malformed) {
      it(`refuses a batch with ${what}`, () => {
        const headers = stageBatchRequestHeaders(token, { versionId: VERSION, shardIndex: 1, stages: batch(3, 10) });
        mangle(headers);
        const parsed = parseStageBatchRequestHeaders(headers);
        expect(parsed.ok).to.equal(false);
        if (!parsed.ok) expect(parsed.error).to.match(why);
      });
    }

    it("an answer's stage is failed in all three lists or in none; its lists have one item per stage", () => {
      const answer = stageBatchResponseHeaders(hostKey.address, [{ ok: true, outputHash: keccak256("0x01"), outputLength: 1, signature: "0x" + "11".repeat(65) }, { ok: false }]);
      const parsed = parseStageBatchResponseHeaders(answer, 2);
      if (!parsed.ok) throw new Error(parsed.error);
      expect(parsed.value.stages.map((s) => s.ok)).to.deep.equal([true, false]);
      expect(parseStageBatchResponseHeaders(answer, 3)).to.deep.include({ ok: false });
      const halfFailed = { ...answer, [BATCH_HEADERS.outputLengths]: "1,7" };
      expect(parseStageBatchResponseHeaders(halfFailed, 2)).to.deep.equal({ ok: false, error: "stage 1 is failed in some lists of the answer and not in others" });
    });
  });

  describe("between a ShardClient and a ShardServer", () => {
    let client: ShardClient;
    let hosted: Hosted | undefined;
    const served: bigint[] = [];

    beforeEach(() => {
      client = new ShardClient({ signer: caller, chainId: CHAIN_ID, shardRegistry: REGISTRY });
      served.length = 0;
    });
    afterEach(async () => {
      await client.close();
      await hosted?.server.stop();
      hosted = undefined;
    });

    it("5 stages in one exchange: each output is its own input's (reversed), each signed by the host over its own request; one authorization per request; the runner given all 5 at once", async () => {
      hosted = await host(hostKey, [caller.address], { onServed: (s) => served.push(s.requestId) });
      let concurrent = 0;
      let most = 0;
      const runner = hosted.runner;
      runner.onCall = () => {
        most = Math.max(most, ++concurrent);
        setImmediate(() => concurrent--);
      };
      const stages = batch(5);
      const outcomes = await client.runStages(hosted.endpoint, hostKey.address, stages);
      outcomes.forEach((o, i) => {
        if (!o.ok) throw o.error;
        expect(Buffer.from(o.output).equals(Buffer.from(reversed(stages[i]!.input)))).to.equal(true);
        expect(o.stage).to.include({ host: hostKey.address, inputHash: stages[i]!.inputHash, outputHash: keccak256(o.output) });
        expect(signerOf(stages[i]!, o.output, o.stage.signature)).to.equal(hostKey.address);
      });
      expect(hosted.authorized.map((a) => a.requestId)).to.have.members(stages.map((s) => s.requestId));
      expect(runner.calls.map((c) => Buffer.from(c.input).toString("hex"))).to.deep.equal(stages.map((s) => Buffer.from(s.input).toString("hex")));
      expect(most).to.equal(5); // handed to the runner side by side (a batching runner makes them one prediction)
      expect([hosted.server.served, hosted.server.active, served]).to.deep.equal([5, 0, stages.map((s) => s.requestId)]);
    });

    it("a stage whose input the runner cannot take fails alone (HTTP_500 RUNNER_FAILED, retryable); the others are answered and signed", async () => {
      const runner = new (class extends TestRunner {
        override async run(versionId: bigint, shardIndex: number, input: Uint8Array) {
          if (input[0] === 0xff) throw new Error("not an activation");
          return super.run(versionId, shardIndex, input);
        }
      })();
      hosted = await host(hostKey, [caller.address], { runner, onServed: (s) => served.push(s.requestId) });
      const stages = batch(4);
      const poisoned = Uint8Array.from(stages[2]!.input);
      poisoned[0] = 0xff;
      stages[2] = { ...stages[2]!, input: poisoned, inputHash: keccak256(poisoned) };
      const outcomes = await client.runStages(hosted.endpoint, hostKey.address, stages);
      expect(outcomes.map((o) => o.ok)).to.deep.equal([true, true, false, true]);
      const failed = outcomes[2]!;
      if (failed.ok) throw new Error("unreachable");
      expect([failed.error.code, failed.error.serverCode, failed.error.retryable]).to.deep.equal(["HTTP_500", "RUNNER_FAILED", true]);
      for (const i of [0, 1, 3]) {
        const o = outcomes[i]!;
        if (!o.ok) throw o.error;
        expect(Buffer.from(o.output).equals(Buffer.from(reversed(stages[i]!.input)))).to.equal(true);
        expect(signerOf(stages[i]!, o.output, o.stage.signature)).to.equal(hostKey.address);
      }
      expect([hosted.server.served, hosted.server.refused.RUNNER_FAILED, served]).to.deep.equal([3, 1, [0, 1, 3].map((i) => stages[i]!.requestId)]);
    });

    it("one input whose hash is not its input hash: the whole batch is refused (400 INPUT_HASH_MISMATCH) and nothing runs", async () => {
      hosted = await host(hostKey, [caller.address]);
      const stages = batch(3);
      stages[1] = { ...stages[1]!, inputHash: keccak256(stages[0]!.input) };
      const err = await rejection(client.runStages(hosted.endpoint, hostKey.address, stages));
      expect([err.code, err.serverCode, err.retryable]).to.deep.equal(["HTTP_400", "INPUT_HASH_MISMATCH", false]);
      expect(err.message).to.match(/input 1 is not its input hash/);
      expect([hosted.runner.calls.length, hosted.server.served, hosted.server.active]).to.deep.equal([0, 0, 0]);
    });

    it("one request of the batch the caller may not run: the whole batch is refused (403) and nothing runs", async () => {
      hosted = await host(hostKey, [caller.address], { authorize: async (_peer, requestId) => requestId !== REQUEST + 2n });
      const err = await rejection(client.runStages(hosted.endpoint, hostKey.address, batch(4)));
      expect([err.code, err.serverCode]).to.deep.equal(["HTTP_403", "PEER_NOT_AUTHORIZED"]);
      expect(err.message).to.match(new RegExp(`request ${REQUEST + 2n}`));
      expect(hosted.runner.calls).to.have.length(0);
    });

    it("a batch takes a slot per stage: 5 stages on a host admitting 4 per caller are refused whole (429 BUSY, before the body and before any chain read); 4 are served", async () => {
      hosted = await host(hostKey, [caller.address], { maxConcurrent: 8, maxConcurrentPerPeer: 4 });
      const err = await rejection(client.runStages(hosted.endpoint, hostKey.address, batch(5)));
      expect([err.code, err.serverCode, err.retryable]).to.deep.equal(["HTTP_429", "BUSY", true]);
      expect(err.elapsedMs).to.be.a("number").and.within(0, 1_000);
      expect([hosted.runner.calls.length, hosted.authorized.length]).to.deep.equal([0, 0]);
      const outcomes = await client.runStages(hosted.endpoint, hostKey.address, batch(4));
      expect(outcomes.map((o) => o.ok)).to.deep.equal([true, true, true, true]);
      expect([hosted.server.served, hosted.server.refused.BUSY, hosted.server.active]).to.deep.equal([4, 1, 0]);
    });

    it("a caller that resets its batch while the body is coming: every stage of it counted abandoned, its slots given back, nothing run", async () => {
      hosted = await host(hostKey, [caller.address]);
      const token = await signSessionToken(caller, { chainId: CHAIN_ID, shardRegistry: REGISTRY, host: hostKey.address, expires: Date.now() + 60_000 });
      const stages = batch(3, 1_000);
      const session = connect(hosted.endpoint);
      try {
        const stream = session.request(stageBatchRequestHeaders(token, { versionId: VERSION, shardIndex: 1, stages }), { endStream: false });
        stream.on("error", () => undefined);
        stream.write(stages[0]!.input);
        await until(() => hosted!.server.active === 3);
        stream.close(h2.NGHTTP2_CANCEL);
        await until(() => hosted!.server.abandoned === 3);
        expect([hosted.server.active, hosted.server.served, hosted.runner.calls.length]).to.deep.equal([0, 0, 0]);
      } finally {
        session.destroy();
      }
    });

    it("the client refuses what a batch cannot carry before sending anything: two shards, an input ref, a request twice, 17 stages", async () => {
      hosted = await host(hostKey, [caller.address]);
      const stages = batch(2);
      const cases: [StageCall[], RegExp][] = [
        [[stages[0]!, { ...stages[1]!, shardIndex: 0 }], /one shard of one version/],
        [[stages[0]!, { ...stages[1]!, inputRef: Uint8Array.from([1]) }], /input ref is sent alone/],
        [[stages[0]!, { ...stages[1]!, requestId: stages[0]!.requestId }], /one stage per request/],
        [batch(17, 4), /1 to 16 stages, not 17/],
      ];
      for (const [call, why] of cases) {
        const err = await rejection(client.runStages(hosted.endpoint, hostKey.address, call));
        expect([err.code, err.retryable]).to.deep.equal(["INVALID_ARGUMENT", false]);
        expect(err.message).to.match(why);
      }
      expect(hosted.authorized).to.have.length(0);
    });

    it("raw batches whose body does not match their lengths: shorter is 400, longer is 413, a content-length not their sum 400; nothing runs, no slot kept", async () => {
      hosted = await host(hostKey, [caller.address]);
      const token = await signSessionToken(caller, { chainId: CHAIN_ID, shardRegistry: REGISTRY, host: hostKey.address, expires: Date.now() + 60_000 });
      const stages = batch(2, 10);
      const headers = stageBatchRequestHeaders(token, { versionId: VERSION, shardIndex: 1, stages });
      delete headers["content-length"];
      const short = await rawCall(hosted.endpoint, headers, Buffer.concat([stages[0]!.input, stages[1]!.input.subarray(0, 5)]));
      expect([short.status, short.json?.code, short.json?.error]).to.deep.equal([400, "BAD_REQUEST", "the body is 15 bytes, not the 20 its inputs' lengths add up to"]);
      const long = await rawCall(hosted.endpoint, headers, Buffer.concat([stages[0]!.input, stages[1]!.input, Uint8Array.from([1])]));
      expect([long.status, long.json?.code]).to.deep.equal([413, "BODY_TOO_LARGE"]);
      // A content-length that is not the lengths' sum is refused before the body (HTTP/2 itself resets a stream whose
      // body is not its content-length, so it is declared as such here, with a body of that length).
      const lying = await rawCall(hosted.endpoint, { ...headers, "content-length": "21" }, Buffer.concat([stages[0]!.input, stages[1]!.input, Uint8Array.from([1])]));
      expect([lying.status, lying.json?.error]).to.deep.equal([400, "content-length is not the sum of x-tessera-input-lengths (20)"]);
      expect([hosted.runner.calls.length, hosted.server.active]).to.deep.equal([0, 0]);
    });
  });

  describe("a host that answers a batch wrongly", () => {
    let server: Http2Server | undefined;
    let client: ShardClient;
    beforeEach(() => {
      client = new ShardClient({ signer: caller, chainId: CHAIN_ID, shardRegistry: REGISTRY });
    });
    afterEach(async () => {
      await client.close();
      await new Promise<void>((r) => (server === undefined ? r() : server.close(() => r())));
      server = undefined;
    });

    /** A raw host answering a batch with the reversed inputs, signed, after `tamper` changed the answer. */
    async function rogue(tamper: (outputs: Uint8Array[], answers: { outputHash: string; outputLength: number; signature: string }[]) => Uint8Array[]): Promise<string> {
      server = createServer();
      server.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
        const chunks: Buffer[] = [];
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", async () => {
          const req = parseStageBatchRequestHeaders(headers);
          if (!req.ok) throw new Error(req.error);
          const body = Buffer.concat(chunks);
          let offset = 0;
          const outputs = req.value.inputLengths.map((n) => reversed(body.subarray(offset, (offset += n))));
          const answers = await Promise.all(
            outputs.map(async (output, i) => {
              const signed = await signStage(hostKey, CHAIN_ID, REGISTRY, { requestId: req.value.requestIds[i]!, modelVersionId: VERSION, shardIndex: 1, inputHash: req.value.inputHashes[i]!, outputHash: keccak256(output) });
              return { outputHash: keccak256(output), outputLength: output.byteLength, signature: signed.signature };
            }),
          );
          const sent = tamper(outputs, answers);
          stream.respond({ ":status": 200, ...stageBatchResponseHeaders(hostKey.address, answers.map((a) => ({ ok: true as const, ...a }))) });
          stream.end(Buffer.concat(sent));
        });
      });
      await new Promise<void>((r) => server!.listen(0, "127.0.0.1", () => r()));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    }

    it("outputs swapped between two stages (lengths equal, lists unchanged): both fail BAD_OUTPUT_HASH (not retryable), the third is accepted", async () => {
      const endpoint = await rogue((outputs) => [outputs[1]!, outputs[0]!, outputs[2]!]);
      const stages = batch(3);
      const outcomes = await client.runStages(endpoint, hostKey.address, stages);
      expect(outcomes.map((o) => (o.ok ? "ok" : `${o.error.code}:${o.error.retryable}`))).to.deep.equal(["BAD_OUTPUT_HASH:false", "BAD_OUTPUT_HASH:false", "ok"]);
    });

    it("a signature moved to another stage of the batch: that stage fails BAD_SIGNATURE, the other is accepted", async () => {
      const endpoint = await rogue((outputs, answers) => {
        answers[0] = { ...answers[0]!, signature: answers[1]!.signature };
        return outputs;
      });
      const outcomes = await client.runStages(endpoint, hostKey.address, batch(2));
      expect(outcomes.map((o) => (o.ok ? "ok" : o.error.code))).to.deep.equal(["BAD_SIGNATURE", "ok"]);
    });

    it("a body longer than the outputs' lengths add up to fails the whole call (BAD_RESPONSE, not retryable)", async () => {
      const padded = await rogue((outputs) => [...outputs, Uint8Array.from([0])]);
      const err = await rejection(client.runStages(padded, hostKey.address, batch(2)));
      expect([err.code, err.retryable]).to.deep.equal(["BAD_RESPONSE", false]);
      expect(err.message).to.match(/the body is 401 bytes, not the 400/);
    });
  });
});
