import type { StageCall, StageTransport } from "./ShardRouter.js";
import type { SignedStage } from "./StageSignature.js";
import { MAX_STAGES_PER_CALL } from "./transport/StageBatchProtocol.js";

/**
 * The most input bytes in one batch call: the stages of a batch fit what a host takes in one body (64 MiB by default)
 * with room to spare, and its answer what a caller reads; a stage larger than this goes alone.
 */
export const MAX_BATCH_INPUT_BYTES = 8 * 1024 * 1024;

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
 * on another host); a refusal of the batch (a 4xx, BUSY included) is not: its stages are sent again one by one at once. Stages whose input came by CID go alone (the batch call carries no input refs).
 */
export class CoalescingStages implements StageTransport {
  readonly #inner: BatchStageTransport;
  readonly #waiting = new Map<string, { endpoint: string; host: string; stages: Waiting[] }>();
  /** Endpoints that answered the batch path 404 (hosts of an older version): sent one stage per call. */
  readonly #singleOnly = new Set<string>();
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

  #single(endpoint: string, host: string, stage: StageCall, options?: { timeoutMs?: number }): Promise<{ output: Uint8Array; stage: SignedStage }> {
    this.calls++;
    this.stages++;
    try {
      return this.#inner.runStage(endpoint, host, stage, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #flush(): void {
    this.#flushing = undefined;
    const groups = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const { endpoint, host, stages } of groups) {
      for (const chunk of chunks(stages, this.#singleOnly.has(endpoint) ? 1 : MAX_STAGES_PER_CALL)) {
        // Every stage settles, whatever the transport does (a throw, a malformed list of outcomes).
        this.#send(endpoint, host, chunk).catch((err: unknown) => {
          for (const w of chunk) w.reject(err);
        });
      }
    }
  }

  async #send(endpoint: string, host: string, chunk: readonly Waiting[]): Promise<void> {
    const timeouts = chunk.map((w) => w.timeoutMs).filter((ms): ms is number => ms !== undefined);
    const options = timeouts.length === 0 ? undefined : { timeoutMs: Math.max(...timeouts) };
    const alone = (w: Waiting) => this.#single(endpoint, host, w.call, options).then(w.resolve, w.reject);
    if (chunk.length === 1) return alone(chunk[0]!);
    this.calls++;
    this.stages += chunk.length;
    let outcomes: StageCallOutcome[];
    try {
      outcomes = await this.#inner.runStages(endpoint, host, chunk.map((w) => w.call), options);
    } catch (err) {
      // A refusal of the whole batch may concern one stage only (a request the host's node has not seen yet, one
      // input), or room for fewer stages (429 BUSY): each stage is asked alone at once, so that it alone fails, the
      // host runs those it has room for, and the router hears BUSY only for a stage refused alone (its flow control
      // counts refusals per stage: HostSlots). A host that does not know the batch path (404 NOT_FOUND: an older
      // version) is sent stages one by one from now on. A failure of the host itself (unreachable, timed out, a 5xx,
      // a malformed answer) is every stage's.
      if (!refusesTheBatchOnly(err)) throw err;
      if ((err as { serverCode?: unknown }).serverCode === "NOT_FOUND") this.#singleOnly.add(endpoint);
      for (const w of chunk) void alone(w);
      return;
    }
    if (!Array.isArray(outcomes) || outcomes.length !== chunk.length) throw new Error(`the batch call to ${endpoint} gave ${Array.isArray(outcomes) ? outcomes.length : "no"} outcomes for ${chunk.length} stages`);
    chunk.forEach((w, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) w.resolve({ output: outcome.output, stage: outcome.stage });
      else w.reject(outcome.error);
    });
  }
}

/** A batch's refusal that says nothing against the host: a 4xx (BUSY included), or the client refusing the batch. */
function refusesTheBatchOnly(err: unknown): boolean {
  const e = err as { status?: unknown; code?: unknown } | null;
  return (typeof e?.status === "number" && e.status >= 400 && e.status < 500) || e?.code === "INVALID_ARGUMENT";
}

/**
 * `stages` in calls of at most `max` stages and MAX_BATCH_INPUT_BYTES of inputs (a stage larger than that goes
 * alone): a batch never meets a size limit that its stages alone would not.
 */
function chunks(stages: readonly Waiting[], max: number): Waiting[][] {
  const out: Waiting[][] = [];
  let current: Waiting[] = [];
  let bytes = 0;
  for (const w of stages) {
    const size = w.call.input.byteLength;
    if (current.length > 0 && (current.length >= max || bytes + size > MAX_BATCH_INPUT_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(w);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}
