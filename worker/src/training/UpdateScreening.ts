import type { ClientUpdate } from "./FedAvgAggregator.js";
import { InvalidUpdateError } from "./TrainingError.js";

/**
 * The screen's thresholds. An update is an outlier when its delta (update − global model) lies
 * farther from the coordinate-wise median delta than `medianDistance + madMultiplier · MAD +
 * relativeMargin · medianDistance` (median and MAD over every update's distance), or when it
 * points against the median delta by more than `minCosine` allows.
 */
export interface ScreeningOptions {
  /**
   * How many MADs of the distances above their median an update may lie: 3 · 1.4826 by default,
   * a robust z-score of 3 (1.4826 · MAD estimates the standard deviation of normal data).
   */
  madMultiplier?: number;
  /**
   * A margin proportional to the median distance, added to the MAD term. Honest deltas of a
   * high-dimensional model concentrate (their distances differ by a few percent, so the MAD is
   * tiny), while partitions of different sizes and label mixes legitimately spread them further;
   * the margin keeps such honest workers in. 0.5 by default.
   */
  relativeMargin?: number;
  /**
   * The lowest cosine similarity to the median delta an update may have, in [-1, 1]; 0 by
   * default (an update that undoes the majority's progress is out, whatever its length).
   * `-1` disables the direction test.
   */
  minCosine?: number;
}

export const DEFAULT_SCREENING: Required<ScreeningOptions> = {
  madMultiplier: 3 * 1.4826,
  relativeMargin: 0.5,
  minCosine: 0,
};

/** What the screen measured of one update (in the canonical, key-sorted order). */
export interface UpdateScore {
  key: string;
  /** ‖delta − median delta‖₂. */
  distance: number;
  /** cos(delta, median delta); 0 when either is the zero vector (no direction to agree or disagree with). */
  cosine: number;
  excluded: boolean;
}

export interface Screening {
  /** The updates that go on to the aggregate, in key order. */
  kept: ClientUpdate[];
  /** The outliers, in key order. */
  excluded: ClientUpdate[];
  scores: UpdateScore[];
  /** The distance above which an update is an outlier (an update exactly at it is kept). */
  distanceThreshold: number;
}

/**
 * Excludes outlying updates, deterministically: every honest worker, on any machine, computes the
 * same statistics bit for bit and therefore excludes the same updates.
 *
 * - The arithmetic is IEEE-754 binary64 (JavaScript numbers) restricted to +, −, ×, ÷ and
 *   Math.sqrt, each of which IEEE-754 and ECMAScript define as the correctly rounded result of
 *   the exact operation; no Math.exp/log/pow/hypot (ECMAScript lets those differ by engine and
 *   platform), no tfjs kernels (whose order and precision differ by backend), no parallel sums.
 * - Every sum runs in a fixed order: coordinates in index order, updates in key order (the caller
 *   sorts them). Medians sort a Float64Array (a total numeric order).
 * - At most floor((n − 1) / 2) updates are excluded, so the kept updates are always a strict
 *   majority: with more outliers than that, the farthest are excluded (ties: the larger key first).
 *   With one or two updates nothing can be excluded: there is no majority to compare against.
 */
export function screenUpdates(sorted: readonly ClientUpdate[], global: Float32Array, options: ScreeningOptions = {}): Screening {
  const { madMultiplier, relativeMargin, minCosine } = checkScreeningOptions(options);
  const n = sorted.length;
  const length = global.length;
  for (const update of sorted) {
    if (update.weights.length !== length) {
      throw new InvalidUpdateError(`update ${update.key} has ${update.weights.length} weights, the global model ${length}`);
    }
  }
  for (let i = 0; i < length; i++) {
    if (!Number.isFinite(global[i]))
      throw new InvalidUpdateError(`the global model's weight ${i} is ${global[i]} (NaN or infinite)`);
  }

  // The coordinate-wise median delta: the majority's direction, which no minority can move far.
  const reference = new Float64Array(length);
  const column = new Float64Array(n);
  for (let i = 0; i < length; i++) {
    for (let k = 0; k < n; k++) column[k] = sorted[k].weights[i] - global[i];
    column.sort();
    reference[i] = medianOfSorted(column);
  }
  let referenceSquared = 0;
  for (let i = 0; i < length; i++) referenceSquared += reference[i] * reference[i];

  const distances = new Float64Array(n);
  const cosines = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const weights = sorted[k].weights;
    let squared = 0;
    let dot = 0;
    let norm = 0;
    for (let i = 0; i < length; i++) {
      const delta = weights[i] - global[i];
      const off = delta - reference[i];
      squared += off * off;
      dot += delta * reference[i];
      norm += delta * delta;
    }
    distances[k] = Math.sqrt(squared);
    const scale = Math.sqrt(norm) * Math.sqrt(referenceSquared);
    cosines[k] = scale === 0 ? 0 : dot / scale;
  }

  const ordered = Float64Array.from(distances).sort();
  const medianDistance = medianOfSorted(ordered);
  const deviations = Float64Array.from(distances, (d) => Math.abs(d - medianDistance)).sort();
  const mad = medianOfSorted(deviations);
  const distanceThreshold = medianDistance + madMultiplier * mad + relativeMargin * medianDistance;

  const outliers: number[] = [];
  for (let k = 0; k < n; k++) {
    if (distances[k] > distanceThreshold || (minCosine > -1 && cosines[k] < minCosine)) outliers.push(k);
  }
  // Farthest first; among equal distances the later key goes first (a fixed, input-order-free rule).
  outliers.sort((a, b) => distances[b] - distances[a] || b - a);
  const excludedIndexes = new Set(outliers.slice(0, Math.floor((n - 1) / 2)));

  const kept: ClientUpdate[] = [];
  const excluded: ClientUpdate[] = [];
  const scores: UpdateScore[] = [];
  for (let k = 0; k < n; k++) {
    const out = excludedIndexes.has(k);
    (out ? excluded : kept).push(sorted[k]);
    scores.push({
      key: sorted[k].key,
      distance: distances[k],
      cosine: cosines[k],
      excluded: out,
    });
  }
  return { kept, excluded, scores, distanceThreshold };
}

/** The options merged over the defaults; throws RangeError on a value out of range. */
export function checkScreeningOptions(options: ScreeningOptions = {}): Required<ScreeningOptions> {
  const merged = { ...DEFAULT_SCREENING, ...options };
  const { madMultiplier, relativeMargin, minCosine } = merged;
  if (!(Number.isFinite(madMultiplier) && madMultiplier >= 0))
    throw new RangeError(`madMultiplier must be >= 0, got ${madMultiplier}`);
  if (!(Number.isFinite(relativeMargin) && relativeMargin >= 0))
    throw new RangeError(`relativeMargin must be >= 0, got ${relativeMargin}`);
  if (!(minCosine >= -1 && minCosine <= 1)) throw new RangeError(`minCosine must be in [-1, 1], got ${minCosine}`);
  return merged;
}

/** The median of an ascending array: the middle value, or the mean of the middle two (halved first: no overflow). */
function medianOfSorted(sorted: Float64Array): number {
  const middle = sorted.length >> 1;
  if (sorted.length % 2 === 1) return sorted[middle];
  return sorted[middle - 1] * 0.5 + sorted[middle] * 0.5;
}
