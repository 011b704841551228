import type { SendTimings } from "../chain/TxSender.js";

/**
 * Where one batch's time went (epoch ms marks), filled in by `InferenceProcessor.processBatch` and
 * logged by the daemon with each request's queue times: "batch timings" records. The stages are the
 * open-loop latency a requester pays: listener, queue, batching, reads, model, claim, fulfilment.
 */
export interface BatchTrace {
  /** The batch was handed to the processor. */
  formedAt?: number;
  /** On-chain state of every request read (status, claimant, eligibility). */
  readAt?: number;
  /** Inputs fetched and the model run. */
  computedAt?: number;
  /** The claimBatch transaction's steps (claim mode, when anything was left to claim). */
  claim?: SendTimings;
  /** The fulfillBatch transaction's steps (the last attempt's, when one was retried). */
  fulfil?: SendTimings;
  /** Everything done, declines included. */
  doneAt?: number;
}

/** Durations (ms) between a trace's marks: the stage breakdown one log line carries. */
export function traceStages(trace: BatchTrace): Record<string, number> {
  const out: Record<string, number> = {};
  const span = (name: string, from: number | undefined, to: number | undefined) => {
    if (from !== undefined && to !== undefined) out[name] = to - from;
  };
  span("readMs", trace.formedAt, trace.readAt);
  span("computeMs", trace.readAt, trace.computedAt);
  for (const [name, t] of [["claim", trace.claim], ["fulfil", trace.fulfil]] as const) {
    if (t === undefined) continue;
    span(`${name}SimulateMs`, t.startedAt, t.simulatedAt);
    span(`${name}NonceWaitMs`, t.simulatedAt, t.lockedAt);
    span(`${name}BroadcastMs`, t.lockedAt, t.sentAt);
    span(`${name}ReceiptMs`, t.sentAt, t.minedAt);
  }
  span("totalMs", trace.formedAt, trace.doneAt);
  return out;
}
