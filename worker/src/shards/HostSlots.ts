/**
 * The stages a router has in flight on each shard host, capped (`perHost`), and the hosts that said "busy" (429) and
 * are left alone for a moment. A stage takes a slot on the host it goes to and gives it back when the host answered
 * (or failed); a stage that finds no free slot on any host of its shard waits for one (`changed`) instead of being
 * sent to be refused. Hosts are keyed by address, lower-cased.
 */
export class HostSlots {
  readonly #held = new Map<string, number>();
  readonly #coolUntil = new Map<string, number>();
  readonly #waiters = new Set<() => void>();

  constructor(
    readonly perHost: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isInteger(perHost) || perHost < 1) throw new RangeError("maxStagesPerHost must be an integer >= 1");
  }

  /** Stages in flight on `host` now. */
  held(host: string): number {
    return this.#held.get(host.toLowerCase()) ?? 0;
  }

  /** Stages in flight on every host together. */
  total(): number {
    let n = 0;
    for (const held of this.#held.values()) n += held;
    return n;
  }

  /** Whether a stage may go to `host` now: a slot is free and the host is not cooling down after a 429. */
  free(host: string): boolean {
    return this.held(host) < this.perHost && this.coolingMs(host) === 0;
  }

  acquire(host: string): void {
    const key = host.toLowerCase();
    this.#held.set(key, (this.#held.get(key) ?? 0) + 1);
  }

  release(host: string): void {
    const key = host.toLowerCase();
    const left = (this.#held.get(key) ?? 1) - 1;
    if (left <= 0) this.#held.delete(key);
    else this.#held.set(key, left);
    this.#wake();
  }

  /** `host` answered 429: no stage goes to it for `ms` (other hosts of its shard are still tried). */
  cool(host: string, ms: number): void {
    const key = host.toLowerCase();
    this.#coolUntil.set(key, Math.max(this.#coolUntil.get(key) ?? 0, this.now() + ms));
  }

  /** How long `host` is still left alone after its last 429 (0: not). */
  coolingMs(host: string): number {
    const key = host.toLowerCase();
    const until = this.#coolUntil.get(key);
    if (until === undefined) return 0;
    const left = until - this.now();
    if (left > 0) return left;
    this.#coolUntil.delete(key);
    return 0;
  }

  /** Resolves when a slot is given back anywhere, or after `ms` (a cooling host's pause ending, a deadline). */
  changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.#waiters.add(done);
    });
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}
