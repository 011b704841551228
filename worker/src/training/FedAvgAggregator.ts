import { InvalidUpdateError } from "./TrainingError.js";

/** One client's result of a round: its weights after local training and how many samples produced them. */
export interface ClientUpdate {
  /**
   * The canonical key that fixes the summation order: the CID of the update, or its
   * `weightsHash`. Never the arrival order, which differs from one worker to the next.
   */
  key: string;
  weights: Float32Array;
  /** n_k, the client's number of training samples (a positive integer). */
  samples: number;
}

/**
 * How a job combines updates. `fedavg` is McMahan et al.'s sample-weighted mean; `median` and
 * `trimmed-mean` are the coordinate-wise robust rules of Yin et al. 2018, which ignore `samples`
 * (a client could inflate it to dominate the mean) and bound the influence of outliers.
 */
export type AggregationRule =
  | { kind: "fedavg" }
  | { kind: "median" }
  | {
      kind: "trimmed-mean";
      /** Fraction of the updates dropped at each end, per coordinate: floor(trimFraction * K) low and as many high, in [0, 0.5). */
      trimFraction: number;
    };

/**
 * Aggregates client updates into the next global model, deterministically: plain float32
 * arithmetic (every intermediate rounded with Math.fround, which for + and * gives exactly what
 * IEEE-754 binary32 hardware gives), in a fixed order (updates sorted by key, code-unit order,
 * not locale), with no TensorFlow.js ops (whose kernels and summation order differ per backend).
 * Honest workers on any machine therefore produce the same bytes and the same `weightsHash`.
 */
export class FedAvgAggregator {
  readonly rule: AggregationRule;

  constructor(rule: AggregationRule = { kind: "fedavg" }) {
    if (rule.kind === "trimmed-mean") {
      const { trimFraction } = rule;
      if (!Number.isFinite(trimFraction) || trimFraction < 0 || trimFraction >= 0.5) {
        throw new RangeError(`trimFraction must be in [0, 0.5), got ${trimFraction}`);
      }
    }
    this.rule = rule;
  }

  /** The aggregate of `updates`, which may come in any order. Throws InvalidUpdateError on bad input. */
  aggregate(updates: readonly ClientUpdate[]): Float32Array {
    const sorted = canonicalOrder(updates);
    switch (this.rule.kind) {
      case "fedavg":
        return weightedMean(sorted);
      case "median":
        return coordinateWise(sorted, median);
      case "trimmed-mean": {
        const trim = Math.floor(this.rule.trimFraction * sorted.length);
        return coordinateWise(sorted, (column) => trimmedMean(column, trim));
      }
    }
  }
}

/** Validates the updates and sorts them by key. */
function canonicalOrder(updates: readonly ClientUpdate[]): ClientUpdate[] {
  if (updates.length === 0) throw new InvalidUpdateError("no updates to aggregate");
  const length = updates[0].weights.length;
  const keys = new Set<string>();
  for (const update of updates) {
    const { key, weights, samples } = update;
    if (typeof key !== "string" || key.length === 0) throw new InvalidUpdateError("an update has no key");
    if (keys.has(key)) throw new InvalidUpdateError(`update ${key} appears twice`);
    keys.add(key);
    if (!(weights instanceof Float32Array)) throw new InvalidUpdateError(`update ${key}: weights are not a Float32Array`);
    if (weights.length !== length) {
      throw new InvalidUpdateError(
        `update ${key} has ${weights.length} weights, update ${updates[0].key} has ${length}: shapes differ`,
      );
    }
    if (!Number.isSafeInteger(samples) || samples <= 0) {
      throw new InvalidUpdateError(`update ${key}: samples must be a positive integer, got ${samples}`);
    }
    for (let i = 0; i < weights.length; i++) {
      if (!Number.isFinite(weights[i])) {
        throw new InvalidUpdateError(`update ${key}: weight ${i} is ${weights[i]} (NaN or infinite)`);
      }
    }
  }
  return [...updates].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** sum_k fround(n_k / n) * w_k, accumulated coordinate by coordinate in key order. */
function weightedMean(updates: readonly ClientUpdate[]): Float32Array {
  const total = updates.reduce((sum, u) => sum + u.samples, 0);
  if (!Number.isSafeInteger(total)) throw new InvalidUpdateError(`the total sample count ${total} is not a safe integer`);
  const result = new Float32Array(updates[0].weights.length);
  for (const { weights, samples } of updates) {
    // One division per client: n_k and n are exact integers, n_k / n is correctly rounded.
    const coefficient = Math.fround(samples / total);
    for (let i = 0; i < result.length; i++) {
      result[i] = Math.fround(result[i] + Math.fround(coefficient * weights[i]));
    }
  }
  return result;
}

function coordinateWise(updates: readonly ClientUpdate[], reduce: (sortedColumn: Float32Array) => number): Float32Array {
  const result = new Float32Array(updates[0].weights.length);
  const column = new Float32Array(updates.length);
  for (let i = 0; i < result.length; i++) {
    for (let k = 0; k < updates.length; k++) column[k] = updates[k].weights[i];
    column.sort(); // numeric, total order (TypedArray sort puts -0 before +0)
    result[i] = reduce(column);
    if (!Number.isFinite(result[i])) throw new InvalidUpdateError(`coordinate ${i} overflows float32 when aggregated`);
  }
  return result;
}

function median(sorted: Float32Array): number {
  const middle = sorted.length >> 1;
  if (sorted.length % 2 === 1) return sorted[middle];
  // Halve before adding so that two values near the float32 maximum cannot overflow.
  return Math.fround(Math.fround(sorted[middle - 1] * 0.5) + Math.fround(sorted[middle] * 0.5));
}

function trimmedMean(sorted: Float32Array, trim: number): number {
  let sum = 0;
  for (let k = trim; k < sorted.length - trim; k++) sum = Math.fround(sum + sorted[k]);
  return Math.fround(sum / (sorted.length - 2 * trim));
}
