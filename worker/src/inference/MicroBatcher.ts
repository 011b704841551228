/**
 * Collects items submitted one by one (one per queue job) into batches of at most `maxSize` and
 * hands each batch to one handler call; every submitter gets the result at its own position, or the
 * batch's error.
 *
 * Adaptive: at most `maxInFlight` batches are handled at once, and a batch starts as soon as a slot
 * is free and one of these holds:
 * - no batch is in flight (the pipeline is idle: waiting could only add latency; what was submitted
 *   in the same turn of the event loop goes together), or, with `idleWaitMs`, the oldest item has
 *   waited that long;
 * - a full batch is waiting;
 * - the oldest waiting item has waited `maxWaitMs`.
 * So a lone request goes at once, and under load the items that arrive while the slots are busy
 * gather into the next batch: batches grow with the load, and with them the number of requests
 * that share each batch's cost (two transactions), instead of the pipeline filling with small ones.
 */
export interface MicroBatcherOptions<T, R> {
  readonly maxSize: number;
  /** Longest wait of an item while batches are in flight but a slot is free (0: none). */
  readonly maxWaitMs: number;
  /** Batches handled at once (default: unbounded). Items wait for a free slot. */
  readonly maxInFlight?: number;
  /**
   * Longest wait of an item while no batch is in flight (default 0: at once). Above 0 an idle batcher trades
   * latency for fuller batches, where each batch's fixed cost (transactions) outweighs a request's wait.
   */
  readonly idleWaitMs?: number;
  readonly handle: (items: T[]) => Promise<R[]>;
}

interface Pending<T, R> {
  readonly item: T;
  readonly since: number;
  readonly resolve: (result: R) => void;
  readonly reject: (err: unknown) => void;
}

export class MicroBatcher<T, R> {
  readonly #options: MicroBatcherOptions<T, R>;
  readonly #maxInFlight: number;
  #pending: Pending<T, R>[] = [];
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  readonly #inFlight = new Set<Promise<void>>();

  constructor(options: MicroBatcherOptions<T, R>) {
    if (!Number.isInteger(options.maxSize) || options.maxSize < 1) throw new RangeError("maxSize must be an integer >= 1");
    if (options.maxWaitMs < 0) throw new RangeError("maxWaitMs must be >= 0");
    if ((options.idleWaitMs ?? 0) < 0) throw new RangeError("idleWaitMs must be >= 0");
    const maxInFlight = options.maxInFlight ?? Number.POSITIVE_INFINITY;
    if (!(maxInFlight >= 1) || (Number.isFinite(maxInFlight) && !Number.isInteger(maxInFlight))) throw new RangeError("maxInFlight must be an integer >= 1");
    this.#options = options;
    this.#maxInFlight = maxInFlight;
  }

  /** Batches being handled now. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Items waiting for a batch. */
  get waiting(): number {
    return this.#pending.length;
  }

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#pending.push({ item, since: Date.now(), resolve, reject });
      this.#schedule();
    });
  }

  /** Starts batches with everything waiting now, whatever the slots (at most maxSize items each). */
  flush(): void {
    this.#clearTimers();
    while (this.#pending.length > 0) this.#start();
  }

  /** Flushes what is waiting and resolves once every batch started so far has settled. */
  async drain(): Promise<void> {
    this.flush();
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /** Starts every batch the policy allows now, and arms a timer (or an immediate) for the next decision. */
  #schedule(): void {
    this.#clearTimers();
    const { maxSize, maxWaitMs, idleWaitMs = 0 } = this.#options;
    while (this.#pending.length > 0 && this.#inFlight.size < this.#maxInFlight) {
      const waited = Date.now() - this.#pending[0].since;
      const idle = this.#inFlight.size === 0;
      if (idle && idleWaitMs === 0 && this.#pending.length < maxSize) {
        // Idle: go at the end of this turn of the event loop, with whatever else arrives in it.
        this.#immediate = setImmediate(() => {
          this.#immediate = undefined;
          if (this.#pending.length > 0 && this.#inFlight.size < this.#maxInFlight) this.#start();
          this.#schedule();
        });
        return;
      }
      const wait = idle ? idleWaitMs : maxWaitMs;
      if (this.#pending.length < maxSize && waited < wait) {
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.#schedule();
        }, wait - waited);
        return;
      }
      this.#start();
    }
    // Every slot busy: the next batch to finish calls #schedule again.
  }

  #clearTimers(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
  }

  #start(): void {
    const batch = this.#pending.splice(0, this.#options.maxSize);
    const run = this.#run(batch).finally(() => {
      this.#inFlight.delete(run);
      this.#schedule();
    });
    this.#inFlight.add(run);
  }

  async #run(batch: Pending<T, R>[]): Promise<void> {
    try {
      const results = await this.#options.handle(batch.map((p) => p.item));
      if (results.length !== batch.length) {
        throw new Error(`batch handler returned ${results.length} results for ${batch.length} items`);
      }
      batch.forEach((p, i) => p.resolve(results[i]));
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }
}
