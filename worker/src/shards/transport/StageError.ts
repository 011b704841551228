import { TesseraError } from "../../errors.js";

/**
 * Why a stage call failed, as the ShardClient reports it:
 * - `TIMEOUT`, `UNREACHABLE` (no connection), `CONNECTION_LOST` (the session or stream broke): retryable.
 * - `HTTP_<status>` (the host refused; `serverCode` is its `code`, e.g. `BUSY`): retryable for 429 and 5xx only.
 * - `BAD_RESPONSE` (a 200 without valid stage headers), `BAD_OUTPUT_HASH`, `WRONG_HOST` (`x-tessera-host` is not
 *   the expected host), `BAD_SIGNATURE` (the stage signature does not recover to the expected host over exactly
 *   the requested stage), `OUTPUT_TOO_LARGE`: the host misbehaved, not retryable.
 * - `INVALID_ARGUMENT` (a bad endpoint, address or hash given to the client), `CLOSED` (the client was closed).
 */
export type StageErrorCode =
  | "TIMEOUT"
  | "UNREACHABLE"
  | "CONNECTION_LOST"
  | `HTTP_${number}`
  | "BAD_RESPONSE"
  | "BAD_OUTPUT_HASH"
  | "WRONG_HOST"
  | "BAD_SIGNATURE"
  | "OUTPUT_TOO_LARGE"
  | "INVALID_ARGUMENT"
  | "CLOSED";

/** A failed stage call: `retryable` says whether the same stage may succeed if tried again (here or elsewhere). */
export class StageError extends TesseraError {
  declare readonly code: StageErrorCode;
  readonly retryable: boolean;
  /** The endpoint called. */
  readonly endpoint: string;
  /** The HTTP status, for `HTTP_*` codes. */
  readonly status?: number;
  /** The host's refusal code (`BUSY`, `PEER_NOT_AUTHORIZED`, …), for `HTTP_*` codes when the body carried one. */
  readonly serverCode?: string;
  /** For `HTTP_*` codes: how long the exchange that was refused took, from its request to its answer (ms). */
  readonly elapsedMs?: number;

  constructor(
    code: StageErrorCode,
    message: string,
    options: { endpoint: string; retryable: boolean; status?: number; serverCode?: string; elapsedMs?: number; cause?: unknown },
  ) {
    super(message, { code, cause: options.cause });
    this.retryable = options.retryable;
    this.endpoint = options.endpoint;
    if (options.status !== undefined) this.status = options.status;
    if (options.serverCode !== undefined) this.serverCode = options.serverCode;
    if (options.elapsedMs !== undefined) this.elapsedMs = options.elapsedMs;
  }

  /** The error for a non-200 answer: retryable for 429 and 5xx. */
  static fromStatus(endpoint: string, status: number, sentence: string | undefined, serverCode: string | undefined, elapsedMs?: number): StageError {
    const retryable = status === 429 || status >= 500;
    const why = sentence ?? `status ${status}`;
    return new StageError(`HTTP_${status}`, `stage refused by ${endpoint} (${status}${serverCode ? ` ${serverCode}` : ""}): ${why}`, {
      endpoint,
      retryable,
      status,
      ...(serverCode === undefined ? {} : { serverCode }),
      ...(elapsedMs === undefined ? {} : { elapsedMs }),
    });
  }
}

/** A host's 429 BUSY (status 429 with the protocol's BUSY code): it admits no more stages now; not a failure. */
export function isBusy(err: unknown): boolean {
  const e = err as { status?: unknown; serverCode?: unknown } | null;
  return e?.status === 429 && e.serverCode === "BUSY";
}
