import { expect } from "chai";
import type { LayersModel, Tensor } from "@tensorflow/tfjs";
import { selectBackend, type Tf } from "../../../../worker/src/ml/backend.js";
import { serializeModel } from "../../../../worker/src/ml/ModelArtifacts.js";
import { computationLayers, layerWeightBytes, planShards, splitModel, type ModelShard, type ShardRange } from "../../../../worker/src/ml/sharding/ModelSplit.js";
import { runShards } from "../../../../worker/src/ml/sharding/ShardPipeline.js";
import { ShardingError } from "../../../../worker/src/ml/sharding/ShardingError.js";
import { buildFunctionalChain, buildTestCnn, buildTestMlp, compare, rejection, TEST_MLP_LAYER_BYTES, thrown } from "./fixtures.js";

/** Every way to cut `bytes` into `count` contiguous non-empty parts (small inputs only). */
function partitions(n: number, count: number): ShardRange[][] {
  if (count === 1) return [[{ firstLayer: 0, endLayer: n }]];
  const all: ShardRange[][] = [];
  for (let cut = count - 1; cut < n; cut++) {
    for (const head of partitions(cut, count - 1)) all.push([...head, { firstLayer: cut, endLayer: n }]);
  }
  return all;
}

const sumOf = (bytes: readonly number[], r: ShardRange) => bytes.slice(r.firstLayer, r.endLayer).reduce((a, b) => a + b, 0);
const bruteMinMax = (bytes: readonly number[], count: number) => Math.min(...partitions(bytes.length, count).map((p) => Math.max(...p.map((r) => sumOf(bytes, r)))));

describe("splitModel: sequential models into shards", function () {
  this.timeout(120_000);
  let tf: Tf;
  let mlp: LayersModel;
  let cnn: LayersModel;
  let mlpInput: Tensor;
  let cnnInput: Tensor;

  before(async () => {
    ({ tf } = await selectBackend());
    mlp = buildTestMlp(tf);
    cnn = buildTestCnn(tf);
    mlpInput = tf.randomNormal([64, 32], 0, 1, "float32", 7);
    cnnInput = tf.randomUniform([40, 12, 12, 2], -1, 1, "float32", 8);
  });

  after(() => {
    tf.dispose([mlpInput, cnnInput]);
    mlp.dispose();
    cnn.dispose();
  });

  /** The checks every split must pass: ranges, layer names, bytes, shapes, and the same predictions as the model. */
  async function checkSplit(model: LayersModel, input: Tensor, shards: ModelShard[], count: number) {
    const layers = computationLayers(model);
    const bytes = layers.map(layerWeightBytes);
    expect(shards.map((s) => s.index)).to.deep.equal([...Array(count).keys()]);
    expect(shards[0].firstLayer).to.equal(0);
    expect(shards[count - 1].endLayer).to.equal(layers.length);
    for (let i = 0; i < count; i++) {
      expect(shards[i].endLayer, `shard ${i} has a layer`).to.be.greaterThan(shards[i].firstLayer);
      if (i > 0) expect(shards[i].firstLayer, `shard ${i} starts where ${i - 1} ends`).to.equal(shards[i - 1].endLayer);
      expect(shards[i].weightBytes).to.equal(sumOf(bytes, shards[i]));
      expect(shards[i].model.layers.map((l) => l.name)).to.deep.equal(shards[i].layerNames);
      expect(shards[i].model.inputs[0].shape.slice(1)).to.deep.equal(shards[i].inputShape);
      expect(shards[i].model.outputs[0].shape.slice(1)).to.deep.equal(shards[i].outputShape);
      if (i > 0) expect(shards[i].inputShape).to.deep.equal(shards[i - 1].outputShape);
    }
    expect(shards.flatMap((s) => s.layerNames)).to.deep.equal(layers.map((l) => l.name));
    const whole = (await serializeModel(model)).weightData.byteLength;
    expect(shards.reduce((sum, s) => sum + s.weightBytes, 0)).to.equal(whole);
    // As balanced as any contiguous split can be.
    expect(Math.max(...shards.map((s) => s.weightBytes))).to.equal(bruteMinMax(bytes, count));

    const expected = model.predict(input) as Tensor;
    const { output, stages } = await runShards(shards.map((s) => s.model), input);
    const result = await compare(tf, output, expected);
    expect(result.maxAbsDiff).to.be.at.most(1e-5);
    expect(result.sameArgmax).to.equal(true);
    expect(new Set(result.argmax).size, "the model does not answer one class for everything").to.be.greaterThan(1);
    expect(stages).to.have.length(count);
    tf.dispose([output, expected]);
  }

  for (const count of [2, 3, 4]) {
    it(`splits a 6-Dense MLP into ${count} shards that together predict what the model does`, async () => {
      const shards = await splitModel(mlp, { shards: count });
      await checkSplit(mlp, mlpInput, shards, count);
      shards.forEach((s) => s.model.dispose());
    });

    it(`splits a small CNN (conv, batch norm, pooling, flatten, dense) into ${count} shards that predict what it does`, async () => {
      const shards = await splitModel(cnn, { shards: count });
      await checkSplit(cnn, cnnInput, shards, count);
      shards.forEach((s) => s.model.dispose());
    });
  }

  it("cuts the MLP where the weight bytes balance, and the CNN at the smallest activation among equal splits", async () => {
    expect(computationLayers(mlp).map(layerWeightBytes)).to.deep.equal(TEST_MLP_LAYER_BYTES);
    const mlpShards = await splitModel(mlp, { shards: 2 });
    // 8,448 + 12,480 = 20,928 | 9,408 + 0 + 6,272 + 2,112 + 680 = 18,472: the best largest half of 39,400.
    expect(mlpShards.map((s) => [s.firstLayer, s.endLayer, s.weightBytes])).to.deep.equal([[0, 2, 20_928], [2, 7, 18_472]]);
    const cnnShards = await splitModel(cnn, { shards: 3 });
    // conv1 608, bn 128, pool 0, conv2 4,672, pool 0, flatten 0, dense1 8,320, dropout 0, dense2 1,320.
    // Dense1 (8,320) is the largest part whatever the cuts. Among the splits reaching it, the first cut goes after
    // pool2 (a [2,2,16] activation: 64 values) rather than after conv2 ([5,5,16]: 400 values); the second, equal
    // either side of the dropout (32 values), goes to the earlier place.
    expect(cnnShards.map((s) => [s.firstLayer, s.endLayer, s.weightBytes])).to.deep.equal([[0, 5, 5_408], [5, 7, 8_320], [7, 9, 1_320]]);
    expect(cnnShards.map((s) => s.inputShape)).to.deep.equal([[12, 12, 2], [2, 2, 16], [32]]);
    [...mlpShards, ...cnnShards].forEach((s) => s.model.dispose());
  });

  it("splits a functional model whose layers form one chain; its InputLayer is not counted", async () => {
    const model = buildFunctionalChain(tf);
    expect(model.layers.map((l) => l.getClassName())[0]).to.equal("InputLayer");
    expect(computationLayers(model).map((l) => l.name)).to.deep.equal(["chain_dense1", "chain_dense2", "chain_dense3", "chain_dense4", "chain_dense5"]);
    const shards = await splitModel(model, { shards: 3 });
    const input = tf.randomNormal([16, 20], 0, 1, "float32", 9);
    await checkSplit(model, input, shards, 3);
    expect(shards[0].inputShape).to.deep.equal([20]);
    shards.forEach((s) => s.model.dispose());
    tf.dispose(input);
    model.dispose();
  });

  it("gives shards that hold their own weights: they run after the model is disposed", async () => {
    const model = buildTestMlp(tf);
    const expected = model.predict(mlpInput) as Tensor;
    const shards = await splitModel(model, { shards: 3 });
    model.dispose();
    const { output } = await runShards(shards.map((s) => s.model), mlpInput);
    expect((await compare(tf, output, expected)).maxAbsDiff).to.be.at.most(1e-5);
    tf.dispose([output, expected]);
    shards.forEach((s) => s.model.dispose());
  });

  it("with a memory budget, makes the fewest shards that each fit it", async () => {
    for (const budget of [16_000, 21_000, 25_000, 39_400, 100_000]) {
      const shards = await splitModel(mlp, { maxShardBytes: budget });
      for (const s of shards) expect(s.weightBytes, `budget ${budget}`).to.be.at.most(budget);
      const fewer = shards.length - 1;
      if (fewer >= 1) expect(bruteMinMax(TEST_MLP_LAYER_BYTES, fewer), `${fewer} shards cannot fit ${budget}`).to.be.greaterThan(budget);
      expect(shards.reduce((sum, s) => sum + s.weightBytes, 0)).to.equal(39_400);
      await checkSplit(mlp, mlpInput, shards, shards.length);
      shards.forEach((s) => s.model.dispose());
    }
    const counts = await Promise.all([16_000, 21_000, 25_000, 39_400].map(async (budget) => {
      const shards = await splitModel(mlp, { maxShardBytes: budget });
      shards.forEach((s) => s.model.dispose());
      return shards.length;
    }));
    expect(counts).to.deep.equal([4, 2, 2, 1]);
  });

  it("refuses a budget smaller than one layer, naming the layer and its size", async () => {
    const error = await rejection(splitModel(mlp, { maxShardBytes: 12_000 }));
    expect(error).to.be.instanceOf(ShardingError);
    expect(error.message).to.equal("layer 'mlp_dense2' has 12480 weight bytes, more than maxShardBytes 12000: no shard can hold it");
  });

  it("refuses shard counts it cannot make", async () => {
    expect((await rejection(splitModel(mlp, { shards: 8 }))).message).to.equal("cannot split 7 layers into 8 shards: every shard needs a layer");
    expect((await rejection(splitModel(mlp, { shards: 0 }))).message).to.equal("shards must be a positive integer, got 0");
    expect((await rejection(splitModel(mlp, { shards: 1.5 }))).message).to.equal("shards must be a positive integer, got 1.5");
    expect((await rejection(splitModel(mlp, { maxShardBytes: -1 }))).message).to.equal("maxShardBytes must be a positive number, got -1");
    const one = await splitModel(mlp, { shards: 1 });
    expect(one.map((s) => [s.firstLayer, s.endLayer, s.weightBytes])).to.deep.equal([[0, 7, 39_400]]);
    one[0].model.dispose();
  });

  describe("models that are not one chain", () => {
    it("refuses two branches merged by tf.layers.add, naming the merge layer", async () => {
      const input = tf.input({ name: "branch_input", shape: [16] });
      const trunk = tf.layers.dense({ name: "trunk", units: 8 }).apply(input);
      const left = tf.layers.dense({ name: "left", units: 8 }).apply(trunk);
      const right = tf.layers.dense({ name: "right", units: 8 }).apply(trunk);
      const joined = tf.layers.add({ name: "join" }).apply([left, right] as never);
      const head = tf.layers.dense({ name: "head", units: 3 }).apply(joined);
      const model = tf.model({ name: "branchy", inputs: input, outputs: head as never });
      const error = await rejection(splitModel(model, { shards: 2 }));
      expect(error).to.be.instanceOf(ShardingError);
      expect(error.name).to.equal("ShardingError");
      expect(error.message).to.equal("model branchy is not sequential: layer 'join' has 2 inbound layers ('left', 'right')");
      model.dispose();
    });

    it("refuses a skip connection merged by concatenate, multiple inputs or outputs, and a shared layer", async () => {
      const a = tf.input({ name: "skip_in", shape: [6] });
      const d = tf.layers.dense({ name: "skip_dense", units: 4 }).apply(a);
      const cat = tf.layers.concatenate({ name: "skip_cat" }).apply([a, d] as never);
      const skip = tf.model({ name: "skip", inputs: a, outputs: cat as never });
      expect((await rejection(splitModel(skip, { shards: 2 }))).message).to.equal("model skip is not sequential: layer 'skip_cat' has 2 inbound layers ('skip_in', 'skip_dense')");

      const x1 = tf.input({ name: "two_in_a", shape: [3] });
      const x2 = tf.input({ name: "two_in_b", shape: [3] });
      const sum = tf.layers.add({ name: "two_in_add" }).apply([x1, x2] as never);
      const twoInputs = tf.model({ name: "two_inputs", inputs: [x1, x2], outputs: sum as never });
      expect((await rejection(splitModel(twoInputs, { shards: 1 }))).message).to.equal("model two_inputs is not sequential: it has 2 inputs");

      const y = tf.input({ name: "two_out_in", shape: [3] });
      const o1 = tf.layers.dense({ name: "two_out_a", units: 2 }).apply(y);
      const o2 = tf.layers.dense({ name: "two_out_b", units: 2 }).apply(y);
      const twoOutputs = tf.model({ name: "two_outputs", inputs: y, outputs: [o1, o2] as never });
      expect((await rejection(splitModel(twoOutputs, { shards: 1 }))).message).to.equal("model two_outputs is not sequential: it has 2 outputs");

      const z = tf.input({ name: "shared_in", shape: [5] });
      const shared = tf.layers.dense({ name: "shared_dense", units: 5 });
      const twice = shared.apply(shared.apply(z));
      const sharedModel = tf.model({ name: "shared", inputs: z, outputs: twice as never });
      expect((await rejection(splitModel(sharedModel, { shards: 1 }))).message).to.equal("model shared is not sequential: layer 'shared_dense' is applied 2 times (a shared layer)");
      [skip, twoInputs, twoOutputs, sharedModel].forEach((m) => m.dispose());
    });
  });
});

describe("planShards", () => {
  it("balances the largest shard, then the squares, then the activation size at the cuts", () => {
    expect(planShards([5, 5, 5, 5], { shards: 2 })).to.deep.equal([{ firstLayer: 0, endLayer: 2 }, { firstLayer: 2, endLayer: 4 }]);
    // Largest shard 10 either way; [10][0,0,10] and [10,0][0,10] and [10,0,0][10] tie on squares: the cheapest cut wins.
    expect(planShards([10, 0, 0, 10], { shards: 2 }, [], [0, 500, 20, 300])).to.deep.equal([{ firstLayer: 0, endLayer: 2 }, { firstLayer: 2, endLayer: 4 }]);
    expect(planShards([10, 0, 0, 10], { shards: 2 }, [], [0, 5, 20, 300])).to.deep.equal([{ firstLayer: 0, endLayer: 1 }, { firstLayer: 1, endLayer: 4 }]);
    // The 9 must stand alone for the largest shard to be 9.
    expect(planShards([1, 1, 1, 9, 1, 1, 1], { shards: 3 })).to.deep.equal([
      { firstLayer: 0, endLayer: 3 },
      { firstLayer: 3, endLayer: 4 },
      { firstLayer: 4, endLayer: 7 },
    ]);
  });

  it("finds the same split as trying every split, on 300 random layer lists with many ties", () => {
    let seed = 17;
    const random = (n: number) => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % n;
    for (let round = 0; round < 300; round++) {
      const n = 1 + random(9);
      const bytes = Array.from({ length: n }, () => (random(3) === 0 ? 0 : 4 * random(6)));
      const costs = Array.from({ length: n }, () => random(4));
      const count = 1 + random(n);
      // Smallest (largest shard, sum of squares, sum of cut costs), then the earliest cuts, last cut first.
      const key = (p: ShardRange[]) => {
        const sums = p.map((r) => sumOf(bytes, r));
        const cuts = p.slice(1).map((r) => r.firstLayer);
        return [Math.max(...sums), sums.reduce((a, b) => a + b * b, 0), cuts.reduce((a, c) => a + costs[c], 0), ...cuts.reverse()];
      };
      const less = (a: number[], b: number[]) => {
        const i = a.findIndex((v, k) => v !== b[k]);
        return i >= 0 && a[i] < b[i];
      };
      const best = partitions(n, count).reduce((a, b) => (less(key(b), key(a)) ? b : a));
      expect(planShards(bytes, { shards: count }, [], costs), JSON.stringify({ bytes, costs, count })).to.deep.equal(best);
      const budget = Math.max(...bytes, 1) + random(12);
      const fewest = [...Array(n).keys()].map((c) => c + 1).find((c) => bruteMinMax(bytes, c) <= budget)!;
      expect(planShards(bytes, { maxShardBytes: budget }, [], costs)).to.have.length(fewest);
    }
  });

  it("by budget, packs into the fewest shards and then balances them", () => {
    // Greedy packing needs 3 shards ([4,4][4,4][1]); balanced, 3 shards give [4][4,4][4,1] (squares 105 < 129;
    // [4,4][4][4,1] ties and loses to the earlier cut).
    const ranges = planShards([4, 4, 4, 4, 1], { maxShardBytes: 8 });
    expect(ranges).to.deep.equal([{ firstLayer: 0, endLayer: 1 }, { firstLayer: 1, endLayer: 3 }, { firstLayer: 3, endLayer: 5 }]);
    expect(thrown(() => planShards([4, 9], { maxShardBytes: 8 }, ["a", "b"])).message).to.equal("layer 'b' has 9 weight bytes, more than maxShardBytes 8: no shard can hold it");
    expect(thrown(() => planShards([], { shards: 1 }))).to.be.instanceOf(ShardingError);
  });
});
