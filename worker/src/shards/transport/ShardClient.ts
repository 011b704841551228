import { getAddress, isAddress, type Signer } from "ethers";
import { silentLogger, type Logger } from "../../logger.js";
import { activationHash } from "../ActivationHash.js";
import { stageSigner, type SignedStage } from "../StageSignature.js";
import { exchange, type Exchanged } from "./Exchange.js";
import { SessionPool } from "./SessionPool.js";
import { StageError } from "./StageError.js";
import {
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_SESSION_LIFETIME_MS,
  MAX_SESSION_LIFETIME_MS,
  parseStageResponseHeaders,
  signSessionToken,
  stageErrorBodySchema,
  stageRequestHeaders,
  type SessionToken,
} from "./StageProtocol.js";

export { StageError, type StageErrorCode } from "./StageError.js";

export interface ShardClientOptions {
  /** The caller's staked key: signs a session token per host (the hosts' `authorize` checks its address). */
  signer: Signer;
  chainId: bigint;
  shardRegistry: string;
  logger?: Logger;
  /** Largest output accepted from a host; default 64 MiB. */
  maxOutputBytes?: number;
  /** A session idle this long is closed; default 60 s. */
  idleTimeoutMs?: number;
  /** CA certificates to trust for `https://` endpoints (self-signed hosts, tests); default the system's. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** The caller's clock (unix ms) for the session tokens' expiry; default Date.now. */
  now?: () => number;
  /** How long a session token lives; a new one is signed when less than half is left. Default 10 min. */
  sessionLifetimeMs?: number;
}

/** One stage to run on a host. */
export interface StageCall {
  requestId: bigint;
  versionId: bigint;
  shardIndex: number;
  /** The hash the stage signs as its input: keccak256(input), or keccak256(inputRef) when an input ref is given. */
  inputHash: string;
  /** Stage 0 of a request whose input came by CID: the CID's bytes. */
  inputRef?: Uint8Array;
  input: Uint8Array;
}

/** A stage's output, checked: `stage` is the host's signature, ready for `InferenceMarket.fulfillSharded`. */
export interface StageResult {
  output: Uint8Array;
  stage: SignedStage;
}

/**
 * Runs pipeline stages on shard hosts over HTTP/2 (StageProtocol.ts). One session per endpoint, reused and
 * multiplexed by every concurrent call, reopened when it closed or failed. Every answer is checked before it is
 * returned: its output hash is keccak256 of its body, and its stage signature recovers to the expected host over
 * exactly the stage asked for (request, version, shard, input hash) and that output hash. Every failure is a
 * StageError whose `retryable` tells the caller whether to try again (this host or another).
 */
export class ShardClient {
  readonly #o: ShardClientOptions;
  readonly #log: Logger;
  readonly #pool: SessionPool;
  readonly #maxOutput: number;
  /** The session token in use per host address (a pending signature is shared by concurrent calls). */
  readonly #tokens = new Map<string, Promise<SessionToken>>();
  #closed = false;

  constructor(options: ShardClientOptions) {
    this.#o = options;
    this.#log = options.logger ?? silentLogger;
    this.#maxOutput = options.maxOutputBytes ?? DEFAULT_MAX_BODY_BYTES;
    const lifetime = options.sessionLifetimeMs ?? DEFAULT_SESSION_LIFETIME_MS;
    if (!(lifetime > 0 && lifetime <= MAX_SESSION_LIFETIME_MS)) {
      throw new RangeError(`sessionLifetimeMs must be within (0, ${MAX_SESSION_LIFETIME_MS}] ms: hosts refuse longer-lived tokens`);
    }
    this.#pool = new SessionPool({ idleTimeoutMs: options.idleTimeoutMs ?? 60_000, ca: options.ca, logger: this.#log });
  }

  /** Runs one stage on the host at `endpoint`, which must be `expectedHost` (the address the registry lists for it). */
  async runStage(endpoint: string, expectedHost: string, stage: StageCall, options: { timeoutMs?: number } = {}): Promise<StageResult> {
    const fail = (code: "INVALID_ARGUMENT" | "CLOSED", message: string) => new StageError(code, message, { endpoint, retryable: false });
    if (this.#closed) throw fail("CLOSED", "the shard client is closed");
    let origin: string;
    try {
      const url = new URL(endpoint);
      if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(url.protocol);
      origin = url.origin;
    } catch {
      throw fail("INVALID_ARGUMENT", `${endpoint} is not an http(s) endpoint`);
    }
    if (!isAddress(expectedHost)) throw fail("INVALID_ARGUMENT", `${expectedHost} is not an address`);
    const host = getAddress(expectedHost);
    if (!/^0x[0-9a-fA-F]{64}$/.test(stage.inputHash)) throw fail("INVALID_ARGUMENT", "the input hash is not 32 hex bytes");
    const inputHash = stage.inputHash.toLowerCase();
    const timeoutMs = options.timeoutMs ?? 30_000;

    const token = await this.#token(host);
    const headers = stageRequestHeaders(token, {
      requestId: stage.requestId,
      versionId: stage.versionId,
      shardIndex: stage.shardIndex,
      inputHash,
      ...(stage.inputRef === undefined ? {} : { inputRef: stage.inputRef }),
      body: stage.input,
    });
    const deadline = AbortSignal.timeout(timeoutMs);
    let answer: Exchanged;
    try {
      const lease = await this.#pool.acquire(origin, deadline);
      try {
        answer = await exchange(lease.session, headers, stage.input, { maxResponseBytes: this.#maxOutput, signal: deadline });
      } finally {
        lease.release();
      }
    } catch (err) {
      throw this.#transportError(endpoint, timeoutMs, err);
    }

    if (answer.status !== 200) {
      let sentence: string | undefined;
      let serverCode: string | undefined;
      try {
        const body = stageErrorBodySchema.parse(JSON.parse(Buffer.from(answer.body).toString("utf8")));
        sentence = body.error;
        serverCode = body.code;
      } catch {
        // not the protocol's error body: report the status alone
      }
      // The host refused the token (expired on its clock, or not recognised): the next call signs a new one.
      // Only the token this call used: a renewal stored meanwhile is kept.
      const stored = this.#tokens.get(host);
      if (answer.status === 401 && stored !== undefined && (await stored.catch(() => undefined)) === token) this.#tokens.delete(host);
      throw StageError.fromStatus(endpoint, answer.status, sentence, serverCode);
    }
    const bad = (code: "BAD_RESPONSE" | "BAD_OUTPUT_HASH" | "WRONG_HOST" | "BAD_SIGNATURE", message: string) =>
      new StageError(code, `${endpoint}: ${message}`, { endpoint, retryable: false });
    const parsed = parseStageResponseHeaders(answer.headers);
    if (!parsed.ok) throw bad("BAD_RESPONSE", parsed.error);
    const { outputHash, host: claimedHost, signature } = parsed.value;
    if (activationHash(answer.body) !== outputHash) throw bad("BAD_OUTPUT_HASH", "the output hash is not keccak256 of the output");
    if (claimedHost !== host) throw bad("WRONG_HOST", `the endpoint answers as ${claimedHost}, not ${host}`);
    let signer: string;
    try {
      signer = stageSigner(
        this.#o.chainId,
        this.#o.shardRegistry,
        { requestId: stage.requestId, modelVersionId: stage.versionId, shardIndex: stage.shardIndex, inputHash, outputHash },
        signature,
      );
    } catch {
      throw bad("BAD_SIGNATURE", "the stage signature is not a valid signature");
    }
    if (signer !== host) throw bad("BAD_SIGNATURE", `the stage signature is not ${host}'s over this stage`);
    return { output: answer.body, stage: { host, inputHash, outputHash, signature } };
  }

  /** The session token for `host`: the one in use while more than half its life is left, else a new one. */
  #token(host: string): Promise<SessionToken> {
    const lifetime = this.#o.sessionLifetimeMs ?? DEFAULT_SESSION_LIFETIME_MS;
    const now = (this.#o.now ?? Date.now)();
    const current = this.#tokens.get(host);
    const fresh = (t: SessionToken) => t.expires - now >= lifetime / 2;
    const renew = () => {
      const next = signSessionToken(this.#o.signer, { chainId: this.#o.chainId, shardRegistry: this.#o.shardRegistry, host, expires: now + lifetime });
      this.#tokens.set(host, next);
      next.catch(() => this.#tokens.get(host) === next && this.#tokens.delete(host));
      return next;
    };
    if (current === undefined) return renew();
    return current.then((t) => (fresh(t) ? t : this.#tokens.get(host) === current ? renew() : this.#token(host)));
  }

  /** Closes every session (calls in flight fail with a retryable StageError); later calls throw CLOSED. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#pool.close();
  }

  #transportError(endpoint: string, timeoutMs: number, err: unknown): StageError {
    if (err instanceof StageError) return err;
    const e = err as (Error & { code?: string }) | undefined;
    if (e?.name === "TimeoutError" || e?.name === "AbortError") {
      return new StageError("TIMEOUT", `${endpoint} gave no answer within ${timeoutMs} ms`, { endpoint, retryable: true, cause: err });
    }
    if (e?.code === "OUTPUT_TOO_LARGE") {
      return new StageError("OUTPUT_TOO_LARGE", `${endpoint}: the output is over ${this.#maxOutput} bytes`, { endpoint, retryable: false, cause: err });
    }
    if (e?.code === "CONNECT_FAILED") {
      return new StageError("UNREACHABLE", `${endpoint} is unreachable: ${e.message}`, { endpoint, retryable: true, cause: err });
    }
    this.#log.debug({ err, endpoint }, "shard client: stage call broke");
    return new StageError("CONNECTION_LOST", `the call to ${endpoint} broke: ${e?.message ?? String(err)}`, { endpoint, retryable: true, cause: err });
  }
}
