/** Consecutive 429s from a host, with no stage served in between, after which the router treats it as failing. */
export const BUSY_STREAK_LIMIT = 16;

/**
 * The stages a router has in flight on each shard host, and how many it may send each one. A stage takes a slot on
 * the host it goes to and gives it back when the host answered (or failed); a stage that finds no free slot on any
 * host of its shard waits for one (`changed`) instead of being sent to be refused. Hosts are keyed by address,
 * lower-cased.
 *
 * The limit per host adapts to what the host admits (additive increase, multiplicative decrease, as TCP does with
 * its window): it starts at `perHost`; a 429 BUSY sets it to the stages the host was running for this router when
 * it refused (at least 1) and pauses the host for a moment (`cool`); each stage served raises it by 1/limit, back up
 * to `perHost`. A host that admits fewer stages per caller than `perHost` (another batch size, another backend, or
 * other processes of the same operator sharing the key) is soon sent only what it takes. A host that answers 429
 * `BUSY_STREAK_LIMIT` times in a row without serving a stage is reported (`busy` returns true) so that the router
 * puts it in back-off, behind the other hosts of its shard: a host that only ever says "busy" is not asked first.
 */
export class HostSlots {
  readonly #held = new Map<string, number>();
  readonly #limit = new Map<string, number>();
  readonly #coolUntil = new Map<string, number>();
  readonly #busyStreak = new Map<string, number>();
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

  /** The stages `host` may have in flight now (its adapted limit, whole). */
  limit(host: string): number {
    return Math.floor(this.#limit.get(host.toLowerCase()) ?? this.perHost);
  }

  /** Whether a stage may go to `host` now: under its limit, and not pausing after a 429. */
  free(host: string): boolean {
    return this.held(host) < this.limit(host) && this.coolingMs(host) === 0;
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

  /** `host` served a stage: its limit grows back towards `perHost`, and its streak of 429s ends. */
  served(host: string): void {
    const key = host.toLowerCase();
    this.#busyStreak.delete(key);
    const limit = this.#limit.get(key);
    if (limit === undefined) return;
    const next = limit + 1 / limit;
    if (next >= this.perHost) this.#limit.delete(key);
    else this.#limit.set(key, next);
  }

  /**
   * `host` answered 429 while this router had `held(host)` stages on it (the refused one included): its limit drops
   * to the others (at least 1) and no stage goes to it for `pauseMs`. True when its 429s reached BUSY_STREAK_LIMIT in
   * a row (the streak then starts again): the caller puts the host behind the others.
   */
  busy(host: string, pauseMs: number): boolean {
    const key = host.toLowerCase();
    this.#limit.set(key, Math.max(1, Math.min(this.#limit.get(key) ?? this.perHost, this.held(key) - 1)));
    this.#coolUntil.set(key, Math.max(this.#coolUntil.get(key) ?? 0, this.now() + pauseMs));
    const streak = (this.#busyStreak.get(key) ?? 0) + 1;
    if (streak < BUSY_STREAK_LIMIT) {
      this.#busyStreak.set(key, streak);
      return false;
    }
    this.#busyStreak.delete(key);
    return true;
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
