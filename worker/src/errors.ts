import { AbiCoder, Interface, dataSlice, isHexString } from "ethers";

/** Base of every error the worker raises itself; `code` is a stable machine-readable tag. */
export class TesseraError extends Error {
  readonly code: string;

  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code ?? "TESSERA_ERROR";
  }
}

/** A failure that may succeed if tried again later (network, rate limit, nonce race, timeout). */
export class RetryableError extends TesseraError {
  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, { code: options.code ?? "RETRYABLE", cause: options.cause });
  }
}

/**
 * Not a failure: what the job needs is not there yet (a dataset key its owner has not shared). The queue runs the
 * job again after `retryInMs` without using up one of its attempts; the processor must itself end the wait (each
 * run re-reads the chain, and a phase that closed ends it).
 */
export class NotYetError extends RetryableError {
  constructor(
    message: string,
    readonly retryInMs: number,
    options: { code?: string; cause?: unknown } = {},
  ) {
    super(message, { code: options.code ?? "NOT_YET", cause: options.cause });
  }
}

/** A failure that will fail the same way every time (a revert, invalid input): never retried. */
export class UnrecoverableError extends TesseraError {
  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, { code: options.code ?? "UNRECOVERABLE", cause: options.cause });
  }
}

export type ErrorClass = "retryable" | "unrecoverable";

const RETRYABLE_ETHERS_CODES = new Set([
  "NETWORK_ERROR",
  "TIMEOUT",
  "SERVER_ERROR",
  "NONCE_EXPIRED",
  "REPLACEMENT_UNDERPRICED",
]);

const RETRYABLE_SYSTEM_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

/**
 * The node refused the transaction's nonce: taken already, or (a dev chain rolled back or restarted, an automining
 * node that queues nothing) beyond the account's next. Either way the nonce is re-read from the chain and the send retried.
 */
const NONCE_MESSAGE = /nonce too (low|high)|nonce has already been used|nonce is too (low|high)|replacement (transaction )?underpriced|already known|known transaction/i;
const RETRYABLE_MESSAGE =
  /timeout|timed out|rate limit|too many requests|socket hang up|network error|connection (refused|reset|closed)|econnrefused|econnreset|header not found|temporarily unavailable|bad gateway|service unavailable|gateway time-?out/i;

/**
 * The hash in a send error of a development node that mined the transaction and reports its failure (Hardhat's
 * automine): in-process EDR puts it in `data.transactionHash`, Hardhat's JSON-RPC server in `data.txHash`.
 */
export function minedHashOf(err: unknown): string | undefined {
  for (const rec of errorChain(err)) {
    for (const hash of [rec.transactionHash, rec.txHash, rec.data?.transactionHash, rec.data?.txHash]) {
      if (typeof hash === "string" && /^0x[0-9a-fA-F]{64}$/.test(hash)) return hash;
    }
  }
  return undefined;
}

/**
 * The error and everything it wraps: `cause`, and the `error` / `info.error` fields through which
 * ethers nests the JSON-RPC error it was given.
 */
function* errorChain(err: unknown): Generator<Record<string, any>> {
  const seen = new Set<unknown>();
  const stack: unknown[] = [err];
  while (stack.length > 0) {
    const e = stack.pop();
    if (e === null || typeof e !== "object" || seen.has(e)) continue;
    seen.add(e);
    const rec = e as Record<string, any>;
    yield rec;
    stack.push(rec.cause, rec.error, rec.info?.error);
  }
}

function httpStatusOf(e: Record<string, any>): number | undefined {
  for (const candidate of [e.status, e.statusCode, e.info?.responseStatus, e.response?.status]) {
    if (typeof candidate === "number") return candidate;
    if (typeof candidate === "string") {
      const n = Number.parseInt(candidate, 10);
      if (Number.isFinite(n)) return n;
    }
  }
  return undefined;
}

/** True for the nonce races a NonceManager reset cures ("nonce too low", "replacement underpriced"). */
export function isNonceError(err: unknown): boolean {
  for (const e of errorChain(err)) {
    if (e.code === "NONCE_EXPIRED" || e.code === "REPLACEMENT_UNDERPRICED") return true;
    if (typeof e.message === "string" && NONCE_MESSAGE.test(e.message)) return true;
  }
  return false;
}

/** Hex revert data carried by an ethers CALL_EXCEPTION (or the RPC error inside it), if any. */
export function revertDataOf(err: unknown): string | undefined {
  for (const e of errorChain(err)) {
    for (const data of [e.data, e.revert?.data]) {
      if (typeof data === "string" && isHexString(data) && data.length >= 10) return data;
    }
  }
  return undefined;
}

/**
 * Decides whether an operation that threw `err` is worth retrying. Reverts are deterministic, so
 * they are unrecoverable; transport trouble, rate limits, 5xx and nonce races are retryable.
 * Anything unknown is unrecoverable: retrying a bug only repeats it (viem's `withRetry` does the same).
 */
export function classifyError(err: unknown): ErrorClass {
  if (err instanceof UnrecoverableError) return "unrecoverable";
  if (err instanceof RetryableError) return "retryable";
  const chain = [...errorChain(err)];
  if (chain.some((e) => e.code === "CALL_EXCEPTION")) return "unrecoverable";
  for (const e of chain) {
    if (e instanceof UnrecoverableError) return "unrecoverable";
    if (e instanceof RetryableError) return "retryable";
    if (typeof e.code === "string" && (RETRYABLE_ETHERS_CODES.has(e.code) || RETRYABLE_SYSTEM_CODES.has(e.code))) {
      return "retryable";
    }
    const status = httpStatusOf(e);
    if (status !== undefined && (status === 429 || status >= 500)) return "retryable";
    if (typeof e.message === "string" && (NONCE_MESSAGE.test(e.message) || RETRYABLE_MESSAGE.test(e.message))) {
      return "retryable";
    }
  }
  return "unrecoverable";
}

export interface DecodedRevert {
  /** Custom error name, or `Error` / `Panic` for the built-ins. */
  readonly name: string;
  readonly args: readonly unknown[];
  /** Canonical signature, e.g. `InferenceMarketRequestExpired(uint256,uint64)`. */
  readonly signature: string;
}

const ERROR_STRING_SELECTOR = "0x08c379a0";
const PANIC_SELECTOR = "0x4e487b71";

/**
 * Names the revert in `data` by looking its selector up across `interfaces` (every contract of the
 * project, so errors bubbling up from a called contract are found too); also decodes the built-in
 * `Error(string)` and `Panic(uint256)`. Returns null for empty or unknown data.
 */
export function decodeRevert(data: string | undefined | null, interfaces: readonly Interface[]): DecodedRevert | null {
  if (!data || !isHexString(data) || data.length < 10) return null;
  const selector = dataSlice(data, 0, 4).toLowerCase();
  const coder = AbiCoder.defaultAbiCoder();
  try {
    if (selector === ERROR_STRING_SELECTOR) {
      return { name: "Error", args: coder.decode(["string"], dataSlice(data, 4)).toArray(), signature: "Error(string)" };
    }
    if (selector === PANIC_SELECTOR) {
      return { name: "Panic", args: coder.decode(["uint256"], dataSlice(data, 4)).toArray(), signature: "Panic(uint256)" };
    }
  } catch {
    return null;
  }
  for (const iface of interfaces) {
    try {
      const parsed = iface.parseError(data);
      if (parsed) return { name: parsed.name, args: parsed.args.toArray(), signature: parsed.signature };
    } catch {
      // Selector known but data malformed for it: try the other interfaces.
    }
  }
  return null;
}

/** `Name(arg, arg)` for logs and error messages. */
export function formatRevert(revert: DecodedRevert): string {
  const args = revert.args.map((a) => (typeof a === "string" && !isHexString(a) ? JSON.stringify(a) : String(a)));
  return `${revert.name}(${args.join(", ")})`;
}

/** A transaction whose simulation (or execution) reverted; `revert` is the decoded reason if known. */
export class ContractRevertError extends UnrecoverableError {
  readonly revert: DecodedRevert | null;
  readonly revertData: string | undefined;

  constructor(message: string, options: { revert: DecodedRevert | null; revertData?: string; cause?: unknown }) {
    super(message, { code: "CONTRACT_REVERT", cause: options.cause });
    this.revert = options.revert;
    this.revertData = options.revertData;
  }
}
