import { expect } from "chai";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { LayersModel, Tensor } from "@tensorflow/tfjs";
import { addJson, getJson } from "../../../../worker/src/ipfs/ContentStore.js";
import { EmbeddedContentStore } from "../../../../worker/src/ipfs/EmbeddedContentStore.js";
import { selectBackend, type Tf } from "../../../../worker/src/ml/backend.js";
import { sha256Hex, type ModelManifest } from "../../../../worker/src/ml/ModelArtifacts.js";
import { ModelIntegrityError } from "../../../../worker/src/ml/ModelError.js";
import { splitModel, type ModelShard } from "../../../../worker/src/ml/sharding/ModelSplit.js";
import { loadShard, saveShards, SHARD_CODECS } from "../../../../worker/src/ml/sharding/ShardArtifacts.js";
import { runShards } from "../../../../worker/src/ml/sharding/ShardPipeline.js";
import { ShardingError } from "../../../../worker/src/ml/sharding/ShardingError.js";
import { buildTestCnn, buildTestMlp, compare, rejection } from "./fixtures.js";

describe("ShardArtifacts: shards in the content store", function () {
  this.timeout(120_000);
  let tf: Tf;
  let directory: string;
  let store: EmbeddedContentStore;
  let cnn: LayersModel;
  let shards: ModelShard[];
  let input: Tensor;

  before(async () => {
    ({ tf } = await selectBackend());
    cnn = buildTestCnn(tf);
    shards = await splitModel(cnn, { shards: 3 });
    input = tf.randomUniform([32, 12, 12, 2], -1, 1, "float32", 21);
  });

  after(() => {
    shards.forEach((s) => s.model.dispose());
    cnn.dispose();
    tf.dispose(input);
  });

  beforeEach(async () => {
    directory = await mkdtemp(path.join(tmpdir(), "tessera-shards-"));
    store = await EmbeddedContentStore.open(directory);
  });

  afterEach(async () => {
    await store.close();
    await rm(directory, { recursive: true, force: true });
  });

  it("stores each shard as a manifest and a weights file, loads them back by CID with the hash check, and predicts what the model does", async () => {
    const stored = await saveShards(store, shards, { name: "test-cnn" });
    expect(stored.map((s) => [s.index, s.firstLayer, s.endLayer])).to.deep.equal(shards.map((s) => [s.index, s.firstLayer, s.endLayer]));
    expect(new Set(stored.flatMap((s) => [s.manifestCid, s.weightsCid])).size).to.equal(6);
    for (const [i, s] of stored.entries()) {
      expect(s.manifestCid).to.match(/^bafk|^bafy/);
      const weights = await store.get(s.weightsCid);
      expect(weights.byteLength).to.equal(s.byteSize);
      expect(s.byteSize).to.equal(shards[i].weightBytes);
      expect(sha256Hex(weights)).to.equal(s.contentHash);
      expect(s.contentHash).to.match(/^0x[0-9a-f]{64}$/);
      const manifest = (await getJson(store, s.manifestCid)) as ModelManifest;
      expect(manifest).to.include({ manifestVersion: 2, format: "tfjs-layers", weightsCid: s.weightsCid, contentHash: s.contentHash, name: `test-cnn shard ${i} of 3` });
      expect(manifest.signature.inputs[0].shape).to.deep.equal([null, ...shards[i].inputShape]);
      expect(manifest.signature.outputs[0].shape).to.deep.equal([null, ...shards[i].outputShape]);
      expect(manifest.inputCodec).to.deep.equal(SHARD_CODECS.inputCodec);
    }
    expect(stored.reduce((sum, s) => sum + s.byteSize, 0)).to.equal(15_048);
    // Same shards, same bytes, same CIDs.
    expect(await saveShards(store, shards, { name: "test-cnn" })).to.deep.equal(stored);

    const loaded = await Promise.all(stored.map((s) => loadShard(store, s.manifestCid, s.contentHash)));
    expect(loaded.map((m) => m.layers.map((l) => l.name))).to.deep.equal(shards.map((s) => s.layerNames));
    const expected = cnn.predict(input) as Tensor;
    const { output, stages } = await runShards(loaded, input);
    const result = await compare(tf, output, expected);
    expect(result.maxAbsDiff).to.be.at.most(1e-5);
    expect(result.sameArgmax).to.equal(true);
    // The loaded shards send the same bytes as the in-memory ones.
    const inMemory = await runShards(shards.map((s) => s.model), input);
    expect(stages.map((s) => s.outputHash)).to.deep.equal(inMemory.stages.map((s) => s.outputHash));
    tf.dispose([output, expected, inMemory.output]);
    loaded.forEach((m) => m.dispose());
  });

  it("refuses a shard whose manifest does not commit to the expected content hash", async () => {
    const [first] = await saveShards(store, shards.slice(0, 1));
    const tampered = `0x${first.contentHash.slice(2, 65)}${first.contentHash[65] === "0" ? "1" : "0"}`;
    const error = await rejection(loadShard(store, first.manifestCid, tampered));
    expect(error).to.be.instanceOf(ModelIntegrityError);
    expect(error.message).to.equal(`manifest ${first.manifestCid} commits to ${first.contentHash}, expected ${tampered}`);
  });

  it("refuses weights that do not hash to the content hash (a manifest pointing to altered weights)", async () => {
    const [first] = await saveShards(store, shards.slice(0, 1));
    const altered = Uint8Array.from(await store.get(first.weightsCid));
    altered[0] ^= 0x01;
    const alteredCid = await store.add(altered);
    const manifest = (await getJson(store, first.manifestCid)) as ModelManifest;
    const forgedCid = await addJson(store, { ...manifest, weightsCid: alteredCid });
    const error = await rejection(loadShard(store, forgedCid, first.contentHash));
    expect(error).to.be.instanceOf(ModelIntegrityError);
    expect(error.message).to.equal(`weights ${alteredCid} of manifest ${forgedCid} hash to ${sha256Hex(altered)}, manifest says ${first.contentHash}`);
  });

  it("refuses to store a shard whose shapes are not fixed, naming the shard", async () => {
    const model = tf.sequential({ name: "variable_length" });
    model.add(tf.layers.dense({ name: "per_step1", inputShape: [null, 4], units: 3 }));
    model.add(tf.layers.dense({ name: "per_step2", units: 2 }));
    const variable = await splitModel(model, { shards: 2 });
    expect(variable.map((s) => s.inputShape)).to.deep.equal([[null, 4], [null, 3]]);
    const error = await rejection(saveShards(store, variable));
    expect(error).to.be.instanceOf(ShardingError);
    expect(error.message).to.match(/^shard 0 of 2 \(layers 0\.\.0\) cannot be stored: /);
    variable.forEach((s) => s.model.dispose());
    model.dispose();
  });

  it("stores an MLP's shards whose weights add up to the whole model's", async () => {
    const mlp = buildTestMlp(tf);
    const mlpShards = await splitModel(mlp, { maxShardBytes: 16_000 });
    const stored = await saveShards(store, mlpShards);
    expect(stored.map((s) => s.byteSize)).to.deep.equal(mlpShards.map((s) => s.weightBytes));
    expect(stored.reduce((sum, s) => sum + s.byteSize, 0)).to.equal(39_400);
    for (const s of stored) expect(s.byteSize).to.be.at.most(16_000);
    mlpShards.forEach((s) => s.model.dispose());
    mlp.dispose();
  });
});
