import { cpuMsPerRequest, cpuSnapshot, type CpuSnapshot } from "./CpuTime.js";
import type { LoadOperator } from "./LoadOperator.js";
import type { FulfilmentWatcher } from "./FulfilmentWatcher.js";
import type { SentLoadRequest } from "./LoadSenders.js";

export interface DrainResult {
  /** Requests fulfilled over the whole drain: from the queues' resume to the last fulfilment seen. */
  readonly rate: number;
  readonly seconds: number;
  /** Every request fulfilled once within the timeout. */
  readonly complete: boolean;
  /** CPU milliseconds per request fulfilled, by party, from the resume to the last fulfilment seen. */
  readonly cpuMs: CpuSnapshot;
}

/**
 * The operators' service rate on a backlog: their queues are paused (BullMQ: no process takes a job,
 * the listeners keep enqueueing), `send` puts every request on chain, and once each operator's
 * queue holds all of them the queues are resumed together; the rate is the requests over the time
 * from the resume to the last fulfilment seen. Only the workers' own transactions reach the chain
 * while it is measured, so unlike the closed loop it is not bounded by the requests' transactions,
 * which the senders and the workers share one node (and two cores) for.
 */
export async function drainBacklog(
  operators: readonly LoadOperator[],
  watcher: FulfilmentWatcher,
  send: () => Promise<SentLoadRequest[]>,
  timeoutMs: number,
  nodePid?: number,
): Promise<DrainResult & { sent: SentLoadRequest[] }> {
  const queues = operators.map((o) => o.queue());
  try {
    await Promise.all(queues.map((q) => q.pause()));
    const before = await Promise.all(queues.map(backlog));
    const sent = await send();
    const enqueuedBy = Date.now() + timeoutMs;
    for (const [i, q] of queues.entries()) {
      while ((await backlog(q)) - before[i] < sent.length) {
        if (Date.now() > enqueuedBy) throw new Error(`drain: operator ${i + 1}'s listener did not enqueue ${sent.length} requests within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const cpuBefore = await cpuSnapshot(operators, nodePid);
    const resumedAt = Date.now();
    await Promise.all(queues.map((q) => q.resume()));
    const missing = await watcher.waitFor(sent.map((s) => s.requestId), timeoutMs);
    const cpuAfter = await cpuSnapshot(operators, nodePid);
    const last = Math.max(...sent.flatMap((s) => (watcher.seen.has(s.requestId) ? [watcher.seen.get(s.requestId)!.seenAtMs] : [])));
    const seconds = (last - resumedAt) / 1000;
    const fulfilled = sent.length - missing.length;
    return { sent, rate: fulfilled / seconds, seconds, complete: missing.length === 0, cpuMs: cpuMsPerRequest(cpuBefore, cpuAfter, fulfilled) };
  } finally {
    await Promise.all(queues.map((q) => q.resume().catch(() => undefined)));
    await Promise.all(queues.map((q) => q.close()));
  }
}

/** Jobs waiting to be taken (paused queues hold them as waiting or paused, by BullMQ version). */
async function backlog(queue: ReturnType<LoadOperator["queue"]>): Promise<number> {
  const counts = await queue.getJobCounts("wait", "paused", "prioritized");
  return (counts.wait ?? 0) + (counts.paused ?? 0) + (counts.prioritized ?? 0);
}
