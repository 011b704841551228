import type { Counter } from "prom-client";

/**
 * Moves a Prometheus counter along a monotonic count kept elsewhere: increments it by what the count grew since the
 * last scrape (`seen` remembers, per label set). The first scrape creates the series at 0, so that a rate over it
 * exists before the first event; a count that went back (its owner restarted) adds nothing and is followed from there.
 */
export function follow(counter: Counter<string>, labels: Record<string, string>, value: number, seen: Map<string, number>): void {
  const key = JSON.stringify(labels);
  const delta = value - (seen.get(key) ?? 0);
  if (delta > 0 || !seen.has(key)) counter.inc(labels, Math.max(0, delta));
  seen.set(key, value);
}
