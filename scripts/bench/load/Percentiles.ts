/** Nearest-rank percentile of an ascending array (p in 0..100); NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * Fulfilments per second in the steady part of a run: between the fulfilments at the 10th and the
 * 90th percentile of the times they were seen, so start-up and the tail of the last batch do not
 * count. Falls back to the whole span for fewer than 10 fulfilments.
 */
export function sustainedRate(seenAtMs: readonly number[]): number {
  const sorted = [...seenAtMs].sort((a, b) => a - b);
  if (sorted.length < 2) return Number.NaN;
  const lo = sorted.length >= 10 ? Math.floor(sorted.length * 0.1) : 0;
  const hi = sorted.length >= 10 ? Math.ceil(sorted.length * 0.9) - 1 : sorted.length - 1;
  const seconds = (sorted[hi] - sorted[lo]) / 1000;
  return seconds > 0 ? (hi - lo) / seconds : Number.POSITIVE_INFINITY;
}
