import type { StageCall, StageTransport } from "./ShardRouter.js";
import type { SignedStage } from "./StageSignature.js";
import { MAX_STAGES_PER_CALL } from "./transport/StageBatchProtocol.js";
import { isBusy } from "./transport/StageError.js";

/** One stage's outcome in a batch call: its checked result, or why it alone failed. */
export type StageCallOutcome = { ok: true; output: Uint8Array; stage: SignedStage } | { ok: false; error: unknown };

/** A transport that can also send several stages of one shard to a host in one call (ShardClient, LocalFirstStages). */
export interface BatchStageTransport extends StageTransport {
  runStages(endpoint: string, expectedHost: string, stages: readonly StageCall[], options?: { timeoutMs?: number }): Promise<StageCallOutcome[]>;
}

export function carriesBatches(transport: StageTransport): transport is BatchStageTransport {
  return typeof (transport as Partial<BatchStageTransport>).runStages === "function";
}

interface Waiting {
  readonly call: StageCall;
  readonly timeoutMs: number | undefined;
  readonly resolve: (result: { output: Uint8Array; stage: SignedStage }) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Stages sent to the same host for the same shard in the same turn of the event loop go to it as one call (at most
 * MAX_STAGES_PER_CALL each): a processor routes a whole batch of requests at once, so their stages reach each shard
 * together, and each hop then costs one exchange and one prediction for the batch instead of one per request (GPipe's
 * micro-batches). A lone stage goes alone, as before, at the end of the turn it was sent in: no latency is added.
 * Each stage still gets its own result or its own error; a failure of the whole call (the host busy, unreachable,
 * answering wrongly) is every one of its stages' error, and the router handles each as it would its own (replays it
 * on another host), but for a 429 BUSY: the stages of a batch refused whole are sent again one by one at once. Stages whose input came by CID go alone (the batch call carries no input refs).
 */
export class CoalescingStages implements StageTransport {
  readonly #inner: BatchStageTransport;
  readonly #waiting = new Map<string, { endpoint: string; host: string; stages: Waiting[] }>();
  #flushing?: NodeJS.Immediate;
  /** Calls made, and the stages they carried (stages / calls: the mean batch on the wire). */
  calls = 0;
  stages = 0;

  constructor(inner: BatchStageTransport) {
    this.#inner = inner;
  }

  runStage(endpoint: string, expectedHost: string, stage: StageCall, options?: { timeoutMs?: number }): Promise<{ output: Uint8Array; stage: SignedStage }> {
    if (stage.inputRef !== undefined) return this.#single(endpoint, expectedHost, stage, options);
    return new Promise((resolve, reject) => {
      const key = `${endpoint}\n${expectedHost.toLowerCase()}\n${stage.versionId}:${stage.shardIndex}`;
      let group = this.#waiting.get(key);
      if (group === undefined) this.#waiting.set(key, (group = { endpoint, host: expectedHost, stages: [] }));
      group.stages.push({ call: stage, timeoutMs: options?.timeoutMs, resolve, reject });
      this.#flushing ??= setImmediate(() => this.#flush());
    });
  }

  #single(endpoint: string, host: string, stage: StageCall, options?: { timeoutMs?: number }) {
    this.calls++;
    this.stages++;
    return this.#inner.runStage(endpoint, host, stage, options);
  }

  #flush(): void {
    this.#flushing = undefined;
    const groups = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const { endpoint, host, stages } of groups) {
      for (let i = 0; i < stages.length; i += MAX_STAGES_PER_CALL) void this.#send(endpoint, host, stages.slice(i, i + MAX_STAGES_PER_CALL));
    }
  }

  async #send(endpoint: string, host: string, chunk: readonly Waiting[]): Promise<void> {
    const timeouts = chunk.map((w) => w.timeoutMs).filter((ms): ms is number => ms !== undefined);
    const options = timeouts.length === 0 ? undefined : { timeoutMs: Math.max(...timeouts) };
    if (chunk.length === 1) {
      const [lone] = chunk;
      return this.#single(endpoint, host, lone!.call, options).then(lone!.resolve, lone!.reject);
    }
    this.calls++;
    this.stages += chunk.length;
    let outcomes: StageCallOutcome[];
    try {
      outcomes = await this.#inner.runStages(endpoint, host, chunk.map((w) => w.call), options);
    } catch (err) {
      // A host refuses a batch it has no room for whole: each stage is asked alone at once, so that the host runs
      // those it has room for and the router hears BUSY only for a stage refused alone (its flow control counts
      // refusals per stage: HostSlots).
      if (isBusy(err)) for (const w of chunk) this.#single(endpoint, host, w.call, options).then(w.resolve, w.reject);
      else for (const w of chunk) w.reject(err);
      return;
    }
    chunk.forEach((w, i) => {
      const outcome = outcomes[i];
      if (outcome === undefined) w.reject(new Error(`the batch call to ${endpoint} gave no outcome for stage ${i}`));
      else if (outcome.ok) w.resolve({ output: outcome.output, stage: outcome.stage });
      else w.reject(outcome.error);
    });
  }
}
