import { Worker } from "node:worker_threads";
import type { io } from "@tensorflow/tfjs";
import type { BackendPreference } from "../../ml/backend.js";
import type { ContentStore } from "../../ipfs/ContentStore.js";
import { loadShardWith } from "../../ml/sharding/ShardArtifacts.js";
import { ModelIntegrityError, ModelManifestError } from "../../ml/ModelError.js";
import { ActivationFormatError, ShardingError } from "../../ml/sharding/ShardingError.js";
import type { ShardToLoad } from "../ShardedModels.js";
import type { StageResult } from "../ShardStageRunner.js";
import type { StageBatchRunner } from "../StageBatching.js";
import { BUILD_ID, packed, type FromStageThread, type ThreadError, type ToStageThread } from "./StageThreadProtocol.js";

/** The stage thread stopped (it crashed, ran out of memory, or was disposed): no stage runs here any more. */
export class StageThreadStoppedError extends Error {
  override readonly name = "StageThreadStoppedError";
  /** Another host of the shard can run the stage. */
  readonly retryable = true;
}

type Call = { resolve(message: FromStageThread): void; reject(err: Error): void };

/**
 * A StageBatchRunner whose models live in a worker thread (StageThread.ts): predictions run there, off the event loop
 * that serves stages and routes requests. The ShardStageRunner in the thread does the work, so outputs are byte for
 * byte those of the same runner in process. Weights stream from the store to the thread one chunk at a time, hashed
 * here on the way (loadShardWith): the file is never held whole on either side, and a shard whose bytes are not the
 * committed ones is freed in the thread, never served. A thread that dies fails the stages it had, and every later
 * one, with a retryable StageThreadStoppedError (the router sends them to another host); the daemon logs it.
 */
export class ThreadedStageRunner implements StageBatchRunner {
  readonly #worker: Worker;
  readonly #calls = new Map<number, Call>();
  readonly #feeds = new Map<number, () => void>();
  readonly #served = new Set<string>();
  #nextId = 1;
  #stopped: StageThreadStoppedError | undefined;
  #onStopped: ((err: StageThreadStoppedError) => void) | undefined;
  /** The backend the thread's models run on. */
  readonly backend: string;

  private constructor(worker: Worker, backend: string) {
    this.#worker = worker;
    this.backend = backend;
    worker.on("message", (message: FromStageThread) => this.#receive(message));
    worker.on("error", (err) => this.#stop(new StageThreadStoppedError(`the stage thread failed: ${err.message}`, { cause: err })));
    worker.on("exit", (code) => this.#stop(new StageThreadStoppedError(`the stage thread exited (${code})`)));
  }

  /** Starts a stage thread on `backend` (the process's preference: the thread selects its own the same way). */
  static async start(options: {
    backend: BackendPreference;
    /** Told once when the thread stops on its own (not by `dispose`): the daemon logs it. */
    onStopped?: (err: StageThreadStoppedError) => void;
    /** The thread's script: StageThread.ts (or its bundle) unless a test gives another that speaks the same messages. */
    script?: { url: URL; execArgv?: string[] };
    /** How long the thread may take to be ready (its backend initialized) before it is stopped and this fails. */
    startTimeoutMs?: number;
  }): Promise<ThreadedStageRunner> {
    const script = options.script ?? stageThreadScript();
    const timeoutMs = options.startTimeoutMs ?? 60_000;
    const worker = new Worker(script.url, { workerData: { backend: options.backend }, ...(script.execArgv === undefined ? {} : { execArgv: script.execArgv }) });
    let timer: NodeJS.Timeout | undefined;
    let onError: ((err: Error) => void) | undefined;
    let onExit: ((code: number) => void) | undefined;
    let onMessage: ((message: FromStageThread) => void) | undefined;
    const detach = () => {
      clearTimeout(timer);
      if (onError !== undefined) worker.off("error", onError);
      if (onExit !== undefined) worker.off("exit", onExit);
      if (onMessage !== undefined) worker.off("message", onMessage);
    };
    try {
      const backend = await new Promise<string>((resolve, reject) => {
        timer = setTimeout(() => reject(new StageThreadStoppedError(`the stage thread could not start: not ready within ${timeoutMs} ms`)), timeoutMs);
        onError = (err) => reject(new StageThreadStoppedError(`the stage thread could not start: ${err.message}`, { cause: err }));
        onExit = (code) => reject(new StageThreadStoppedError(`the stage thread could not start: it exited (${code})`));
        onMessage = (message) => {
          if (message.kind !== "ready") reject(new StageThreadStoppedError(`the stage thread could not start: it said ${message.kind} before it was ready`));
          else if (message.build !== BUILD_ID) reject(new StageThreadStoppedError(`the stage thread could not start: it is of build ${message.build}, this worker of build ${BUILD_ID} (the bundle was rebuilt while the worker ran: restart the worker)`));
          else resolve(message.backend);
        };
        worker.once("error", onError).once("exit", onExit).once("message", onMessage);
      });
      detach();
      const runner = new ThreadedStageRunner(worker, backend);
      if (options.onStopped !== undefined) runner.#onStopped = options.onStopped;
      return runner;
    } catch (err) {
      detach();
      await worker.terminate();
      throw err;
    }
  }

  /**
   * Loads a shard into the thread from `store`: the thread builds it from the weights as they stream by, this side
   * hashes them on the way and tells the thread to serve the model only if they are the committed ones (else it is
   * freed, never served). Served once this resolves.
   */
  async load(store: ContentStore, shard: ShardToLoad): Promise<void> {
    const built = await loadShardWith(store, shard.manifestCid, shard.contentHash, (modelTopology, weightSpecs, weights, byteLength) => this.#build(shard, modelTopology, weightSpecs, weights, byteLength));
    await this.#call(built.id, { kind: "commit", id: built.id });
    this.#served.add(key(shard.versionId, shard.shardIndex));
  }

  /** The thread builds the model while this side answers its pulls from `weights`; resolves once it is built, held aside. */
  async #build(shard: ShardToLoad, modelTopology: object, weightSpecs: readonly io.WeightsManifestEntry[], weights: AsyncIterable<Uint8Array>, byteLength: number): Promise<{ id: number; dispose(): void }> {
    const id = this.#nextId++;
    const source = weights[Symbol.asyncIterator]();
    let sourceError: unknown;
    this.#feeds.set(id, () => {
      source.next().then(
        (next) => {
          if (next.done === true) return this.#post({ kind: "end", id });
          const chunk = packed([next.value]);
          this.#post({ kind: "chunk", id, bytes: chunk.views[0]! }, [chunk.buffer]);
        },
        (err: unknown) => {
          sourceError = err;
          this.#post({ kind: "abort", id, message: err instanceof Error ? err.message : String(err) });
        },
      );
    });
    try {
      const { versionId, shardIndex, shardCount, codecs } = shard;
      await this.#call(id, { kind: "load", id, versionId, shardIndex, shardCount, codecs, modelTopology, weightSpecs, byteLength });
    } catch (err) {
      throw sourceError ?? err;
    } finally {
      this.#feeds.delete(id);
    }
    return { id, dispose: () => this.#post({ kind: "discard", id }) };
  }

  serves(versionId: bigint, shardIndex: number): boolean {
    return this.#stopped === undefined && this.#served.has(key(versionId, shardIndex));
  }

  async run(versionId: bigint, shardIndex: number, input: Uint8Array): Promise<Uint8Array> {
    const [result] = await this.runBatch(versionId, shardIndex, [input]);
    if (!result!.ok) throw result!.error;
    return result!.output;
  }

  /** ShardStageRunner.runBatch in the thread: each stage its own output or its own error. */
  async runBatch(versionId: bigint, shardIndex: number, inputs: readonly Uint8Array[]): Promise<StageResult[]> {
    if (this.#stopped !== undefined) throw this.#stopped;
    if (!this.#served.has(key(versionId, shardIndex))) return inputs.map(() => ({ ok: false, error: new ShardingError(`shard ${shardIndex} of version ${versionId} is not served here`) }));
    const copies = packed(inputs);
    const id = this.#nextId++;
    const answer = await this.#call(id, { kind: "run", id, versionId, shardIndex, inputs: copies.views }, [copies.buffer]);
    if (answer.kind !== "ran") throw new Error(`the stage thread answered ${answer.kind} to a run`);
    return answer.results.map((r): StageResult => (r.ok ? { ok: true, output: r.output } : { ok: false, error: fromThread(r.error) }));
  }

  /** Stops the thread: its models go with it; stages still running fail (retryable). */
  async dispose(): Promise<void> {
    this.#stop(new StageThreadStoppedError("the stage thread was stopped"), false);
    await this.#worker.terminate();
  }

  #call(id: number, message: ToStageThread, transfer: ArrayBuffer[] = []): Promise<FromStageThread> {
    if (this.#stopped !== undefined) return Promise.reject(this.#stopped);
    return new Promise<FromStageThread>((resolve, reject) => {
      this.#calls.set(id, { resolve, reject });
      try {
        this.#post(message, transfer);
      } catch (err) {
        this.#calls.delete(id); // a message that cannot be sent leaves no call waiting
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  #post(message: ToStageThread, transfer: ArrayBuffer[] = []): void {
    if (this.#stopped === undefined) this.#worker.postMessage(message, transfer);
  }

  #receive(message: FromStageThread): void {
    if (message.kind === "pull") return this.#feeds.get(message.id)?.();
    if (message.kind === "ready") return;
    const call = this.#calls.get(message.id);
    if (call === undefined) return;
    this.#calls.delete(message.id);
    if (message.kind === "failed") call.reject(fromThread(message.error));
    else call.resolve(message);
  }

  #stop(err: StageThreadStoppedError, report = true): void {
    if (this.#stopped !== undefined) return;
    this.#stopped = err;
    for (const call of this.#calls.values()) call.reject(err);
    this.#calls.clear();
    this.#feeds.clear();
    if (report) this.#onStopped?.(err);
  }
}

/** The error classes a caller tells apart (`instanceof`), rebuilt from their names; others are plain Errors named as theirs. */
const KNOWN_ERRORS: Record<string, new (message: string) => Error> = { ShardingError, ActivationFormatError, ModelManifestError, ModelIntegrityError };

/** An error from the thread, with its class (or its class name) kept; its stack stays there. */
function fromThread(error: ThreadError): Error {
  const Known = KNOWN_ERRORS[error.name];
  const err = Known === undefined ? new Error(error.message) : new Known(error.message);
  if (err.name !== error.name) Object.defineProperty(err, "name", { value: error.name });
  return err;
}

/**
 * The thread's script: `stage-thread.mjs` beside the bundle this code was bundled into (Bundles.ts writes it with
 * every bundle), or the TypeScript source under tsx when the sources run as they are (tests, Hardhat scripts).
 */
function stageThreadScript(): { url: URL; execArgv?: string[] } {
  const here = import.meta.url;
  if (here.endsWith(".ts")) return { url: new URL("./StageThread.ts", here), execArgv: ["--import", "tsx"] };
  return { url: new URL("./stage-thread.mjs", here) };
}

function key(versionId: bigint, shardIndex: number): string {
  return `${versionId}:${shardIndex}`;
}
