import { expect } from "chai";
import type { LayersModel, Tensor } from "@tensorflow/tfjs";
import { selectBackend, type Tf } from "../../../../worker/src/ml/backend.js";
import { activationHash, decodeActivation, encodeActivation } from "../../../../worker/src/ml/sharding/Activations.js";
import { splitModel, type ModelShard } from "../../../../worker/src/ml/sharding/ModelSplit.js";
import { runShards } from "../../../../worker/src/ml/sharding/ShardPipeline.js";
import { ShardingError } from "../../../../worker/src/ml/sharding/ShardingError.js";
import { buildTestMlp, compare, rejection } from "./fixtures.js";

describe("runShards: a local pipeline of shards", function () {
  this.timeout(60_000);
  let tf: Tf;
  let mlp: LayersModel;
  let shards: ModelShard[];
  let input: Tensor;

  before(async () => {
    ({ tf } = await selectBackend());
    mlp = buildTestMlp(tf);
    shards = await splitModel(mlp, { shards: 4 });
    input = tf.randomNormal([10, 32], 0, 1, "float32", 41);
  });

  after(() => {
    shards.forEach((s) => s.model.dispose());
    mlp.dispose();
    tf.dispose(input);
  });

  it("chains the stage hashes: each stage's output hash is the next one's input hash", async () => {
    const { output, stages } = await runShards(shards.map((s) => s.model), input);
    expect(stages.map((s) => s.index)).to.deep.equal([0, 1, 2, 3]);
    expect(stages[0].inputHash).to.equal(activationHash(encodeActivation(input)));
    for (let i = 1; i < stages.length; i++) expect(stages[i].inputHash).to.equal(stages[i - 1].outputHash);
    expect(new Set(stages.map((s) => s.outputHash)).size).to.equal(4);
    expect(stages.map((s) => s.outputShape)).to.deep.equal(shards.map((s) => [10, ...(s.outputShape as number[])]));
    expect(stages.map((s) => s.outputBytes)).to.deep.equal(stages.map((s) => 8 + 4 * s.outputShape.length + 4 * s.outputShape.reduce((a, b) => a * b, 1)));
    // The output is what the last stage sent.
    expect(activationHash(encodeActivation(output))).to.equal(stages[3].outputHash);
    // Each stage's hash is that of the shard's output bytes on the stage's input, run by hand.
    let bytes = encodeActivation(input);
    for (const [i, shard] of shards.entries()) {
      const { shape, data } = decodeActivation(bytes);
      const x = tf.tensor(data, shape);
      const y = shard.model.predict(x) as Tensor;
      bytes = encodeActivation(y);
      expect(activationHash(bytes), `stage ${i}`).to.equal(stages[i].outputHash);
      tf.dispose([x, y]);
    }
    const expected = mlp.predict(input) as Tensor;
    expect((await compare(tf, output, expected)).maxAbsDiff).to.be.at.most(1e-5);
    // Running again gives the same bytes.
    const again = await runShards(shards.map((s) => s.model), input);
    expect(again.stages).to.deep.equal(stages);
    tf.dispose([output, expected, again.output]);
  });

  it("names the stage whose shard cannot take its input, and needs a shard", async () => {
    const swapped = [shards[1].model, shards[0].model];
    const error = await rejection(runShards(swapped, input));
    expect(error).to.be.instanceOf(ShardingError);
    expect(error.message).to.match(new RegExp(`^stage 0 \\(${shards[1].model.name}\\) failed on an input of shape \\[10,32\\]: `));
    expect((await rejection(runShards([], input))).message).to.equal("runShards needs at least one shard");
  });
});
