/**
 * Which data a training job's worker trains on: a pure function of the job's datasets (in the
 * job's `datasetIds` order, with the sample counts snapshotted at creation), the number of workers
 * K and the worker's partition index (its enrollment order, 0..K-1, from `WorkerEnrolled`).
 *
 * Datasets are dealt out whole, so that a worker needs (and is shared) only the keys of the
 * datasets it trains on, and with two or more datasets no worker sees all the data:
 * - D >= K: worker p trains on every dataset whose position d satisfies d mod K == p.
 * - D < K: dataset d goes to the workers p with p mod D == d, which split its samples into
 *   contiguous, near-equal ranges in partition-index order (the first ones take one more sample
 *   when the count does not divide).
 * Every sample of every dataset is assigned to exactly one worker.
 */
export interface JobDataset {
  readonly datasetId: bigint;
  readonly samples: number;
}

/** A contiguous range of one dataset's samples, [start, end). */
export interface PartitionSlice {
  readonly datasetId: bigint;
  readonly start: number;
  readonly end: number;
}

export function partitionOf(datasets: readonly JobDataset[], workers: number, index: number): PartitionSlice[] {
  if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`workers must be a positive integer, got ${workers}`);
  if (!Number.isInteger(index) || index < 0 || index >= workers) {
    throw new RangeError(`partition index must be in 0..${workers - 1}, got ${index}`);
  }
  if (datasets.length === 0) throw new RangeError("a job has at least one dataset");
  for (const d of datasets) {
    if (!Number.isInteger(d.samples) || d.samples < 0) throw new RangeError(`dataset ${d.datasetId}: bad sample count ${d.samples}`);
  }
  const count = datasets.length;
  if (count >= workers) {
    return datasets
      .filter((_, position) => position % workers === index)
      .map((d) => ({ datasetId: d.datasetId, start: 0, end: d.samples }));
  }
  const dataset = datasets[index % count];
  const sharers: number[] = [];
  for (let p = index % count; p < workers; p += count) sharers.push(p);
  const rank = sharers.indexOf(index);
  const base = Math.floor(dataset.samples / sharers.length);
  const extra = dataset.samples % sharers.length;
  const start = rank * base + Math.min(rank, extra);
  const end = start + base + (rank < extra ? 1 : 0);
  return [{ datasetId: dataset.datasetId, start, end }];
}

/** The partition indexes whose slices include `datasetId`: whom its owner shares the key with. */
export function partitionsReading(datasets: readonly JobDataset[], workers: number, datasetId: bigint): number[] {
  const readers: number[] = [];
  for (let p = 0; p < workers; p++) {
    if (partitionOf(datasets, workers, p).some((s) => s.datasetId === datasetId && s.end > s.start)) readers.push(p);
  }
  return readers;
}

/** Samples in a partition (the FedAvg weight n_k a worker reveals). */
export function samplesIn(slices: readonly PartitionSlice[]): number {
  return slices.reduce((sum, s) => sum + (s.end - s.start), 0);
}
