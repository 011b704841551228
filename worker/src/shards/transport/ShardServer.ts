import {
  constants as h2,
  createSecureServer,
  createServer,
  type Http2SecureServer,
  type Http2Session,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";
import type { AddressInfo } from "node:net";
import type { Signer } from "ethers";
import { silentLogger, type Logger } from "../../logger.js";
import { activationHash } from "../ActivationHash.js";
import { signStage } from "../StageSignature.js";
import { readBody } from "./BodyReader.js";
import { SessionTokens } from "./SessionTokens.js";
import { admitStage, admitStageBatch, Refusal, type StageRunner } from "./StageAdmission.js";
import { STAGES_PATH, stageBatchResponseHeaders, type StageBatchRequestHeaders } from "./StageBatchProtocol.js";
import {
  DEFAULT_CLOCK_SKEW_MS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_CONCURRENT_STAGES,
  MAX_SESSION_LIFETIME_MS,
  STAGE_HEADERS,
  STAGE_METHOD,
  STAGE_PATH,
  STAGE_REFUSALS,
  stageErrorBody,
  openFlowControl,
  type StageRefusalCode,
  type StageRequestHeaders,
} from "./StageProtocol.js";

export type { StageRunner } from "./StageAdmission.js";

/** One stage to run: its request, the input hash it signs, its input bytes. */
interface StageInput {
  readonly requestId: bigint;
  readonly inputHash: string;
  readonly input: Uint8Array;
}

/** A stage run and signed, or why its run failed (it fails alone). */
type StageOutcome = { ok: true; output: Uint8Array; outputHash: string; signature: string } | { ok: false; error: string };

export interface ShardServerOptions {
  /** The host's staked key: signs every stage it answers. */
  signer: Signer;
  chainId: bigint;
  shardRegistry: string;
  runner: StageRunner;
  /** Whether `peer` may have this host run a stage of `requestId` on `versionId` (e.g. it is the request's claimant). */
  authorize: (peer: string, requestId: bigint, versionId: bigint) => Promise<boolean>;
  /** Why this host refuses `peer` whatever the request (e.g. it did not pay for a stage: ServedStages), or undefined. */
  peerRefusal?: (peer: string) => string | undefined;
  /** Called for each stage whose answer was handed to the caller's connection (not for one the caller abandoned). */
  onServed?: (stage: { peer: string; requestId: bigint; versionId: bigint; shardIndex: number }) => void;
  /** Default 127.0.0.1. */
  hostname?: string;
  /** Default 0: any free port. */
  port?: number;
  /** Default 64 MiB. */
  maxBodyBytes?: number;
  /** Stages past authorization at once (receiving, running, answering); default 8. */
  maxConcurrent?: number;
  /** Of those, the most one caller may hold (default: all): other callers keep slots while one floods the host. */
  maxConcurrentPerPeer?: number;
  /** Default 60 s each way. */
  clockSkewMs?: number;
  /** The longest a caller's session token may live (from the host's now); default 15 min. */
  maxSessionLifetimeMs?: number;
  /** Serve h2 over TLS instead of plain HTTP/2 (h2c). Production should always use TLS. */
  tls?: { key: string | Buffer; cert: string | Buffer };
  logger?: Logger;
  /** The host's clock (unix ms); default Date.now. */
  now?: () => number;
}

/**
 * Serves the stages of the shards a host runs over HTTP/2 (StageProtocol.ts). Each request goes through, in order:
 * header validation → the caller's session token (recovered, and remembered once its peer is authorized) →
 * `peerRefusal` → `authorize` → `runner.serves` → the input ref's hash when one is given → a concurrency slot → the
 * body, streamed under the size limit → keccak256(body) = the input hash (without an input ref) → `runner.run`
 * → the EIP-712 stage signature → the answer. The runner is never called for a refused request. A batch of stages
 * of one shard (`/v1/stages`, StageBatchProtocol.ts) goes the same way, every request of it authorized, one slot per
 * stage, every input's hash checked before any runs; its stages are handed to the runner together (one prediction)
 * and a stage whose run fails fails alone.
 *
 * Plain h2c without `tls`: fine on loopback and in tests; production hosts pass `tls` (or sit behind a
 * TLS-terminating HTTP/2 proxy), since the activations and the session tokens are otherwise readable on the wire:
 * the worker's shard-host role refuses to bind beyond loopback without it (ShardTls.ts).
 */
export class ShardServer {
  readonly #o: Required<Omit<ShardServerOptions, "tls" | "logger" | "now" | "peerRefusal" | "onServed">> & Pick<ShardServerOptions, "tls" | "peerRefusal" | "onServed">;
  #tokens?: SessionTokens;
  readonly #log: Logger;
  readonly #now: () => number;
  #server?: Http2Server | Http2SecureServer;
  #host?: string;
  readonly #sessions = new Set<ServerHttp2Session>();
  /** Sessions whose flow-control windows were opened (their caller had a stage admitted). */
  readonly #widened = new WeakSet<Http2Session>();
  readonly #handlers = new Set<Promise<void>>();
  /** Aborts the requests still receiving their body when the server stops. */
  readonly #stopping = new AbortController();
  #stopped?: Promise<void>;
  #active = 0;
  /** Slots held now, by caller. */
  readonly #activeByPeer = new Map<string, number>();
  #served = 0;
  #abandoned = 0;
  readonly #refused: Partial<Record<StageRefusalCode, number>> = {};

  constructor(options: ShardServerOptions) {
    this.#o = {
      signer: options.signer,
      chainId: options.chainId,
      shardRegistry: options.shardRegistry,
      runner: options.runner,
      authorize: options.authorize,
      peerRefusal: options.peerRefusal,
      onServed: options.onServed,
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port ?? 0,
      maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      maxConcurrent: options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT_STAGES,
      maxConcurrentPerPeer: options.maxConcurrentPerPeer ?? options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT_STAGES,
      clockSkewMs: options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS,
      maxSessionLifetimeMs: options.maxSessionLifetimeMs ?? MAX_SESSION_LIFETIME_MS,
      tls: options.tls,
    };
    this.#log = options.logger ?? silentLogger;
    this.#now = options.now ?? Date.now;
  }

  /** Stages answered (200) and handed to the caller (not reset by it during the answer: those are `abandoned`). */
  get served(): number {
    return this.#served;
  }

  /** Refusals so far, by code. */
  get refused(): Readonly<Partial<Record<StageRefusalCode, number>>> {
    return { ...this.#refused };
  }

  /** Stages whose caller went away before the answer (reset its stream or lost its connection). */
  get abandoned(): number {
    return this.#abandoned;
  }

  /** Open HTTP/2 sessions (one per connected caller that keeps its session). */
  get connections(): number {
    return this.#sessions.size;
  }

  /** Stages holding a concurrency slot now. */
  get active(): number {
    return this.#active;
  }

  /** Listens; resolves to the endpoint URL (`http://host:port`, or `https://` with TLS). */
  async start(): Promise<string> {
    if (this.#server !== undefined || this.#stopped !== undefined) throw new Error("a ShardServer starts once");
    this.#host = await this.#o.signer.getAddress();
    this.#tokens = new SessionTokens({
      chainId: this.#o.chainId,
      shardRegistry: this.#o.shardRegistry,
      host: this.#host,
      clockSkewMs: this.#o.clockSkewMs,
      maxLifetimeMs: this.#o.maxSessionLifetimeMs,
    });
    const { tls } = this.#o;
    // Streams per connection: what one caller may have open (admitted or waiting for admission) on this host.
    const settings = { maxConcurrentStreams: Math.max(16, 2 * this.#o.maxConcurrent) };
    const server = tls === undefined ? createServer({ settings }) : createSecureServer({ key: tls.key, cert: tls.cert, allowHTTP1: false, settings });
    this.#server = server;
    server.on("session", (session: ServerHttp2Session) => {
      this.#sessions.add(session);
      session.on("close", () => this.#sessions.delete(session));
      session.on("error", (err) => this.#log.debug({ err }, "shard server: session error"));
    });
    server.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
      const handler = this.#handle(stream, headers)
        .catch((err: unknown) => this.#log.error({ err }, "shard server: stage handler failed"))
        .finally(() => this.#handlers.delete(handler));
      this.#handlers.add(handler);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#o.port, this.#o.hostname, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (err) => this.#log.error({ err }, "shard server: server error"));
    const { port } = server.address() as AddressInfo;
    const host = this.#o.hostname.includes(":") ? `[${this.#o.hostname}]` : this.#o.hostname;
    const endpoint = `${tls === undefined ? "http" : "https"}://${host}:${port}`;
    this.#log.info({ endpoint, host: this.#host }, "shard server listening");
    return endpoint;
  }

  /**
   * Stops: new stages are refused (503 SHUTTING_DOWN) and no new connection is accepted; stages still receiving
   * their body are refused too; stages already running finish and are answered; then every session is closed.
   * Idempotent.
   */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.#stopping.abort();
    const server = this.#server;
    if (server === undefined) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    while (this.#handlers.size > 0) await Promise.allSettled([...this.#handlers]);
    await Promise.all(
      [...this.#sessions].map(
        (session) =>
          new Promise<void>((resolve) => {
            if (session.destroyed) return resolve();
            const force = setTimeout(() => session.destroy(), 5_000);
            session.once("close", () => {
              clearTimeout(force);
              resolve();
            });
            session.close();
          }),
      ),
    );
    await closed;
    this.#log.info({ served: this.#served }, "shard server stopped");
  }

  async #handle(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): Promise<void> {
    stream.on("error", (err) => this.#log.debug({ err }, "shard server: stream error"));
    let held: { peer: string; n: number } | undefined;
    try {
      if (this.#stopping.signal.aborted) throw new Refusal("SHUTTING_DOWN", "the host is shutting down");
      const path = headers[":path"];
      if (path !== STAGE_PATH && path !== STAGES_PATH) throw new Refusal("NOT_FOUND", `no such path; stages are served at ${STAGE_PATH} and ${STAGES_PATH}`);
      if (headers[":method"] !== STAGE_METHOD) throw new Refusal("METHOD_NOT_ALLOWED", `stages are ${STAGE_METHOD}ed`);
      const ctx = {
        tokens: this.#tokens!,
        runner: this.#o.runner,
        authorize: this.#o.authorize,
        ...(this.#o.peerRefusal === undefined ? {} : { peerRefusal: this.#o.peerRefusal }),
        busy: (peer: string, n: number) => this.#noRoom(peer, n),
        maxBodyBytes: this.#o.maxBodyBytes,
        now: this.#now(),
        log: this.#log,
      };
      if (path === STAGE_PATH) {
        const req = await admitStage(headers, ctx);
        held = this.#takeSlots(stream, req.peer, 1);
        await this.#runOne(stream, req);
      } else {
        const req = await admitStageBatch(headers, ctx);
        held = this.#takeSlots(stream, req.peer, req.requestIds.length);
        await this.#runBatch(stream, req);
      }
    } catch (err) {
      const refusal = err instanceof Refusal ? err : new Refusal("INTERNAL", "the host failed to answer");
      if (!(err instanceof Refusal)) this.#log.error({ err }, "shard server: stage failed");
      this.#refuse(stream, refusal);
    } finally {
      if (held !== undefined) {
        this.#active -= held.n;
        const left = (this.#activeByPeer.get(held.peer) ?? held.n) - held.n;
        if (left <= 0) this.#activeByPeer.delete(held.peer);
        else this.#activeByPeer.set(held.peer, left);
      }
    }
  }

  /**
   * `n` concurrency slots for `peer` (a batch takes one per stage), or BUSY; then the connection's flow-control
   * windows open, once its caller is admitted (until then the protocol's 64 KiB a stream: all a stranger can make
   * this host buffer unread per stream). A stream reset meanwhile has no session.
   */
  #takeSlots(stream: ServerHttp2Stream, peer: string, n: number): { peer: string; n: number } {
    if (this.#stopping.signal.aborted) throw new Refusal("SHUTTING_DOWN", "the host is shutting down");
    const busy = this.#noRoom(peer, n);
    if (busy !== undefined) throw new Refusal("BUSY", busy);
    const held = this.#activeByPeer.get(peer) ?? 0;
    this.#active += n;
    this.#activeByPeer.set(peer, held + n);
    const session = stream.session;
    if (session !== undefined && !this.#widened.has(session)) {
      this.#widened.add(session);
      openFlowControl(session);
    }
    return { peer, n };
  }

  /** Why `n` more stages of `peer` do not fit now, or undefined. */
  #noRoom(peer: string, n: number): string | undefined {
    if (this.#active + n > this.#o.maxConcurrent) return `the host runs ${this.#active} stages already (at most ${this.#o.maxConcurrent}); try another host`;
    const held = this.#activeByPeer.get(peer) ?? 0;
    if (held + n > this.#o.maxConcurrentPerPeer) return `this caller runs ${held} stages here already (at most ${this.#o.maxConcurrentPerPeer}); try another host`;
    return undefined;
  }

  /** The body, or the refusal for why it did not come whole; undefined when the caller went away (abandoned). */
  async #body(stream: ServerHttp2Stream, maxBytes: number, stages: number): Promise<Uint8Array | undefined> {
    const body = await readBody(stream, maxBytes, this.#stopping.signal);
    if (body === "too-large") throw new Refusal("BODY_TOO_LARGE", `the body is over ${maxBytes} bytes`);
    if (body === "aborted") throw new Refusal("SHUTTING_DOWN", "the host is shutting down");
    if (body === "closed") return void (this.#abandoned += stages);
    return body;
  }

  async #runOne(stream: ServerHttp2Stream, req: StageRequestHeaders): Promise<void> {
    const body = await this.#body(stream, this.#o.maxBodyBytes, 1);
    if (body === undefined) return;
    // Without an input ref the body is what the input hash hashes; with one, the ref was checked at admission.
    if (req.inputRef === undefined && activationHash(body) !== req.inputHash) {
      throw new Refusal("INPUT_HASH_MISMATCH", "keccak256 of the body is not the input hash");
    }
    const [result] = await this.#runStages(req.versionId, req.shardIndex, [{ requestId: req.requestId, inputHash: req.inputHash, input: body }]);
    if (!result!.ok) throw new Refusal("RUNNER_FAILED", `shard ${req.shardIndex} failed: ${result!.error}`);
    if (stream.destroyed || stream.closed) return void this.#abandoned++;
    stream.respond({
      ":status": 200,
      "content-type": "application/octet-stream",
      "content-length": String(result!.output.byteLength),
      [STAGE_HEADERS.outputHash]: result!.outputHash,
      [STAGE_HEADERS.host]: this.#host!,
      [STAGE_HEADERS.stageSignature]: result!.signature,
    });
    if (await this.#send(stream, result!.output)) this.#delivered(req.peer, req.versionId, req.shardIndex, [req.requestId]);
    else this.#abandoned++;
  }

  async #runBatch(stream: ServerHttp2Stream, req: StageBatchRequestHeaders): Promise<void> {
    const total = req.inputLengths.reduce((sum, n) => sum + n, 0);
    const body = await this.#body(stream, total, req.requestIds.length);
    if (body === undefined) return;
    if (body.byteLength !== total) throw new Refusal("BAD_REQUEST", `the body is ${body.byteLength} bytes, not the ${total} its inputs' lengths add up to`);
    const stages: StageInput[] = [];
    let offset = 0;
    for (const [i, length] of req.inputLengths.entries()) {
      const input = body.subarray(offset, (offset += length));
      if (activationHash(input) !== req.inputHashes[i]) throw new Refusal("INPUT_HASH_MISMATCH", `keccak256 of input ${i} is not its input hash`);
      stages.push({ requestId: req.requestIds[i]!, inputHash: req.inputHashes[i]!, input });
    }
    const results = await this.#runStages(req.versionId, req.shardIndex, stages);
    for (const r of results) if (!r.ok) this.#count("RUNNER_FAILED");
    if (stream.destroyed || stream.closed) return void (this.#abandoned += results.filter((r) => r.ok).length);
    const outputs = results.flatMap((r) => (r.ok ? [r.output] : []));
    const output = Buffer.concat(outputs);
    stream.respond({
      ":status": 200,
      "content-type": "application/octet-stream",
      "content-length": String(output.byteLength),
      ...stageBatchResponseHeaders(this.#host!, results.map((r) => (r.ok ? { ok: true, outputHash: r.outputHash, outputLength: r.output.byteLength, signature: r.signature } : { ok: false }))),
    });
    const served = req.requestIds.filter((_, i) => results[i]!.ok);
    if (await this.#send(stream, output)) this.#delivered(req.peer, req.versionId, req.shardIndex, served);
    else this.#abandoned += served.length;
  }

  /**
   * Runs stages of one shard (given together, the runner batches them into one prediction) and signs each output;
   * a stage whose run failed fails alone (its error's message).
   */
  async #runStages(versionId: bigint, shardIndex: number, stages: readonly StageInput[]): Promise<StageOutcome[]> {
    const runs = await Promise.allSettled(
      stages.map(async (s) => {
        const output = await this.#o.runner.run(versionId, shardIndex, s.input);
        if (!(output instanceof Uint8Array)) throw new TypeError("the runner returned no bytes");
        return output;
      }),
    );
    return Promise.all(
      runs.map(async (run, i): Promise<StageOutcome> => {
        if (run.status === "rejected") {
          this.#log.warn({ err: run.reason, versionId: String(versionId), shard: shardIndex }, "shard server: runner failed");
          return { ok: false, error: (run.reason as Error)?.message ?? String(run.reason) };
        }
        const outputHash = activationHash(run.value);
        const { inputHash, requestId } = stages[i]!;
        const signed = await signStage(this.#o.signer, this.#o.chainId, this.#o.shardRegistry, { requestId, modelVersionId: versionId, shardIndex, inputHash, outputHash });
        return { ok: true, output: run.value, outputHash, signature: signed.signature };
      }),
    );
  }

  /** Writes the answer's body; true when it was handed over (not reset by the caller with an error code). */
  async #send(stream: ServerHttp2Stream, body: Uint8Array): Promise<boolean> {
    await new Promise<void>((resolve) => {
      stream.once("close", resolve);
      stream.end(body, () => resolve());
    });
    return stream.rstCode === undefined || stream.rstCode === h2.NGHTTP2_NO_ERROR;
  }

  #delivered(peer: string, versionId: bigint, shardIndex: number, requestIds: readonly bigint[]): void {
    for (const requestId of requestIds) {
      this.#served++;
      this.#o.onServed?.({ peer, requestId, versionId, shardIndex });
    }
  }

  /**
   * Answers a refusal. If the body is still coming, the stream is reset with NO_ERROR once the answer is out (RFC 9113
   * 8.1: the caller stops sending) and what arrived unread is discarded, so the stream can close.
   */
  #refuse(stream: ServerHttp2Stream, refusal: Refusal): void {
    this.#count(refusal.code);
    this.#log.debug({ code: refusal.code, reason: refusal.message }, "shard server: stage refused");
    if (stream.destroyed || stream.closed || stream.headersSent) return;
    stream.respond({ ":status": STAGE_REFUSALS[refusal.code], "content-type": "application/json" });
    stream.end(stageErrorBody(refusal.code, refusal.message), () => {
      if (!stream.closed && !stream.destroyed && !stream.readableEnded) {
        stream.close(h2.NGHTTP2_NO_ERROR);
        stream.resume();
      }
    });
  }

  #count(code: StageRefusalCode): void {
    this.#refused[code] = (this.#refused[code] ?? 0) + 1;
  }
}
