import { readFileSync } from "node:fs";
import { connect, type IncomingHttpHeaders } from "node:http2";
import { createServer as createNetServer } from "node:net";
import { expect } from "chai";
import { keccak256, type Signer } from "ethers";
import { StageError, type StageCall } from "../../../../worker/src/shards/transport/ShardClient.js";
import { ShardServer, type ShardServerOptions, type StageRunner } from "../../../../worker/src/shards/transport/ShardServer.js";

export const CHAIN_ID = 31_337n;
export const REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
export const VERSION = 7n;
export const REQUEST = 42n;

/** The test certificate (self-signed, CN=localhost, SAN 127.0.0.1; test use only). */
export const TLS = {
  key: readFileSync(new URL("./fixtures/localhost.key", import.meta.url)),
  cert: readFileSync(new URL("./fixtures/localhost.crt", import.meta.url)),
};

/** A promise released from outside. */
export class Gate {
  readonly promise: Promise<void>;
  open!: () => void;
  constructor() {
    this.promise = new Promise<void>((resolve) => (this.open = resolve));
  }
}

/** Reversed bytes: a transform a test can predict. */
export function reversed(bytes: Uint8Array): Uint8Array {
  return Uint8Array.from(bytes).reverse();
}

/** A runner serving shards 0 and 1 of VERSION: answers the reversed input, after `gate` when one is set. */
export class TestRunner implements StageRunner {
  readonly calls: { versionId: bigint; shardIndex: number; input: Uint8Array }[] = [];
  gate?: Gate;
  failWith?: Error;
  /** Called after each call is recorded (tests wait on the runner being busy). */
  onCall?: () => void;

  serves(versionId: bigint, shardIndex: number): boolean {
    return versionId === VERSION && (shardIndex === 0 || shardIndex === 1);
  }

  async run(versionId: bigint, shardIndex: number, input: Uint8Array): Promise<Uint8Array> {
    this.calls.push({ versionId, shardIndex, input: Uint8Array.from(input) });
    this.onCall?.();
    if (this.gate !== undefined) await this.gate.promise;
    if (this.failWith !== undefined) throw this.failWith;
    return reversed(input);
  }

  /** Resolves once `n` calls have been made. */
  waitForCalls(n: number): Promise<void> {
    return until(() => this.calls.length >= n);
  }
}

/** Polls `done` every 5 ms. */
export async function until(done: () => boolean, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!done()) {
    if (Date.now() - start > timeoutMs) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface Hosted {
  server: ShardServer;
  endpoint: string;
  runner: TestRunner;
  authorized: { peer: string; requestId: bigint; versionId: bigint }[];
}

/** A ShardServer for `host` that authorizes only `allowed` and serves a TestRunner. */
export async function host(signer: Signer, allowed: string[], overrides: Partial<ShardServerOptions> = {}): Promise<Hosted> {
  const runner = new TestRunner();
  const authorized: Hosted["authorized"] = [];
  const server = new ShardServer({
    signer,
    chainId: CHAIN_ID,
    shardRegistry: REGISTRY,
    runner,
    authorize: async (peer, requestId, versionId) => {
      authorized.push({ peer, requestId, versionId });
      return allowed.includes(peer);
    },
    ...overrides,
  });
  const endpoint = await server.start();
  return { server, endpoint, runner, authorized };
}

/** A port nothing listens on. */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

export interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  json: { error?: string; code?: string } | undefined;
  /** Body bytes the caller had written when the answer's headers came. */
  writtenAtAnswer: number;
}

/**
 * A hand-made request on a fresh session: `body` is written in 16 KiB chunks under backpressure and the request
 * ends after it unless `keepOpen` (then the body never ends).
 */
export function rawCall(endpoint: string, headers: Record<string, string>, body: Uint8Array, keepOpen = false): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const session = connect(endpoint);
    session.on("error", reject);
    const stream = session.request(headers, { endStream: false });
    let written = 0;
    let writtenAtAnswer = -1;
    let status = 0;
    let answerHeaders: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      answerHeaders = h;
      writtenAtAnswer = written;
    });
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("error", () => undefined);
    stream.on("close", () => {
      session.close();
      const text = Buffer.concat(chunks).toString("utf8");
      let json: RawAnswer["json"];
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      if (status === 0) reject(new Error(`no answer (rst ${stream.rstCode})`));
      else resolve({ status, headers: answerHeaders, json, writtenAtAnswer });
    });
    const pump = () => {
      while (written < body.byteLength && !stream.destroyed && writtenAtAnswer < 0) {
        const end = Math.min(written + 16_384, body.byteLength);
        const more = stream.write(body.subarray(written, end));
        written = end;
        if (!more) return void stream.once("drain", pump);
      }
      if (!keepOpen && !stream.destroyed && written === body.byteLength) stream.end();
    };
    pump();
  });
}

export function randomBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A stage call of the test request on `input` (shard `shardIndex`), its input hash the input's keccak256. */
export function stageCall(shardIndex: number, input: Uint8Array, over: Partial<StageCall> = {}): StageCall {
  return { requestId: REQUEST, versionId: VERSION, shardIndex, inputHash: keccak256(input), input, ...over };
}

/** The StageError a call fails with. */
export async function stageFailure(call: Promise<unknown>): Promise<StageError> {
  try {
    await call;
  } catch (err) {
    expect(err).to.be.instanceOf(StageError);
    return err as StageError;
  }
  throw new Error("the call succeeded");
}
