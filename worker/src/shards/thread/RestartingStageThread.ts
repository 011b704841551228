import type { ContentStore } from "../../ipfs/ContentStore.js";
import type { BackendPreference } from "../../ml/backend.js";
import type { ShardToLoad } from "../ShardedModels.js";
import type { StageResult } from "../ShardStageRunner.js";
import type { StageBatchRunner } from "../StageBatching.js";
import { StageThreadStoppedError, ThreadedStageRunner } from "./ThreadedStageRunner.js";

export interface RestartingStageThreadOptions {
  readonly backend: BackendPreference;
  /** Where the shards' weights are read from, at the first load and at every restart. */
  readonly store: ContentStore;
  /** The first restart's delay, doubled (up to `maxDelayMs`) while the thread keeps dying within `maxDelayMs` of its start. */
  readonly minDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Told each time the thread stops on its own, with the delay before the next start. */
  readonly onStopped?: (err: StageThreadStoppedError, restartInMs: number) => void;
  /** Told each time a new thread serves the shards again, or fails to (it is then tried again later). */
  readonly onRestarted?: (restarts: number) => void;
  readonly onRestartFailed?: (err: unknown, restartInMs: number) => void;
  /** As ThreadedStageRunner.start's `script` (tests). */
  readonly script?: { url: URL; execArgv?: string[] };
}

/**
 * A stage thread that comes back: when it dies (out of memory, a kernel that crashes), the stages it had fail
 * (retryable: the router sends them to other hosts), and a new thread is started and loads the same shards from the
 * store (checked against their hashes again), so that the host serves them again without its operator. Meanwhile it
 * serves none (`serves` false: callers are told to try another host). A thread that keeps dying soon after its start
 * is restarted later and later (doubling up to `maxDelayMs`), so a crash loop does not spend the host reloading.
 */
export class RestartingStageThread implements StageBatchRunner {
  readonly #o: RestartingStageThreadOptions;
  readonly #minDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #shards: ShardToLoad[] = [];
  #current: ThreadedStageRunner | undefined;
  /** A new thread loading the shards (a restart under way). */
  #starting: ThreadedStageRunner | undefined;
  /** When the current thread began to serve. */
  #servingSince = 0;
  #delayMs: number;
  #timer: NodeJS.Timeout | undefined;
  #disposed = false;
  /** Threads started after the first. */
  restarts = 0;

  private constructor(options: RestartingStageThreadOptions) {
    this.#o = options;
    this.#minDelayMs = options.minDelayMs ?? 1_000;
    this.#maxDelayMs = options.maxDelayMs ?? 60_000;
    this.#delayMs = this.#minDelayMs;
  }

  static async start(options: RestartingStageThreadOptions): Promise<RestartingStageThread> {
    const supervised = new RestartingStageThread(options);
    supervised.#current = await supervised.#startThread();
    supervised.#servingSince = Date.now();
    return supervised;
  }

  /** The backend the thread's models run on. */
  get backend(): string | undefined {
    return this.#current?.backend;
  }

  /** Loads a shard (ThreadedStageRunner.load), and again into every thread started after this one. */
  async load(shard: ShardToLoad): Promise<void> {
    const current = this.#current;
    if (current === undefined) throw new StageThreadStoppedError("the stage thread is restarting");
    await current.load(this.#o.store, shard);
    this.#shards.push(shard);
  }

  serves(versionId: bigint, shardIndex: number): boolean {
    return this.#current?.serves(versionId, shardIndex) === true;
  }

  async run(versionId: bigint, shardIndex: number, input: Uint8Array): Promise<Uint8Array> {
    return this.#thread().run(versionId, shardIndex, input);
  }

  async runBatch(versionId: bigint, shardIndex: number, inputs: readonly Uint8Array[]): Promise<StageResult[]> {
    return this.#thread().runBatch(versionId, shardIndex, inputs);
  }

  async dispose(): Promise<void> {
    this.#disposed = true;
    clearTimeout(this.#timer);
    const current = this.#current;
    const starting = this.#starting;
    this.#current = undefined;
    this.#starting = undefined;
    await Promise.all([current?.dispose(), starting?.dispose()]);
  }

  #thread(): ThreadedStageRunner {
    if (this.#current === undefined) throw new StageThreadStoppedError("the stage thread is restarting");
    return this.#current;
  }

  async #startThread(): Promise<ThreadedStageRunner> {
    const thread = await ThreadedStageRunner.start({
      backend: this.#o.backend,
      onStopped: (err) => this.#stopped(thread, err),
      ...(this.#o.script === undefined ? {} : { script: this.#o.script }),
    });
    return thread;
  }

  #stopped(thread: ThreadedStageRunner, err: StageThreadStoppedError): void {
    if (this.#current !== thread || this.#disposed) return;
    this.#current = undefined;
    // Dying soon after it began to serve: later next time. Having served a while: as soon as the first time.
    this.#delayMs = Date.now() - this.#servingSince < this.#maxDelayMs ? this.#delayMs : this.#minDelayMs;
    const delay = this.#delayMs;
    this.#delayMs = Math.min(this.#maxDelayMs, this.#delayMs * 2);
    this.#o.onStopped?.(err, delay);
    this.#schedule(delay);
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(() => void this.#restart(), delayMs);
    this.#timer.unref();
  }

  async #restart(): Promise<void> {
    if (this.#disposed) return;
    let thread: ThreadedStageRunner | undefined;
    try {
      thread = await this.#startThread();
      this.#starting = thread;
      for (const shard of this.#shards) {
        if (this.#disposed) break; // dispose() stops this thread: what is left to load is not
        await thread.load(this.#o.store, shard);
      }
    } catch (err) {
      this.#starting = undefined;
      await thread?.dispose();
      if (this.#disposed) return;
      const delay = this.#delayMs;
      this.#delayMs = Math.min(this.#maxDelayMs, this.#delayMs * 2);
      this.#o.onRestartFailed?.(err, delay);
      this.#schedule(delay);
      return;
    }
    this.#starting = undefined;
    if (this.#disposed) return void (await thread.dispose());
    this.#current = thread;
    this.#servingSince = Date.now();
    this.restarts++;
    this.#o.onRestarted?.(this.restarts);
  }
}
