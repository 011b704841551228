import { CID } from "multiformats/cid";
import { ContentIntegrityError, ContentNotFoundError } from "../ipfs/ContentStoreError.js";
import type { ContentStore } from "../ipfs/ContentStore.js";
import { InputKind, type PendingInference } from "./PendingInference.js";

/** Why an input cannot be served; the values match `DeclineReason` in contracts/types/InferenceTypes.sol. */
export enum DeclineReason {
  InputUnavailable = 1,
  InputMalformed = 2,
  ModelUnavailable = 3,
}

/** A request's input as the model will read it, or why it cannot be. */
export type RequestInput =
  | { readonly ok: true; readonly bytes: Uint8Array }
  | { readonly ok: false; readonly reason: DeclineReason; readonly detail: string };

export interface RequestInputOptions {
  readonly store: ContentStore;
  /** Bytes one input has: the `byteLength` of the manifest's input codec. */
  readonly expectedBytes: number;
  /** Longest wait for a CID's bytes; an input that does not arrive in time is unavailable. */
  readonly timeoutMs: number;
}

/**
 * Fetches (CID) or takes (inline) a request's input and checks its size, before the worker risks any
 * stake on the request. A fetch that fails for another reason than "not found", "corrupt" or the
 * timeout (a dropped connection) is tried once more within the same time budget.
 */
export async function loadRequestInput(item: PendingInference, options: RequestInputOptions): Promise<RequestInput> {
  let bytes: Uint8Array;
  if (item.inputKind === InputKind.Inline) {
    bytes = item.input;
  } else {
    let cid: string;
    try {
      cid = CID.decode(item.input).toString();
    } catch (err) {
      return { ok: false, reason: DeclineReason.InputMalformed, detail: `not a CID: ${(err as Error).message}` };
    }
    const fetched = await fetchWithin(options.store, cid, options.timeoutMs);
    if (!fetched.ok) return fetched;
    bytes = fetched.bytes;
  }
  if (bytes.length !== options.expectedBytes) {
    return {
      ok: false,
      reason: DeclineReason.InputMalformed,
      detail: `input has ${bytes.length} bytes, the model takes ${options.expectedBytes}`,
    };
  }
  return { ok: true, bytes };
}

async function fetchWithin(store: ContentStore, cid: string, timeoutMs: number): Promise<RequestInput> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (let attempt = 1; attempt <= 2; attempt++) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    try {
      return { ok: true, bytes: await withTimeout(store.get(cid), left) };
    } catch (err) {
      lastError = err;
      if (err instanceof ContentNotFoundError || err instanceof TimeoutError) break;
      if (err instanceof ContentIntegrityError) {
        return { ok: false, reason: DeclineReason.InputUnavailable, detail: `content ${cid} is corrupt: ${err.message}` };
      }
    }
  }
  const why = lastError instanceof Error ? lastError.message : `no answer within ${timeoutMs} ms`;
  return { ok: false, reason: DeclineReason.InputUnavailable, detail: `cannot fetch ${cid}: ${why}` };
}

class TimeoutError extends Error {}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
