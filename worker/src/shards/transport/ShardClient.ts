import { getAddress, isAddress, type Signer } from "ethers";
import { silentLogger, type Logger } from "../../logger.js";
import { activationHash } from "../ActivationHash.js";
import { stageSigner, type SignedStage } from "../StageSignature.js";
import { exchange, type Exchanged } from "./Exchange.js";
import { MAX_STAGES_PER_CALL, parseStageBatchResponseHeaders, stageBatchRequestHeaders } from "./StageBatchProtocol.js";
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

/** One stage's outcome in a batch: its checked result, or why it alone failed. */
export type StageOutcome = ({ ok: true } & StageResult) | { ok: false; error: StageError };

/** A host that answered wrongly: not retryable. */
const bad = (endpoint: string, code: "BAD_RESPONSE" | "BAD_OUTPUT_HASH" | "WRONG_HOST" | "BAD_SIGNATURE", message: string) =>
  new StageError(code, `${endpoint}: ${message}`, { endpoint, retryable: false });

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
    const { origin, host } = this.#target(endpoint, expectedHost);
    const inputHash = this.#inputHash(endpoint, stage);
    const token = await this.#token(host);
    const headers = stageRequestHeaders(token, {
      requestId: stage.requestId,
      versionId: stage.versionId,
      shardIndex: stage.shardIndex,
      inputHash,
      ...(stage.inputRef === undefined ? {} : { inputRef: stage.inputRef }),
      body: stage.input,
    });
    const answer = await this.#exchange(origin, endpoint, host, token, headers, stage.input, options.timeoutMs ?? 30_000);
    const parsed = parseStageResponseHeaders(answer.headers);
    if (!parsed.ok) throw bad(endpoint, "BAD_RESPONSE", parsed.error);
    const { outputHash, host: claimedHost, signature } = parsed.value;
    if (claimedHost !== host) throw bad(endpoint, "WRONG_HOST", `the endpoint answers as ${claimedHost}, not ${host}`);
    return this.#checked(endpoint, host, stage, inputHash, answer.body, outputHash, signature);
  }

  /**
   * Runs stages of one shard of one version, of different requests, on the host at `endpoint` in one exchange
   * (StageBatchProtocol.ts: the host runs them as one prediction). Each stage's outcome is its own: its output and
   * signature checked as `runStage` checks one, or its StageError (the host could not run it, or answered it
   * wrongly). A failure of the whole call (a refusal such as 429 BUSY, the connection, a malformed answer) rejects
   * with the StageError every stage shares. 1 to MAX_STAGES_PER_CALL stages, none with an input ref.
   */
  async runStages(endpoint: string, expectedHost: string, stages: readonly StageCall[], options: { timeoutMs?: number } = {}): Promise<StageOutcome[]> {
    const { origin, host } = this.#target(endpoint, expectedHost);
    const first = stages[0];
    const invalid = (message: string) => new StageError("INVALID_ARGUMENT", message, { endpoint, retryable: false });
    if (first === undefined || stages.length > MAX_STAGES_PER_CALL) throw invalid(`a batch carries 1 to ${MAX_STAGES_PER_CALL} stages, not ${stages.length}`);
    if (stages.some((s) => s.versionId !== first.versionId || s.shardIndex !== first.shardIndex)) throw invalid("the stages of a batch are of one shard of one version");
    if (stages.some((s) => s.inputRef !== undefined)) throw invalid("a stage with an input ref is sent alone (runStage)");
    if (new Set(stages.map((s) => s.requestId)).size !== stages.length) throw invalid("a batch runs one stage per request");
    const inputHashes = stages.map((s) => this.#inputHash(endpoint, s));
    const token = await this.#token(host);
    const headers = stageBatchRequestHeaders(token, {
      versionId: first.versionId,
      shardIndex: first.shardIndex,
      stages: stages.map((s, i) => ({ requestId: s.requestId, inputHash: inputHashes[i]!, input: s.input })),
    });
    // Each output may be as large as one stage's: the answer as large as all of them.
    const answer = await this.#exchange(origin, endpoint, host, token, headers, Buffer.concat(stages.map((s) => s.input)), options.timeoutMs ?? 30_000, this.#maxOutput * stages.length);
    const parsed = parseStageBatchResponseHeaders(answer.headers, stages.length);
    if (!parsed.ok) throw bad(endpoint, "BAD_RESPONSE", parsed.error);
    if (parsed.value.host !== host) throw bad(endpoint, "WRONG_HOST", `the endpoint answers as ${parsed.value.host}, not ${host}`);
    const total = parsed.value.stages.reduce((sum, s) => sum + (s.ok ? s.outputLength : 0), 0);
    if (total !== answer.body.byteLength) throw bad(endpoint, "BAD_RESPONSE", `the body is ${answer.body.byteLength} bytes, not the ${total} the outputs' lengths add up to`);
    let offset = 0;
    return parsed.value.stages.map((s, i): StageOutcome => {
      if (!s.ok) {
        return { ok: false, error: new StageError("HTTP_500", `${endpoint} could not run the stage of request ${stages[i]!.requestId} (RUNNER_FAILED)`, { endpoint, retryable: true, status: 500, serverCode: "RUNNER_FAILED" }) };
      }
      // A copy: an output kept (until its request is fulfilled) does not keep the whole batch's answer in memory.
      const output = new Uint8Array(answer.body.subarray(offset, (offset += s.outputLength)));
      if (s.outputLength > this.#maxOutput) {
        return { ok: false, error: new StageError("OUTPUT_TOO_LARGE", `${endpoint}: the output is over ${this.#maxOutput} bytes`, { endpoint, retryable: false }) };
      }
      try {
        return { ok: true, ...this.#checked(endpoint, host, stages[i]!, inputHashes[i]!, output, s.outputHash, s.signature) };
      } catch (err) {
        return { ok: false, error: err as StageError };
      }
    });
  }

  /** The endpoint's origin and the expected host, checksummed; INVALID_ARGUMENT or CLOSED otherwise. */
  #target(endpoint: string, expectedHost: string): { origin: string; host: string } {
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
    return { origin, host: getAddress(expectedHost) };
  }

  #inputHash(endpoint: string, stage: StageCall): string {
    if (!/^0x[0-9a-fA-F]{64}$/.test(stage.inputHash)) throw new StageError("INVALID_ARGUMENT", "the input hash is not 32 hex bytes", { endpoint, retryable: false });
    return stage.inputHash.toLowerCase();
  }

  /** One exchange with the host; an answer other than 200 is thrown as its StageError (a 401 drops the token used). */
  async #exchange(origin: string, endpoint: string, host: string, token: SessionToken, headers: Record<string, string>, body: Uint8Array, timeoutMs: number, maxResponseBytes = this.#maxOutput): Promise<Exchanged> {
    const deadline = AbortSignal.timeout(timeoutMs);
    let answer: Exchanged;
    let sentAt = 0;
    try {
      const lease = await this.#pool.acquire(origin, deadline);
      try {
        sentAt = performance.now();
        answer = await exchange(lease.session, headers, body, { maxResponseBytes, signal: deadline });
      } finally {
        lease.release();
      }
    } catch (err) {
      throw this.#transportError(endpoint, timeoutMs, err);
    }
    if (answer.status === 200) return answer;
    let sentence: string | undefined;
    let serverCode: string | undefined;
    try {
      const refusal = stageErrorBodySchema.parse(JSON.parse(Buffer.from(answer.body).toString("utf8")));
      sentence = refusal.error;
      serverCode = refusal.code;
    } catch {
      // not the protocol's error body: report the status alone
    }
    // The host refused the token (expired on its clock, or not recognised): the next call signs a new one.
    // Only the token this call used: a renewal stored meanwhile is kept.
    const stored = this.#tokens.get(host);
    if (answer.status === 401 && stored !== undefined && (await stored.catch(() => undefined)) === token) this.#tokens.delete(host);
    throw StageError.fromStatus(endpoint, answer.status, sentence, serverCode, Math.round(performance.now() - sentAt));
  }

  /** A stage's answer checked: the output hash is keccak256 of the output, the signature `host`'s over exactly this stage. */
  #checked(endpoint: string, host: string, stage: StageCall, inputHash: string, output: Uint8Array, outputHash: string, signature: string): StageResult {
    if (activationHash(output) !== outputHash) throw bad(endpoint, "BAD_OUTPUT_HASH", "the output hash is not keccak256 of the output");
    let signer: string;
    try {
      signer = stageSigner(this.#o.chainId, this.#o.shardRegistry, { requestId: stage.requestId, modelVersionId: stage.versionId, shardIndex: stage.shardIndex, inputHash, outputHash }, signature);
    } catch {
      throw bad(endpoint, "BAD_SIGNATURE", "the stage signature is not a valid signature");
    }
    if (signer !== host) throw bad(endpoint, "BAD_SIGNATURE", `the stage signature is not ${host}'s over this stage`);
    return { output, stage: { host, inputHash, outputHash, signature } };
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
