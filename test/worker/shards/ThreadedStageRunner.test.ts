import { expect } from "chai";
import type { LayersModel } from "@tensorflow/tfjs";
import type { EmbeddedContentStore } from "../../../worker/src/ipfs/EmbeddedContentStore.js";
import { temporaryStore } from "../../helpers/temporaryStore.js";
import { addJson, getJson } from "../../../worker/src/ipfs/ContentStore.js";
import { selectBackend, type SelectedBackend } from "../../../worker/src/ml/backend.js";
import { float32Bytes } from "../../../worker/src/ml/codecs/LittleEndian.js";
import { readManifest, sha256Hex, type ModelManifest } from "../../../worker/src/ml/ModelArtifacts.js";
import { ModelIntegrityError } from "../../../worker/src/ml/ModelError.js";
import { loadShard, SHARD_CODECS } from "../../../worker/src/ml/sharding/ShardArtifacts.js";
import { storeShardedModel, type StoredShardedModel } from "../../../worker/src/shards/ShardedModels.js";
import { ShardStageRunner, type StageResult } from "../../../worker/src/shards/ShardStageRunner.js";
import { StageThreadStoppedError, ThreadedStageRunner } from "../../../worker/src/shards/thread/ThreadedStageRunner.js";
import { buildTestCnn, buildTestMlp, rejection } from "../ml/sharding/fixtures.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const outcomes = (results: readonly StageResult[]) => results.map((r) => (r.ok ? hex(r.output) : `${r.error.name}: ${r.error.message}`));
// The raw float32 codecs in and out: those every shard's own manifest names.
const RAW_CODECS = SHARD_CODECS;

describe("A shard host's models run in a thread of their own (ThreadedStageRunner, StageThread.ts)", function () {
  this.timeout(180_000);
  let selected: SelectedBackend;
  const openStore = temporaryStore("tessera-stage-thread-");
  let store: EmbeddedContentStore;
  const runners: ThreadedStageRunner[] = [];

  before(async () => {
    selected = await selectBackend();
    store = openStore();
  });

  after(async () => {
    await Promise.all(runners.map((r) => r.dispose()));
  });

  async function started(): Promise<ThreadedStageRunner> {
    const runner = await ThreadedStageRunner.start({ backend: selected.name });
    runners.push(runner);
    return runner;
  }

  /** `model` cut in 3 and stored; every shard loaded in process (version 7), and the thread's runner with the same shards. */
  async function bothRunners(model: LayersModel): Promise<{ stored: StoredShardedModel; inProcess: ShardStageRunner; threaded: ThreadedStageRunner }> {
    const stored = await storeShardedModel(store, model, { shards: 3 }, RAW_CODECS, { name: model.name });
    const codecs = await readManifest(store, stored.whole.manifestCid);
    const models = await Promise.all(stored.shards.map((s) => loadShard(store, s.manifestCid, s.contentHash)));
    const inProcess = new ShardStageRunner(models.map((m, i) => ({ versionId: 7n, shardIndex: i, shardCount: 3, model: m, codecs })));
    const threaded = await started();
    for (const s of stored.shards) await threaded.load(store, { versionId: 7n, shardIndex: s.index, shardCount: 3, codecs, manifestCid: s.manifestCid, contentHash: s.contentHash });
    return { stored, inProcess, threaded };
  }

  for (const [name, build, size] of [
    ["an MLP", buildTestMlp, 32],
    ["a CNN (conv, batch norm, pooling)", buildTestCnn, 12 * 12 * 2],
  ] as const) {
    it(`${name}: every shard answers in the thread, byte for byte, what it answers in process, batched and alone`, async () => {
      const model = build(selected.tf);
      const { inProcess, threaded } = await bothRunners(model);
      expect(threaded.backend).to.equal(selected.name);
      let inputs = Array.from({ length: 5 }, (_, e) => float32Bytes(Array.from({ length: size }, (_, j) => Math.cos(e * 7 + j) * 1.2)));
      for (let s = 0; s < 3; s++) {
        expect(threaded.serves(7n, s)).to.equal(true);
        const expected = await inProcess.runBatch(7n, s, inputs);
        expect(outcomes(await threaded.runBatch(7n, s, inputs))).to.deep.equal(outcomes(expected));
        expect(hex(await threaded.run(7n, s, inputs[2]!))).to.equal(hex((expected[2] as { output: Uint8Array }).output));
        inputs = expected.map((r) => (r as { output: Uint8Array }).output);
      }
      // The inputs were copied, not taken: the caller's bytes are still whole.
      expect(inputs.every((i) => i.byteLength > 0)).to.equal(true);
      expect(threaded.serves(7n, 3)).to.equal(false);
      inProcess.dispose();
      model.dispose();
    });
  }

  it("a malformed stage fails alone, with its reason; a shard not loaded fails every stage, naming it", async () => {
    const model = buildTestMlp(selected.tf);
    const { inProcess, threaded } = await bothRunners(model);
    const good = float32Bytes(Array.from({ length: 32 }, (_, j) => j / 10));
    const results = await threaded.runBatch(7n, 0, [good, Uint8Array.from([1, 2, 3]), good]);
    const alone = await inProcess.runBatch(7n, 0, [good, Uint8Array.from([1, 2, 3])]);
    expect(outcomes(results)).to.deep.equal([...outcomes(alone), outcomes(alone)[0]]);
    expect(results[1]!.ok).to.equal(false);
    const missing = await threaded.runBatch(7n, 5, [good]);
    expect(outcomes(missing)).to.deep.equal(["ShardingError: shard 5 of version 7 is not served here"]);
    inProcess.dispose();
    model.dispose();
  });

  it("weights that do not hash to the shard's commitment are refused, and the shard is never served", async () => {
    const model = buildTestMlp(selected.tf);
    const stored = await storeShardedModel(store, model, { shards: 2 }, RAW_CODECS, { name: "tampered" });
    const codecs = await readManifest(store, stored.whole.manifestCid);
    const first = stored.shards[0]!;
    const altered = Uint8Array.from(await store.get(first.weightsCid));
    altered[0] ^= 0x01;
    const alteredCid = await store.add(altered);
    const manifest = (await getJson(store, first.manifestCid)) as ModelManifest;
    const forgedCid = await addJson(store, { ...manifest, weightsCid: alteredCid });
    const threaded = await started();
    const error = await rejection(threaded.load(store, { versionId: 8n, shardIndex: 0, shardCount: 2, codecs, manifestCid: forgedCid, contentHash: first.contentHash }));
    expect(error).to.be.instanceOf(ModelIntegrityError);
    expect(error.message).to.equal(`weights ${alteredCid} of manifest ${forgedCid} hash to ${sha256Hex(altered)}, manifest says ${first.contentHash}`);
    expect(threaded.serves(8n, 0)).to.equal(false);
    const refused = await threaded.runBatch(8n, 0, [float32Bytes(new Array(32).fill(0))]);
    expect(outcomes(refused)).to.deep.equal(["ShardingError: shard 0 of version 8 is not served here"]);
    // The thread unloaded what it built: the committed weights load under the same version and index.
    await threaded.load(store, { versionId: 8n, shardIndex: 0, shardCount: 2, codecs, manifestCid: first.manifestCid, contentHash: first.contentHash });
    expect(threaded.serves(8n, 0)).to.equal(true);
    model.dispose();
  });

  it("the event loop stays free while the thread predicts (in process, a prediction holds it for its whole length)", async () => {
    const tf = selected.tf;
    const model = tf.sequential({ name: "wide" });
    model.add(tf.layers.dense({ inputShape: [256], units: 2048, activation: "relu" }));
    for (let i = 0; i < 3; i++) model.add(tf.layers.dense({ units: 2048, activation: "relu" }));
    model.add(tf.layers.dense({ units: 4 }));
    const { inProcess, threaded } = await bothRunners(model);
    const inputs = Array.from({ length: 64 }, (_, e) => float32Bytes(Array.from({ length: 256 }, (_, j) => Math.sin(e + j))));
    /** The run's length and the longest the event loop went without running a 1 ms timer meanwhile. */
    async function gaps(run: () => Promise<unknown>): Promise<{ ms: number; longestGap: number }> {
      let last = performance.now();
      let longestGap = 0;
      const timer = setInterval(() => {
        const now = performance.now();
        longestGap = Math.max(longestGap, now - last);
        last = now;
      }, 1);
      const start = performance.now();
      for (let i = 0; i < 5; i++) await run();
      const end = performance.now();
      clearInterval(timer);
      longestGap = Math.max(longestGap, end - last);
      const ms = (end - start) / 5;
      return { ms, longestGap };
    }
    await threaded.runBatch(7n, 1, inputs.map(() => new Uint8Array(0))); // the thread's kernels warm
    const stage1 = (await inProcess.runBatch(7n, 0, inputs)).map((r) => (r as { output: Uint8Array }).output);
    const local = await gaps(() => inProcess.runBatch(7n, 1, stage1));
    const off = await gaps(() => threaded.runBatch(7n, 1, stage1));
    console.log(`      a batch of 64 through 2048x2048 dense layers: in process ${local.ms.toFixed(1)} ms, event loop held ${local.longestGap.toFixed(1)} ms; in the thread ${off.ms.toFixed(1)} ms, held ${off.longestGap.toFixed(1)} ms`);
    expect(local.longestGap).to.be.at.least(local.ms * 0.8);
    expect(off.longestGap).to.be.below(off.ms / 2);
    inProcess.dispose();
    model.dispose();
  });

  it("a thread that dies fails the stages it had and every later one (retryable: another host runs them), once reported", async () => {
    const stopped: Error[] = [];
    const runner = await ThreadedStageRunner.start({
      backend: "wasm",
      onStopped: (err) => stopped.push(err),
      script: { url: new URL("./fixtures/CrashingStageThread.ts", import.meta.url), execArgv: ["--import", "tsx"] },
    });
    runners.push(runner);
    expect(runner.backend).to.equal("crashing");
    const model = buildTestMlp(selected.tf);
    const stored = await storeShardedModel(store, model, { shards: 2 }, RAW_CODECS, { name: "crashing" });
    const codecs = await readManifest(store, stored.whole.manifestCid);
    const shard = stored.shards[0]!;
    await runner.load(store, { versionId: 9n, shardIndex: 0, shardCount: 2, codecs, manifestCid: shard.manifestCid, contentHash: shard.contentHash });
    expect(runner.serves(9n, 0)).to.equal(true);
    const input = float32Bytes(new Array(32).fill(0.5));
    const [during, alone] = await Promise.all([rejection(runner.runBatch(9n, 0, [input, input])), rejection(runner.run(9n, 0, input))]);
    for (const error of [during, alone]) {
      expect(error).to.be.instanceOf(StageThreadStoppedError);
      expect(error.message).to.equal("the stage thread failed: a kernel failed");
      expect((error as StageThreadStoppedError).retryable).to.equal(true);
    }
    expect(runner.serves(9n, 0)).to.equal(false);
    const later = await rejection(runner.runBatch(9n, 0, [input]));
    expect(later).to.equal(during);
    expect(stopped.map((e) => e.message)).to.deep.equal(["the stage thread failed: a kernel failed"]);
    model.dispose();
  });

  it("a thread of another build (the bundle rebuilt under a running worker), or one never ready, is refused at start and stopped", async () => {
    const thread = (source: string) => ({ url: new URL(`data:text/javascript,${encodeURIComponent(source)}`) });
    const otherBuild = await rejection(ThreadedStageRunner.start({ backend: "wasm", script: thread(`import { parentPort } from "node:worker_threads"; parentPort.postMessage({ kind: "ready", backend: "wasm", build: "an-older-build" });`) }));
    expect(otherBuild).to.be.instanceOf(StageThreadStoppedError);
    expect(otherBuild.message).to.equal("the stage thread could not start: it is of build an-older-build, this worker of build source (the bundle was rebuilt while the worker ran: restart the worker)");
    // A thread that never says it is ready (a backend that hangs): stopped after the start timeout, not waited on forever.
    const started = performance.now();
    const silent = await rejection(ThreadedStageRunner.start({ backend: "wasm", startTimeoutMs: 300, script: thread(`setInterval(() => {}, 1000);`) }));
    expect(silent.message).to.equal("the stage thread could not start: not ready within 300 ms");
    expect(performance.now() - started).to.be.within(300, 5_000);
  });

  it("a backend the thread cannot start is a clear error at start", async () => {
    const error = await rejection(ThreadedStageRunner.start({ backend: "tensorflow-gpu" }));
    expect(error).to.be.instanceOf(StageThreadStoppedError);
    expect(error.message).to.match(/^the stage thread could not start: .*tensorflow-gpu/);
  });
});
