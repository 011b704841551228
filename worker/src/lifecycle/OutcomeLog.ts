/**
 * What a queue consumer did, kept in memory for stats and tests: counts by outcome key, the latest
 * outcomes and the latest failures, each bounded (a daemon runs for months).
 */
export class OutcomeLog<T> {
  readonly #kept: number;
  readonly #counts: Record<string, number> = {};
  readonly #results: T[] = [];
  readonly #failures: { jobId: string | undefined; error: string }[] = [];

  constructor(kept = 1_000) {
    this.#kept = kept;
  }

  get counts(): Readonly<Record<string, number>> {
    return { ...this.#counts };
  }

  get results(): readonly T[] {
    return [...this.#results];
  }

  get failures(): readonly { jobId: string | undefined; error: string }[] {
    return [...this.#failures];
  }

  count(key: string): void {
    this.#counts[key] = (this.#counts[key] ?? 0) + 1;
  }

  /** Counts `key` and keeps `outcome`. */
  record(key: string, outcome: T): void {
    this.count(key);
    this.#results.push(outcome);
    if (this.#results.length > this.#kept) this.#results.splice(0, this.#results.length - this.#kept);
  }

  /** Counts a failure (under `failed`) and keeps its message. */
  fail(jobId: string | undefined, error: string): void {
    this.count("failed");
    this.#failures.push({ jobId, error });
    if (this.#failures.length > this.#kept) this.#failures.shift();
  }
}
