import type { ClientUpdate } from "./FedAvgAggregator.js";
import { InvalidUpdateError } from "./TrainingError.js";

/**
 * The screen's thresholds. An update is an outlier when its delta (update − global model) lies
 * farther from the coordinate-wise median delta than `medianDistance + madMultiplier · MAD +
 * relativeMargin · medianDistance` (median and MAD over every update's distance: pass 1), or when
 * it is on the minority side of the split of the updates pass 1 kept by their cosine to their mean
 * delta at `minCosine` (pass 2: usually the few pointing against the majority; when a coherent
 * minority has turned the mean around, that minority).
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
   * The cosine to the mean delta of the near updates that splits them into those against it
   * (below) and those along it, in [-1, 1]; 0 by default (an update that undoes the majority's
   * progress is out, whatever its length). `-1` disables the direction test.
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
  /** ‖delta − median delta‖₂ (pass 1). */
  distance: number;
  /**
   * cos(delta, mean delta of the updates within the distance threshold) (pass 2); 0 when either
   * is the zero vector (no direction to agree or disagree with).
   */
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
 * - Math.abs and comparisons are exact; the two thresholds are the only decisions.
 * - At most floor((n − 1) / 2) updates are excluded, so the kept updates are always a strict
 *   majority: with more outliers than that, the far ones go first (farthest first), then the
 *   direction minority; ties: the larger key first. With one or
 *   two updates nothing can be excluded: there is no majority to compare against.
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

  // Pass 1, distance: to the coordinate-wise median delta, which no minority can move far.
  const all = Array.from({ length: n }, (_, k) => k);
  const distanceReference = medianDelta(sorted, all, global);
  const distances = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const weights = sorted[k].weights;
    let squared = 0;
    for (let i = 0; i < length; i++) {
      const off = weights[i] - global[i] - distanceReference[i];
      squared += off * off;
    }
    distances[k] = Math.sqrt(squared);
  }
  const medianDistance = medianOfSorted(Float64Array.from(distances).sort());
  const mad = medianOfSorted(Float64Array.from(distances, (d) => Math.abs(d - medianDistance)).sort());
  const distanceThreshold = medianDistance + madMultiplier * mad + relativeMargin * medianDistance;
  const far = all.filter((k) => distances[k] > distanceThreshold);

  // Pass 2, direction: against the mean delta of the updates pass 1 kept (unweighted: sample counts
  // are self-reported). Not a median: a coalition of equal updates sitting inside the honest spread
  // becomes the coordinate-wise median, and would turn every honest update "against" it; it must
  // outweigh the honest updates to turn a mean around, and then it is the one pass 1 measures.
  const near = all.filter((k) => distances[k] <= distanceThreshold);
  const directionReference = meanDelta(sorted, near, global);
  let referenceSquared = 0;
  for (let i = 0; i < length; i++) referenceSquared += directionReference[i] * directionReference[i];
  const cosines = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const weights = sorted[k].weights;
    let dot = 0;
    let norm = 0;
    for (let i = 0; i < length; i++) {
      const delta = weights[i] - global[i];
      dot += delta * directionReference[i];
      norm += delta * delta;
    }
    const scale = Math.sqrt(norm) * Math.sqrt(referenceSquared);
    cosines[k] = scale === 0 ? 0 : dot / scale;
  }
  // The minority side of the split is out. Usually that is the few against the mean; when most near
  // updates point against it, a coherent minority within the distance threshold has outweighed
  // them and turned the mean around, and that minority (the side "with" the mean) is out. A tie
  // shows no majority direction: nobody is excluded for direction.
  const against = near.filter((k) => minCosine > -1 && cosines[k] < minCosine);
  const along = near.filter((k) => !(minCosine > -1 && cosines[k] < minCosine));
  const minority = against.length < along.length ? against : along.length < against.length ? along : [];

  // Far ones first, farthest first; then the direction minority, farthest from the majority's side
  // first; ties: the later key first.
  far.sort((a, b) => distances[b] - distances[a] || b - a);
  const sign = minority === against ? 1 : -1;
  minority.sort((a, b) => sign * (cosines[a] - cosines[b]) || b - a);
  const excludedIndexes = new Set([...far, ...minority].slice(0, Math.floor((n - 1) / 2)));

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

/** The coordinate-wise median of the deltas (update − global) of the updates at `indexes`; zeros when there are none. */
function medianDelta(sorted: readonly ClientUpdate[], indexes: readonly number[], global: Float32Array): Float64Array {
  const reference = new Float64Array(global.length);
  if (indexes.length === 0) return reference;
  const column = new Float64Array(indexes.length);
  for (let i = 0; i < global.length; i++) {
    for (let j = 0; j < indexes.length; j++) column[j] = sorted[indexes[j]].weights[i] - global[i];
    column.sort();
    reference[i] = medianOfSorted(column);
  }
  return reference;
}

/** The mean of the deltas (update − global) of the updates at `indexes`, summed in index order; zeros when there are none. */
function meanDelta(sorted: readonly ClientUpdate[], indexes: readonly number[], global: Float32Array): Float64Array {
  const mean = new Float64Array(global.length);
  if (indexes.length === 0) return mean;
  for (const k of indexes) {
    const weights = sorted[k].weights;
    for (let i = 0; i < global.length; i++) mean[i] += weights[i] - global[i];
  }
  for (let i = 0; i < global.length; i++) mean[i] /= indexes.length;
  return mean;
}

/** The median of an ascending array: the middle value, or the mean of the middle two (halved first: no overflow). */
function medianOfSorted(sorted: Float64Array): number {
  const middle = sorted.length >> 1;
  if (sorted.length % 2 === 1) return sorted[middle];
  return sorted[middle - 1] * 0.5 + sorted[middle] * 0.5;
}
