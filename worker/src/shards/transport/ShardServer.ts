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
import { admitStage, Refusal, type StageRunner } from "./StageAdmission.js";
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
} from "./StageProtocol.js";

export type { StageRunner } from "./StageAdmission.js";

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
 * → the EIP-712 stage signature → the answer. The runner is never called for a refused request.
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

  /** Stages answered with 200. */
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
    let slot = false;
    let peer = "";
    try {
      if (this.#stopping.signal.aborted) throw new Refusal("SHUTTING_DOWN", "the host is shutting down");
      if (headers[":path"] !== STAGE_PATH) throw new Refusal("NOT_FOUND", `no such path; stages are served at ${STAGE_PATH}`);
      if (headers[":method"] !== STAGE_METHOD) throw new Refusal("METHOD_NOT_ALLOWED", `stages are ${STAGE_METHOD}ed`);
      const req = await admitStage(headers, {
        tokens: this.#tokens!,
        runner: this.#o.runner,
        authorize: this.#o.authorize,
        ...(this.#o.peerRefusal === undefined ? {} : { peerRefusal: this.#o.peerRefusal }),
        maxBodyBytes: this.#o.maxBodyBytes,
        now: this.#now(),
        log: this.#log,
      });
      if (this.#stopping.signal.aborted) throw new Refusal("SHUTTING_DOWN", "the host is shutting down");
      if (this.#active >= this.#o.maxConcurrent) throw new Refusal("BUSY", `the host runs ${this.#active} stages already; try another host`);
      const held = this.#activeByPeer.get(req.peer) ?? 0;
      if (held >= this.#o.maxConcurrentPerPeer) throw new Refusal("BUSY", `this caller runs ${held} stages here already; try another host`);
      this.#active++;
      this.#activeByPeer.set(req.peer, held + 1);
      peer = req.peer;
      slot = true;
      // The connection's flow-control windows open once its caller is admitted (until then the protocol's 64 KiB a
      // stream: all a stranger can make this host buffer unread per stream). A stream reset meanwhile has no session.
      const session = stream.session;
      if (session !== undefined && !this.#widened.has(session)) {
        this.#widened.add(session);
        openFlowControl(session);
      }

      const body = await readBody(stream, this.#o.maxBodyBytes, this.#stopping.signal);
      if (body === "too-large") throw new Refusal("BODY_TOO_LARGE", `the body is over ${this.#o.maxBodyBytes} bytes`);
      if (body === "aborted") throw new Refusal("SHUTTING_DOWN", "the host is shutting down");
      if (body === "closed") return void this.#abandoned++;
      // Without an input ref the body is what the input hash hashes; with one, the ref was checked at admission.
      if (req.inputRef === undefined && activationHash(body) !== req.inputHash) {
        throw new Refusal("INPUT_HASH_MISMATCH", "keccak256 of the body is not the input hash");
      }

      let output: Uint8Array;
      try {
        output = await this.#o.runner.run(req.versionId, req.shardIndex, body);
        if (!(output instanceof Uint8Array)) throw new TypeError("the runner returned no bytes");
      } catch (err) {
        this.#log.warn({ err, versionId: String(req.versionId), shard: req.shardIndex }, "shard server: runner failed");
        throw new Refusal("RUNNER_FAILED", `shard ${req.shardIndex} failed: ${(err as Error)?.message ?? String(err)}`);
      }
      const outputHash = activationHash(output);
      const signed = await signStage(this.#o.signer, this.#o.chainId, this.#o.shardRegistry, {
        requestId: req.requestId,
        modelVersionId: req.versionId,
        shardIndex: req.shardIndex,
        inputHash: req.inputHash,
        outputHash,
      });
      if (stream.destroyed || stream.closed) return void this.#abandoned++;
      stream.respond({
        ":status": 200,
        "content-type": "application/octet-stream",
        "content-length": String(output.byteLength),
        [STAGE_HEADERS.outputHash]: outputHash,
        [STAGE_HEADERS.host]: this.#host!,
        [STAGE_HEADERS.stageSignature]: signed.signature,
      });
      await new Promise<void>((resolve) => {
        stream.once("close", resolve);
        stream.end(output, () => resolve());
      });
      this.#served++;
      // Handed over, unless the caller reset the stream (a reset with an error code: it gave up on this answer).
      const delivered = stream.rstCode === undefined || stream.rstCode === h2.NGHTTP2_NO_ERROR;
      if (delivered) this.#o.onServed?.({ peer: req.peer, requestId: req.requestId, versionId: req.versionId, shardIndex: req.shardIndex });
    } catch (err) {
      const refusal = err instanceof Refusal ? err : new Refusal("INTERNAL", "the host failed to answer");
      if (!(err instanceof Refusal)) this.#log.error({ err }, "shard server: stage failed");
      this.#refuse(stream, refusal);
    } finally {
      if (slot) {
        this.#active--;
        const left = (this.#activeByPeer.get(peer) ?? 1) - 1;
        if (left === 0) this.#activeByPeer.delete(peer);
        else this.#activeByPeer.set(peer, left);
      }
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
