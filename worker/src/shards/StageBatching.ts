import { MicroBatcher } from "../inference/MicroBatcher.js";
import type { StageResult } from "./ShardStageRunner.js";
import type { StageRunner } from "./transport/StageAdmission.js";

/** A runner of stages that can also run several stages of one shard as one prediction (ShardStageRunner, ThreadedStageRunner). */
export interface StageBatchRunner extends StageRunner {
  runBatch(versionId: bigint, shardIndex: number, inputs: readonly Uint8Array[]): Promise<StageResult[]>;
}

/** Stages of one shard run as one prediction by default (SHARD_HOST_MAX_BATCH). */
export const DEFAULT_STAGE_BATCH = 8;

/**
 * A shard host's runner that batches: the stages of a shard that arrive while it computes that shard wait, and go
 * together as the next prediction (at most `maxBatch`; one prediction per shard at a time). A lone stage goes at
 * once (at the end of the event loop's turn it arrived in), so batching costs no latency when the host is idle and,
 * under load, each prediction reads the shard's weights once for many requests (a batch-of-one dense layer is
 * bound by memory bandwidth, not arithmetic). Each stage gets its own result or its own error (runBatch), never its
 * neighbours'. `maxBatch` 1 runs every stage alone.
 */
export class BatchingStageRunner implements StageRunner {
  readonly #inner: StageBatchRunner;
  readonly #maxBatch: number;
  readonly #batchers = new Map<string, MicroBatcher<Uint8Array, StageResult>>();
  /** Predictions run, and the stages they ran (stages / batches = the mean batch). */
  batches = 0;
  stages = 0;

  constructor(inner: StageBatchRunner, options: { maxBatch?: number } = {}) {
    const maxBatch = options.maxBatch ?? DEFAULT_STAGE_BATCH;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new RangeError("maxBatch must be an integer >= 1");
    this.#inner = inner;
    this.#maxBatch = maxBatch;
  }

  serves(versionId: bigint, shardIndex: number): boolean {
    return this.#inner.serves(versionId, shardIndex);
  }

  async run(versionId: bigint, shardIndex: number, input: Uint8Array): Promise<Uint8Array> {
    // Batchers only for the shards served here (the map cannot grow with what callers name).
    if (!this.#inner.serves(versionId, shardIndex)) return this.#inner.run(versionId, shardIndex, input);
    const key = `${versionId}:${shardIndex}`;
    let batcher = this.#batchers.get(key);
    if (batcher === undefined) {
      batcher = new MicroBatcher<Uint8Array, StageResult>({
        maxSize: this.#maxBatch,
        maxWaitMs: 0,
        maxInFlight: 1,
        handle: (inputs) => {
          this.batches++;
          this.stages += inputs.length;
          return this.#inner.runBatch(versionId, shardIndex, inputs);
        },
      });
      this.#batchers.set(key, batcher);
    }
    const result = await batcher.submit(input);
    if (!result.ok) throw result.error;
    return result.output;
  }
}
