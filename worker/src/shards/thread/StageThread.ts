/**
 * The stage thread: the shards a host serves, loaded and run off its event loop (ThreadedStageRunner starts it). While
 * a shard predicts here, the event loop keeps reading stages off the wire, checking hashes and signatures and sending
 * the answers of the stages already run; a claimant that hosts a shard keeps routing its other requests' stages.
 */
import { parentPort, workerData } from "node:worker_threads";
import { selectBackend, type BackendPreference } from "../../ml/backend.js";
import { loadLayersModelByWeight } from "../../ml/LayersModelLoading.js";
import { ShardStageRunner, type HostedShard } from "../ShardStageRunner.js";
import { BUILD_ID, packed, threadError, type FromStageThread, type ThreadStageResult, type ToStageThread } from "./StageThreadProtocol.js";

if (parentPort === null) throw new Error("StageThread.ts runs as a worker thread: ThreadedStageRunner.start() starts it");
const port = parentPort;
const { backend } = workerData as { backend: BackendPreference };

const runner = new ShardStageRunner();
/** Loads waiting for their next chunk: the resolver of that wait. */
const waiting = new Map<number, (message: ToStageThread) => void>();

function post(message: FromStageThread, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

/** Load `id`'s weights, one chunk asked for at a time: never more than one chunk of the file is in flight. */
async function* pulled(id: number): AsyncGenerator<Uint8Array> {
  for (;;) {
    const next = new Promise<ToStageThread>((resolve) => waiting.set(id, resolve));
    post({ kind: "pull", id });
    const message = await next;
    if (message.kind === "end") return;
    if (message.kind === "abort") throw new Error(message.message);
    if (message.kind === "chunk") yield message.bytes;
  }
}

/** Models built and not yet checked on the other side: never served until `commit`. */
const built = new Map<number, HostedShard>();

async function load(message: Extract<ToStageThread, { kind: "load" }>): Promise<void> {
  try {
    const model = await loadLayersModelByWeight(message.modelTopology, message.weightSpecs, pulled(message.id), message.byteLength);
    built.set(message.id, { versionId: message.versionId, shardIndex: message.shardIndex, shardCount: message.shardCount, model, codecs: message.codecs });
    // The chunks the weights came in are garbage now: collected at once where the process allows it (--expose-gc),
    // else when this thread's heap next grows.
    (globalThis as { gc?: () => void }).gc?.();
    post({ kind: "built", id: message.id });
  } catch (err) {
    post({ kind: "failed", id: message.id, error: threadError(err) });
  } finally {
    waiting.delete(message.id);
  }
}

/** The other side checked the bytes the model was built from: serve it (`commit`) or free it (`discard`). */
function settle(id: number, commit: boolean): void {
  const shard = built.get(id);
  built.delete(id);
  if (shard === undefined) return;
  if (!commit) {
    shard.model.dispose();
    return;
  }
  try {
    runner.add(shard);
    post({ kind: "loaded", id });
  } catch (err) {
    shard.model.dispose();
    post({ kind: "failed", id, error: threadError(err) });
  }
}

async function run(message: Extract<ToStageThread, { kind: "run" }>): Promise<void> {
  try {
    const results = await runner.runBatch(message.versionId, message.shardIndex, message.inputs);
    const outputs = packed(results.map((result) => (result.ok ? result.output : new Uint8Array(0))));
    const answered = results.map((result, i): ThreadStageResult => (result.ok ? { ok: true, output: outputs.views[i]! } : { ok: false, error: threadError(result.error) }));
    post({ kind: "ran", id: message.id, results: answered }, [outputs.buffer]);
  } catch (err) {
    post({ kind: "failed", id: message.id, error: threadError(err) });
  }
}

port.on("message", (message: ToStageThread) => {
  switch (message.kind) {
    case "load":
      void load(message);
      break;
    case "chunk":
    case "end":
    case "abort":
      waiting.get(message.id)?.(message);
      break;
    case "commit":
    case "discard":
      settle(message.id, message.kind === "commit");
      break;
    case "run":
      void run(message);
      break;
  }
});

const selected = await selectBackend(backend);
post({ kind: "ready", backend: selected.name, build: BUILD_ID });
