import type { SendTimings } from "../../../worker/src/chain/TxSender.js";
import { percentile } from "./Percentiles.js";


/** A worker's "batch timings" log record (worker/src/WorkerDaemon.ts), as parsed from its JSON line. */
export interface BatchTimingsRecord {
  readonly requestIds: readonly string[];
  readonly enqueuedAt: readonly number[];
  readonly pickedAt: readonly number[];
  readonly size: number;
  readonly trace: {
    readonly formedAt?: number;
    readonly readAt?: number;
    readonly computedAt?: number;
    readonly claim?: SendTimings;
    readonly fulfil?: SendTimings;
    readonly doneAt?: number;
  };
}

export function isBatchTimings(r: Record<string, unknown>): boolean {
  return r.msg === "batch timings" && Array.isArray(r.requestIds) && typeof r.trace === "object";
}

/** The stages of one request's latency, in the order it goes through them. */
export const STAGES = [
  ["listener", "request mined -> enqueued by the listener (poll, head, getLogs, addBulk)"],
  ["queue", "enqueued -> taken by a processor (BullMQ)"],
  ["batching", "taken -> its batch starts (batch wait, pipeline slot)"],
  ["reads", "state reads (block, requestState, eligibility)"],
  ["model", "inputs fetched, model run"],
  ["claim: simulate", "claimBatch simulation (+ gas estimate and fees, in parallel)"],
  ["claim: nonce turn", "waiting for the key's nonce (in-process queue, Redis lock)"],
  ["claim: broadcast", "nonce, sign, eth_sendRawTransaction"],
  ["claim: receipt", "sent -> receipt accepted"],
  ["between", "claim receipt -> fulfilment started"],
  ["fulfil: simulate", "fulfillBatch simulation (+ gas estimate and fees, in parallel)"],
  ["fulfil: nonce turn", "waiting for the key's nonce"],
  ["fulfil: broadcast", "nonce, sign, eth_sendRawTransaction"],
  ["fulfil: receipt", "sent -> receipt accepted"],
  ["watcher", "fulfilment broadcast -> InferenceFulfilled seen by the benchmark's poller"],
] as const;

export type Stage = (typeof STAGES)[number][0];

export interface StageSummary {
  readonly stage: Stage;
  readonly meaning: string;
  readonly p50: number;
  readonly p95: number;
  readonly mean: number;
}

export interface Breakdown {
  /** Requests found in the worker logs' batch records. */
  readonly traced: number;
  readonly stages: StageSummary[];
  /** Batches, and their sizes (median, largest). */
  readonly batches: number;
  readonly batchSizeP50: number;
  readonly batchSizeMax: number;
}

/**
 * Splits each request's latency (mined -> fulfilment seen) into the worker's stages, from the batch
 * records its processes logged: per stage the median, p95 and mean over the requests (ms). A request
 * served twice (a retried batch) counts with the record whose fulfilment it was seen in: the last one.
 */
export function latencyBreakdown(
  records: readonly BatchTimingsRecord[],
  requests: readonly { readonly requestId: bigint; readonly minedAtMs: number; readonly seenAtMs: number | undefined }[],
): Breakdown {
  const byId = new Map<string, { record: BatchTimingsRecord; index: number }>();
  for (const record of records) {
    if (record.trace.fulfil === undefined) continue;
    record.requestIds.forEach((id, index) => byId.set(id, { record, index }));
  }
  const samples = new Map<Stage, number[]>(STAGES.map(([s]) => [s, []]));
  let traced = 0;
  for (const r of requests) {
    const hit = byId.get(r.requestId.toString());
    if (hit === undefined || r.seenAtMs === undefined) continue;
    traced++;
    const { record, index } = hit;
    const t = record.trace;
    const add = (stage: Stage, from: number | undefined, to: number | undefined) => {
      if (from !== undefined && to !== undefined) samples.get(stage)!.push(to - from);
    };
    add("listener", r.minedAtMs, record.enqueuedAt[index]);
    add("queue", record.enqueuedAt[index], record.pickedAt[index]);
    add("batching", record.pickedAt[index], t.formedAt);
    add("reads", t.formedAt, t.readAt);
    add("model", t.readAt, t.computedAt);
    if (t.claim !== undefined) {
      add("claim: simulate", t.claim.startedAt, t.claim.simulatedAt);
      add("claim: nonce turn", t.claim.simulatedAt, t.claim.lockedAt);
      add("claim: broadcast", t.claim.lockedAt, t.claim.sentAt);
      add("claim: receipt", t.claim.sentAt, t.claim.minedAt);
      add("between", t.claim.minedAt, t.fulfil!.startedAt);
    } else {
      add("between", t.computedAt, t.fulfil!.startedAt);
    }
    add("fulfil: simulate", t.fulfil!.startedAt, t.fulfil!.simulatedAt);
    add("fulfil: nonce turn", t.fulfil!.simulatedAt, t.fulfil!.lockedAt);
    add("fulfil: broadcast", t.fulfil!.lockedAt, t.fulfil!.sentAt);
    add("fulfil: receipt", t.fulfil!.sentAt, t.fulfil!.minedAt);
    add("watcher", t.fulfil!.sentAt, r.seenAtMs);
  }
  const stages = STAGES.map(([stage, meaning]) => {
    const xs = samples.get(stage)!.sort((a, b) => a - b);
    return { stage, meaning, p50: percentile(xs, 50), p95: percentile(xs, 95), mean: xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length };
  });
  const sizes = records.filter((r) => r.trace.fulfil !== undefined).map((r) => r.size).sort((a, b) => a - b);
  return { traced, stages, batches: sizes.length, batchSizeP50: percentile(sizes, 50), batchSizeMax: sizes.at(-1) ?? 0 };
}
