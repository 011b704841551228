import { InvalidUpdateError } from "./TrainingError.js";
import { checkScreeningOptions, screenUpdates, type ScreeningOptions, type UpdateScore } from "./UpdateScreening.js";

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
 * `screened-fedavg` first excludes outlying updates (UpdateScreening.ts: each delta's distance to
 * the coordinate-wise median delta, and its direction), then takes the FedAvg of the rest: it
 * needs the round's global model, and it is the rule for jobs of untrusted workers.
 */
export type AggregationRule =
  | { kind: "fedavg" }
  | { kind: "median" }
  | {
      kind: "trimmed-mean";
      /** Fraction of the updates dropped at each end, per coordinate: floor(trimFraction * K) low and as many high, in [0, 0.5). */
      trimFraction: number;
    }
  | { kind: "screened-fedavg"; screening?: ScreeningOptions };

/** The rule for a job whose workers nobody vouches for. */
export const UNTRUSTED_DEFAULT_RULE: AggregationRule = Object.freeze({ kind: "screened-fedavg" });

export interface AggregationOptions {
  /** The global model the round's updates started from; required by `screened-fedavg`. */
  global?: Float32Array;
}

export interface AggregationResult {
  weights: Float32Array;
  /**
   * The keys (CIDs) of the updates left out of the aggregate, in key order; empty for the rules
   * that exclude nobody. Workers vote on it with the aggregate: an excluded update is not paid.
   */
  excludedCids: string[];
  /** What the screen measured of each update, in key order (screened-fedavg only). */
  scores?: UpdateScore[];
}

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
    if (rule.kind === "screened-fedavg") checkScreeningOptions(rule.screening);
    this.rule = rule;
  }

  /** The aggregate of `updates`, which may come in any order. Throws InvalidUpdateError on bad input. */
  aggregate(updates: readonly ClientUpdate[], options: AggregationOptions = {}): Float32Array {
    return this.aggregateWithExclusion(updates, options).weights;
  }

  /** The aggregate of `updates` (in any order) and the updates the rule left out of it. */
  aggregateWithExclusion(updates: readonly ClientUpdate[], options: AggregationOptions = {}): AggregationResult {
    const sorted = canonicalOrder(updates);
    switch (this.rule.kind) {
      case "fedavg":
        return { weights: weightedMean(sorted), excludedCids: [] };
      case "median":
        return { weights: coordinateWise(sorted, median), excludedCids: [] };
      case "trimmed-mean": {
        const trim = Math.floor(this.rule.trimFraction * sorted.length);
        return { weights: coordinateWise(sorted, (column) => trimmedMean(column, trim)), excludedCids: [] };
      }
      case "screened-fedavg": {
        if (options.global === undefined) throw new TypeError("screened-fedavg needs the round's global model (options.global)");
        const screening = screenUpdates(sorted, options.global, this.rule.screening);
        return { weights: weightedMean(screening.kept), excludedCids: screening.excluded.map((u) => u.key), scores: screening.scores };
      }
    }
  }
}

/**
 * The aggregate of `updates` under `rule` and the keys (CIDs) of the updates it excluded: the same
 * bytes and the same set on every honest worker (see FedAvgAggregator and UpdateScreening).
 */
export function aggregateWithExclusion(
  updates: readonly ClientUpdate[],
  rule: AggregationRule,
  options: AggregationOptions = {},
): AggregationResult {
  return new FedAvgAggregator(rule).aggregateWithExclusion(updates, options);
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
