import { createServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { keccak256, Wallet, type BaseWallet } from "ethers";
import { signStage, stageSigner } from "../../../../worker/src/shards/StageSignature.js";
import { ShardClient, StageError, type StageCall } from "../../../../worker/src/shards/transport/ShardClient.js";
import { MAX_REFUSAL_BODY_BYTES } from "../../../../worker/src/shards/transport/Exchange.js";
import { SESSION_WINDOW_BYTES, STAGE_HEADERS, STREAM_WINDOW_BYTES } from "../../../../worker/src/shards/transport/StageProtocol.js";
import { CHAIN_ID, freePort, host, randomBytes, REGISTRY, REQUEST, reversed, TLS, VERSION, stageCall, stageFailure } from "./fixtures.js";

const hostKey = Wallet.createRandom();
const caller = Wallet.createRandom();
const impostor = Wallet.createRandom();

interface Rogue {
  endpoint: string;
  close(): Promise<void>;
}

/** A raw HTTP/2 server that reads the body, then answers as `answer` decides (or never, if it returns false). */
async function rogue(answer: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, body: Buffer) => Promise<boolean | void>): Promise<Rogue> {
  const server: Http2Server = createServer();
  const sessions = new Set<ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  server.on("stream", (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on("error", () => undefined);
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => void answer(stream, headers, Buffer.concat(chunks)));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const s of sessions) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Answers the reversed body, signing as `signer` the stage `claim` gives (the true one by default). */
function answering(opts: { signer?: BaseWallet; hostHeader?: string; shardIndex?: (s: number) => number; outputHashOf?: (o: Uint8Array) => string; omit?: string } = {}) {
  return async (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, body: Buffer) => {
    const output = reversed(body);
    const signer = opts.signer ?? hostKey;
    const shard = Number(headers[STAGE_HEADERS.shard]);
    const outputHash = opts.outputHashOf?.(output) ?? keccak256(output);
    const signed = await signStage(signer, CHAIN_ID, REGISTRY, {
      requestId: BigInt(headers[STAGE_HEADERS.requestId] as string),
      modelVersionId: BigInt(headers[STAGE_HEADERS.version] as string),
      shardIndex: opts.shardIndex?.(shard) ?? shard,
      inputHash: headers[STAGE_HEADERS.inputHash] as string,
      outputHash,
    });
    const answer: Record<string, string | number> = {
      ":status": 200,
      [STAGE_HEADERS.outputHash]: outputHash,
      [STAGE_HEADERS.host]: opts.hostHeader ?? signer.address,
      [STAGE_HEADERS.stageSignature]: signed.signature,
    };
    if (opts.omit !== undefined) delete answer[opts.omit];
    stream.respond(answer);
    stream.end(output);
  };
}

const stage = (input: Uint8Array, over: Partial<StageCall> = {}): StageCall => stageCall(1, input, over);

const failure = stageFailure;

describe("ShardClient: checks every answer", function () {
  this.timeout(30_000);
  let client: ShardClient;
  let server: Rogue | undefined;

  beforeEach(() => {
    client = new ShardClient({ signer: caller, chainId: CHAIN_ID, shardRegistry: REGISTRY });
  });
  afterEach(async () => {
    await client.close();
    await server?.close();
    server = undefined;
  });

  it("accepts an honest answer from a hand-made server (the control for the cases below)", async () => {
    server = await rogue(answering());
    const input = randomBytes(300);
    const { output, stage: signed } = await client.runStage(server.endpoint, hostKey.address, stage(input));
    expect(Buffer.from(output).equals(Buffer.from(reversed(input)))).to.equal(true);
    const claim = { requestId: REQUEST, modelVersionId: VERSION, shardIndex: 1, inputHash: keccak256(input), outputHash: keccak256(output) };
    expect(stageSigner(CHAIN_ID, REGISTRY, claim, signed.signature)).to.equal(hostKey.address);
  });

  const cases: [string, Parameters<typeof answering>[0], string][] = [
    ["an output hash that is not keccak256 of the output", { outputHashOf: () => keccak256("0x1234") }, "BAD_OUTPUT_HASH"],
    ["a stage signature by another key (claiming the expected host)", { signer: impostor, hostHeader: hostKey.address }, "BAD_SIGNATURE"],
    ["a stage signature for another shard index", { shardIndex: (s) => s + 1 }, "BAD_SIGNATURE"],
    ["a host header that is not the expected host", { signer: impostor }, "WRONG_HOST"],
    ["a 200 without a stage signature", { omit: STAGE_HEADERS.stageSignature }, "BAD_RESPONSE"],
  ];
  for (const [what, opts, code] of cases) {
    it(`rejects ${what}: ${code}, not retryable`, async () => {
      server = await rogue(answering(opts));
      const err = await failure(client.runStage(server.endpoint, hostKey.address, stage(randomBytes(100))));
      expect([err.code, err.retryable, err.endpoint]).to.deep.equal([code, false, server.endpoint]);
    });
  }

  it("UNREACHABLE (retryable) when nothing listens", async () => {
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    const err = await failure(client.runStage(endpoint, hostKey.address, stage(randomBytes(10)), { timeoutMs: 5_000 }));
    expect([err.code, err.retryable, err.endpoint]).to.deep.equal(["UNREACHABLE", true, endpoint]);
  });

  it("TIMEOUT (retryable) when the host never answers", async () => {
    server = await rogue(async () => false);
    const started = Date.now();
    const err = await failure(client.runStage(server.endpoint, hostKey.address, stage(randomBytes(10)), { timeoutMs: 300 }));
    expect([err.code, err.retryable]).to.deep.equal(["TIMEOUT", true]);
    expect(Date.now() - started).to.be.within(250, 3_000);
  });

  it("a refusal without the protocol's JSON body is still an HTTP_ error", async () => {
    server = await rogue(async (stream) => {
      stream.respond({ ":status": 502 });
      stream.end("bad gateway");
    });
    const err = await failure(client.runStage(server.endpoint, hostKey.address, stage(randomBytes(10))));
    expect([err.code, err.status, err.serverCode, err.retryable]).to.deep.equal(["HTTP_502", 502, undefined, true]);
  });

  it("a refusal is read up to 16 KiB: a host padding its 429 BUSY to 1 MiB gets a plain HTTP_429 (no BUSY: the router counts it a failure); the stream is cancelled there", async () => {
    const padded = JSON.stringify({ code: "BUSY", error: "x".repeat(1024 * 1024) });
    server = await rogue(async (stream) => {
      stream.respond({ ":status": 429, "content-type": "application/json" });
      stream.end(padded);
    });
    const err = await failure(client.runStage(server.endpoint, hostKey.address, stage(randomBytes(10))));
    expect([err.code, err.status, err.serverCode, err.retryable]).to.deep.equal(["HTTP_429", 429, undefined, true]);
    // The same sentence under the limit is the protocol's refusal.
    await server.close();
    server = await rogue(async (stream) => {
      stream.respond({ ":status": 429, "content-type": "application/json" });
      stream.end(JSON.stringify({ code: "BUSY", error: "x".repeat(MAX_REFUSAL_BODY_BYTES - 64) }));
    });
    const busy = await failure(client.runStage(server.endpoint, hostKey.address, stage(randomBytes(10))));
    expect([busy.code, busy.serverCode]).to.deep.equal(["HTTP_429", "BUSY"]);
  });

  it("reconnects when the host's session is gone (host restarted on the same port)", async () => {
    let hosted = await host(hostKey, [caller.address]);
    const port = Number(new URL(hosted.endpoint).port);
    await client.runStage(hosted.endpoint, hostKey.address, stage(randomBytes(10), { shardIndex: 0 }));
    await hosted.server.stop();
    hosted = await host(hostKey, [caller.address], { port });
    const input = randomBytes(10, 2);
    const { output } = await client.runStage(hosted.endpoint, hostKey.address, stage(input, { shardIndex: 0 }));
    expect(Buffer.from(output).equals(Buffer.from(reversed(input)))).to.equal(true);
    await hosted.server.stop();
  });

  it("runs stages over TLS (h2) against a host serving with a certificate", async () => {
    const hosted = await host(hostKey, [caller.address], { tls: TLS });
    expect(hosted.endpoint.startsWith("https://127.0.0.1:")).to.equal(true);
    const tlsClient = new ShardClient({ signer: caller, chainId: CHAIN_ID, shardRegistry: REGISTRY, ca: TLS.cert });
    try {
      const input = randomBytes(2048);
      const { output } = await tlsClient.runStage(hosted.endpoint, hostKey.address, stage(input, { shardIndex: 0 }));
      expect(Buffer.from(output).equals(Buffer.from(reversed(input)))).to.equal(true);
      // Without trusting the certificate, the connection is refused.
      const err = await failure(client.runStage(hosted.endpoint, hostKey.address, stage(input, { shardIndex: 0 })));
      expect([err.code, err.retryable]).to.deep.equal(["UNREACHABLE", true]);
    } finally {
      await tlsClient.close();
      await hosted.server.stop();
    }
  });

  it("rejects bad arguments and calls after close() without touching the network", async () => {
    const bad = await failure(client.runStage("ftp://x", hostKey.address, stage(randomBytes(1))));
    expect([bad.code, bad.retryable]).to.deep.equal(["INVALID_ARGUMENT", false]);
    await client.close();
    const closed = await failure(client.runStage("http://127.0.0.1:1", hostKey.address, stage(randomBytes(1))));
    expect([closed.code, closed.retryable]).to.deep.equal(["CLOSED", false]);
  });

  it("opens HTTP/2 flow control wide (4 MiB a stream, 32 MiB a connection), not the protocol's 64 KiB: a batch of answers is not held back while it is busy", async () => {
    const seen: ServerHttp2Session[] = [];
    const raw: Http2Server = createServer();
    raw.on("session", (s) => seen.push(s));
    raw.on("stream", (st) => {
      st.on("error", () => undefined);
      st.resume();
      st.on("end", () => {
        st.respond({ ":status": 503 });
        st.end();
      });
    });
    await new Promise<void>((r) => raw.listen(0, "127.0.0.1", () => r()));
    try {
      const endpoint = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
      await failure(client.runStage(endpoint, hostKey.address, stage(randomBytes(10))));
      const session = seen[0]!;
      await new Promise<void>((r) => session.ping(() => r())); // the client's WINDOW_UPDATE came before the ping's answer
      expect(session.remoteSettings.initialWindowSize).to.equal(STREAM_WINDOW_BYTES);
      expect(session.state.remoteWindowSize).to.equal(SESSION_WINDOW_BYTES);
      for (const s of seen) s.destroy();
    } finally {
      await new Promise<void>((r) => raw.close(() => r()));
    }
  });
});
