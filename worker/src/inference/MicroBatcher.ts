/**
 * Collects items submitted one by one (one per queue job) into batches of at most `maxSize`,
 * waiting at most `maxWaitMs` after the first item of a batch, and hands each batch to one
 * handler call. Every submitter gets the result at its own position, or the batch's error.
 */
export interface MicroBatcherOptions<T, R> {
  readonly maxSize: number;
  readonly maxWaitMs: number;
  readonly handle: (items: T[]) => Promise<R[]>;
}

interface Pending<T, R> {
  readonly item: T;
  readonly resolve: (result: R) => void;
  readonly reject: (err: unknown) => void;
}

export class MicroBatcher<T, R> {
  readonly #options: MicroBatcherOptions<T, R>;
  #pending: Pending<T, R>[] = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #inFlight = new Set<Promise<void>>();

  constructor(options: MicroBatcherOptions<T, R>) {
    if (!Number.isInteger(options.maxSize) || options.maxSize < 1) throw new RangeError("maxSize must be an integer >= 1");
    if (options.maxWaitMs < 0) throw new RangeError("maxWaitMs must be >= 0");
    this.#options = options;
  }

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      if (this.#pending.length >= this.#options.maxSize) this.flush();
      else this.#timer ??= setTimeout(() => this.flush(), this.#options.maxWaitMs);
    });
  }

  /** Starts a batch with what is waiting now (at most maxSize items; the rest waits for the next). */
  flush(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0, this.#options.maxSize);
      const run = this.#run(batch).finally(() => this.#inFlight.delete(run));
      this.#inFlight.add(run);
    }
  }

  /** Flushes what is waiting and resolves once every batch started so far has settled. */
  async drain(): Promise<void> {
    this.flush();
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
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
