import { expect } from "chai";
import type { LayersModel } from "@tensorflow/tfjs";
import type { EmbeddedContentStore } from "../../../worker/src/ipfs/EmbeddedContentStore.js";
import { temporaryStore } from "../../helpers/temporaryStore.js";
import { selectBackend, type Tf } from "../../../worker/src/ml/backend.js";
import { float32Bytes } from "../../../worker/src/ml/codecs/LittleEndian.js";
import { readManifest } from "../../../worker/src/ml/ModelArtifacts.js";
import { decodeActivation, encodeActivation } from "../../../worker/src/ml/sharding/Activations.js";
import { loadShard, SHARD_CODECS } from "../../../worker/src/ml/sharding/ShardArtifacts.js";
import { storeShardedModel } from "../../../worker/src/shards/ShardedModels.js";
import { ShardStageRunner } from "../../../worker/src/shards/ShardStageRunner.js";
import { BatchingStageRunner } from "../../../worker/src/shards/StageBatching.js";
import { buildTestCnn, buildTestMlp, rejection } from "../ml/sharding/fixtures.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

// The raw float32 codecs in and out: those every shard's own manifest names.
const RAW_CODECS = SHARD_CODECS;

describe("A shard host batches the stages that arrive together (ShardStageRunner.runBatch, BatchingStageRunner)", function () {
  this.timeout(120_000);
  let tf: Tf;
  const openStore = temporaryStore("tessera-stage-batching-");
  let store: EmbeddedContentStore;

  before(async () => {
    ({ tf } = await selectBackend());
    store = openStore();
  });

  /** Every shard of `model` (stored, then loaded as a host loads it) in one runner (version 7), and each stage's inputs for `examples` run alone, in order. */
  async function pipeline(model: LayersModel, exampleShape: number[], examples: number) {
    const stored = await storeShardedModel(store, model, { shards: 3 }, RAW_CODECS, { name: model.name });
    const manifest = await readManifest(store, stored.whole.manifestCid);
    const shards = await Promise.all(stored.shards.map((s) => loadShard(store, s.manifestCid, s.contentHash)));
    const runner = new ShardStageRunner(shards.map((m, i) => ({ versionId: 7n, shardIndex: i, shardCount: shards.length, model: m, codecs: manifest })));
    const size = exampleShape.reduce((a, b) => a * b, 1);
    const requests = Array.from({ length: examples }, (_, e) => float32Bytes(Array.from({ length: size }, (_, j) => Math.sin(e * 13 + j) * 1.5)));
    // stageInputs[s][e]: what stage s of example e takes, each stage run alone.
    const stageInputs: Uint8Array[][] = [requests];
    for (let s = 0; s < shards.length; s++) {
      const outputs = [];
      for (const input of stageInputs[s]!) outputs.push(await runner.run(7n, s, input));
      stageInputs.push(outputs);
    }
    return { runner, stageInputs, shardCount: shards.length };
  }

  for (const [name, build, shape] of [
    ["an MLP", buildTestMlp, [32]],
    ["a CNN (conv, batch norm, pooling)", buildTestCnn, [12, 12, 2]],
  ] as const) {
    it(`${name}: a batch's outputs are, byte for byte, each stage's output run alone, at every shard`, async () => {
      const model = build(tf);
      const { runner, stageInputs, shardCount } = await pipeline(model, [...shape], 9);
      for (let s = 0; s < shardCount; s++) {
        const batched = await runner.runBatch(7n, s, stageInputs[s]!);
        expect(batched.map((r) => (r.ok ? hex(r.output) : r.error.message))).to.deep.equal(stageInputs[s + 1]!.map(hex));
      }
      runner.dispose();
      model.dispose();
    });
  }

  it("a malformed stage fails alone: bad bytes, a wrong shape, two examples in one activation; the rest of the batch is answered as alone", async () => {
    const model = buildTestMlp(tf);
    const { runner, stageInputs } = await pipeline(model, [32], 4);
    const good = stageInputs[1]!; // shard 1's inputs
    const garbage = Uint8Array.from([1, 2, 3]);
    const wrongShape = encodeActivation({ shape: [1, 7], data: new Float32Array(7) });
    const width = decodeActivation(good[0]!).shape[1]!;
    const twoExamples = encodeActivation({ shape: [2, width], data: new Float32Array(2 * width) });
    const results = await runner.runBatch(7n, 1, [good[0]!, garbage, good[1]!, wrongShape, twoExamples, good[2]!]);
    expect(results.map((r) => r.ok)).to.deep.equal([true, false, true, false, false, true]);
    expect([results[0], results[2], results[5]].map((r) => (r!.ok ? hex(r!.output) : ""))).to.deep.equal([0, 1, 2].map((e) => hex(stageInputs[2]![e]!)));
    expect((results[1] as { error: Error }).error.message).to.match(/truncated/);
    expect((results[4] as { error: Error }).error.message).to.equal("an activation carries one example (its first dimension is 1), not 2");
    // A shard not served here: every stage says so.
    const missing = await runner.runBatch(7n, 9, [good[0]!]);
    expect((missing[0] as { error: Error }).error.message).to.equal("shard 9 of version 7 is not served here");
    runner.dispose();
    model.dispose();
  });

  it("stages that arrive while the shard computes go as the next prediction; each gets its own output or its own error", async () => {
    const model = buildTestMlp(tf);
    const { runner, stageInputs } = await pipeline(model, [32], 12);
    const batching = new BatchingStageRunner(runner, { maxBatch: 5 });
    // A lone stage goes at once, alone.
    expect(hex(await batching.run(7n, 1, stageInputs[1]![0]!))).to.equal(hex(stageInputs[2]![0]!));
    expect([batching.batches, batching.stages]).to.deep.equal([1, 1]);
    // Twelve at once, one malformed: at most five per prediction, the bad one rejected alone.
    const inputs = stageInputs[1]!.map((x, i) => (i === 4 ? Uint8Array.from([9, 9]) : x));
    const settled = await Promise.allSettled(inputs.map((x) => batching.run(7n, 1, x)));
    settled.forEach((s, i) => {
      if (i === 4) expect(s.status).to.equal("rejected");
      else expect(s.status === "fulfilled" ? hex(s.value) : "rejected").to.equal(hex(stageInputs[2]![i]!));
    });
    expect(batching.stages).to.equal(13);
    expect(batching.batches).to.equal(1 + 3); // 12 stages in predictions of at most five
    // Another shard batches on its own; a shard not served is refused without a batcher of its own.
    expect(hex(await batching.run(7n, 0, stageInputs[0]![3]!))).to.equal(hex(stageInputs[1]![3]!));
    expect((await rejection(batching.run(7n, 5, stageInputs[0]![0]!))).message).to.equal("shard 5 of version 7 is not served here");
    expect(batching.batches).to.equal(5);
    // maxBatch 1: every stage alone.
    const alone = new BatchingStageRunner(runner, { maxBatch: 1 });
    await Promise.all(stageInputs[0]!.slice(0, 4).map((x) => alone.run(7n, 0, x)));
    expect([alone.batches, alone.stages]).to.deep.equal([4, 4]);
    expect(() => new BatchingStageRunner(runner, { maxBatch: 0 })).to.throw(RangeError);
    runner.dispose();
    model.dispose();
  });
});
