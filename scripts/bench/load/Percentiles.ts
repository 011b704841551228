/** Nearest-rank percentile of an ascending array (p in 0..100); NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * Fulfilments per second in the steady part of a run: between the fulfilments at the 10th and the
 * 90th percentile of the times they were seen, so start-up and the tail of the last batch do not
 * count. Where that span is empty (fewer than 10 fulfilments, or all in one batch) it is every
 * fulfilment over the time from the first request mined to the last fulfilment seen.
 */
export function sustainedRate(seenAtMs: readonly number[], firstMinedAtMs: number): number {
  const sorted = [...seenAtMs].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  if (sorted.length >= 10) {
    const lo = Math.floor(sorted.length * 0.1);
    const hi = Math.ceil(sorted.length * 0.9) - 1;
    if (sorted[hi] > sorted[lo]) return (hi - lo) / ((sorted[hi] - sorted[lo]) / 1000);
  }
  return sorted.length / ((sorted[sorted.length - 1] - firstMinedAtMs) / 1000);
}
