/**
 * Which shard hosts to avoid for a while: a host that failed a stage is skipped for `baseMs` × 2^(failures − 1), up to
 * `maxMs` (as Petals does with its servers); a success forgets its failures. Hosts that are not avoided are tried
 * fewest-failures first.
 */
export class HostBackoff {
  readonly #failures = new Map<string, { count: number; until: number }>();

  constructor(
    private readonly options: { baseMs?: number; maxMs?: number; now?: () => number } = {},
  ) {}

  /** Records a failed stage on `host` (an address or an endpoint). */
  fail(host: string): void {
    const now = this.#now();
    const count = (this.#failures.get(host.toLowerCase())?.count ?? 0) + 1;
    const wait = Math.min(this.options.maxMs ?? 60_000, (this.options.baseMs ?? 1_000) * 2 ** (count - 1));
    this.#failures.set(host.toLowerCase(), { count, until: now + wait });
  }

  succeed(host: string): void {
    this.#failures.delete(host.toLowerCase());
  }

  /** Whether `host` is being avoided now. */
  avoided(host: string): boolean {
    const f = this.#failures.get(host.toLowerCase());
    return f !== undefined && f.until > this.#now();
  }

  /** Hosts being avoided now. */
  avoidedCount(): number {
    const now = this.#now();
    let n = 0;
    for (const f of this.#failures.values()) if (f.until > now) n++;
    return n;
  }

  failures(host: string): number {
    return this.#failures.get(host.toLowerCase())?.count ?? 0;
  }

  /** `hosts` without those avoided now, fewest failures first (ties keep their order). */
  order<T extends { host: string }>(hosts: readonly T[]): T[] {
    return hosts
      .map((h, i) => ({ h, i }))
      .filter(({ h }) => !this.avoided(h.host))
      .sort((a, b) => this.failures(a.h.host) - this.failures(b.h.host) || a.i - b.i)
      .map(({ h }) => h);
  }

  #now(): number {
    return (this.options.now ?? Date.now)();
  }
}
