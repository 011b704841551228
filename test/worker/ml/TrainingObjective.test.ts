import { expect } from "chai";
import { builtinSchema } from "../../../worker/src/data/schema/BuiltinSchemas.js";
import { activeTf, selectBackend } from "../../../worker/src/ml/backend.js";
import { evaluate, trainModel } from "../../../worker/src/ml/models.js";
import { parseModelManifest } from "../../../worker/src/ml/ModelManifest.js";
import { checkObjectiveFits, objectiveOf, rocAuc, scoreOf, trainingObjectiveSchema } from "../../../worker/src/ml/TrainingObjective.js";
import { trainingSetOf, type TrainingSet } from "../../../worker/src/ml/TrainingSet.js";

function thrown(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("expected an error");
}

describe("Training objectives: loss and metric from the manifest, any labels", () => {
  before(async () => {
    await selectBackend();
  });

  it("default by output codec, or as the manifest names it; invalid pairs are refused", () => {
    expect(objectiveOf({ outputCodec: { name: "class-index", scoreBits: 16 } })).to.deep.equal({ loss: "categorical-crossentropy", metric: "accuracy" });
    expect(objectiveOf({ outputCodec: { name: "top-k", k: 3 } })).to.deep.equal({ loss: "categorical-crossentropy", metric: "accuracy" });
    expect(objectiveOf({ outputCodec: { name: "binary-probability" } })).to.deep.equal({ loss: "binary-crossentropy", metric: "accuracy" });
    expect(objectiveOf({ outputCodec: { name: "float32-tensor", significantBits: 12 } })).to.deep.equal({ loss: "mean-squared-error", metric: "mae" });
    expect(objectiveOf({ outputCodec: { name: "binary-probability" }, training: { loss: "binary-crossentropy", metric: "auc" } })).to.deep.equal({ loss: "binary-crossentropy", metric: "auc" });
    const refused = (o: unknown) => trainingObjectiveSchema.safeParse(o).error?.issues.map((i) => i.message);
    expect(refused({ loss: "mean-squared-error", metric: "accuracy" })).to.deep.equal(["a mean-squared-error model is scored by mae"]);
    expect(refused({ loss: "categorical-crossentropy", metric: "auc" })).to.deep.equal(["auc scores binary classifiers (binary-crossentropy)"]);
    expect(refused({ loss: "hinge", metric: "accuracy" })).to.have.length(1);
    // A manifest carries it, checked with the rest.
    const manifest = {
      manifestVersion: 2,
      format: "tfjs-layers",
      modelTopology: {},
      weightSpecs: [{ name: "dense/kernel", shape: [3, 1], dtype: "float32" }],
      weightsCid: "bafy",
      contentHash: "0x" + "00".repeat(32),
      signature: { inputs: [{ name: "x", dtype: "float32", shape: [null, 3] }], outputs: [{ name: "y", dtype: "float32", shape: [null, 1] }] },
      inputCodec: { name: "float32-tensor" },
      outputCodec: { name: "binary-probability" },
    };
    expect(parseModelManifest({ ...manifest, training: { loss: "binary-crossentropy", metric: "auc" } }).data?.training).to.deep.equal({ loss: "binary-crossentropy", metric: "auc" });
    expect(parseModelManifest({ ...manifest, training: { loss: "mean-squared-error", metric: "auc" } }).success).to.equal(false);
  });

  it("checks that a model's outputs fit the data's labels", () => {
    const three = { kind: "class" as const, classes: ["a", "b", "c"] };
    expect(() => checkObjectiveFits({ loss: "categorical-crossentropy", metric: "accuracy" }, 3, three)).to.not.throw();
    expect(thrown(() => checkObjectiveFits({ loss: "categorical-crossentropy", metric: "accuracy" }, 10, three))).to.equal("the model outputs 10 classes, the data has 3");
    expect(thrown(() => checkObjectiveFits({ loss: "binary-crossentropy", metric: "auc" }, 2, { kind: "class", classes: ["n", "p"] }))).to.equal(
      "a binary classifier has one output (the probability of class 1), this one has 2",
    );
    expect(thrown(() => checkObjectiveFits({ loss: "mean-squared-error", metric: "mae" }, 1, three))).to.equal("a mean-squared-error model trains on regression targets, the data's labels are classes");
    expect(thrown(() => checkObjectiveFits({ loss: "categorical-crossentropy", metric: "accuracy" }, 1, { kind: "regression" }))).to.equal(
      "a categorical-crossentropy model trains on classes, the data's labels are regression targets",
    );
  });

  it("computes the ROC AUC as the Mann-Whitney statistic, ties sharing their rank", () => {
    expect(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).to.equal(0.75);
    expect(rocAuc([0.9, 0.8, 0.2], [1, 1, 0])).to.equal(1);
    expect(rocAuc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1])).to.equal(0.5);
    expect(Number.isNaN(rocAuc([0.3, 0.6], [1, 1]))).to.equal(true);
    expect(scoreOf("mae", 0.25)).to.equal(0.8);
    expect(scoreOf("auc", 0.7)).to.equal(0.7);
  });

  it("trains and scores a binary classifier (binary cross-entropy, AUC) and a regression (squared error, MAE)", async () => {
    const tf = activeTf();
    // y = 1 when x0 + x1 > 0: linearly separable, 200 points on a seeded grid.
    const n = 200;
    const xs = new Float32Array(n * 2);
    const classes = new Uint16Array(n);
    const targets = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const a = ((i * 37) % 200) / 100 - 1;
      const b = ((i * 91) % 200) / 100 - 1;
      xs.set([a, b], i * 2);
      classes[i] = a + b > 0 ? 1 : 0;
      targets[i] = 3 * a - 2 * b + 0.5;
    }
    const binarySet: TrainingSet = { count: n, xs, exampleShape: [2], dtype: "float32", labels: classes };
    const classifier = tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 1, activation: "sigmoid", kernelInitializer: tf.initializers.zeros() })] });
    const objective = { loss: "binary-crossentropy" as const, metric: "auc" as const };
    const before = await evaluate(classifier, binarySet, { objective });
    expect(before.value).to.equal(0.5); // zero weights: every score ties
    const trained = await trainModel(classifier, binarySet, { epochs: 30, batchSize: 20, learningRate: 0.5, objective, seed: 3 });
    expect(trained.history.at(-1)!.loss).to.be.below(trained.history[0].loss);
    const after = await evaluate(classifier, binarySet, { objective });
    expect(after).to.include({ metric: "auc" });
    expect(after.value).to.be.above(0.99);
    expect(after.accuracy).to.be.above(0.9);
    expect(after.score).to.equal(after.value);

    const regressionSet: TrainingSet = { ...binarySet, labels: targets };
    const regression = tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 1, kernelInitializer: tf.initializers.zeros() })] });
    const mse = { loss: "mean-squared-error" as const, metric: "mae" as const };
    const start = await evaluate(regression, regressionSet, { objective: mse });
    await trainModel(regression, regressionSet, { epochs: 40, batchSize: 20, learningRate: 0.1, objective: mse, seed: 4 });
    const end = await evaluate(regression, regressionSet, { objective: mse });
    expect(Number.isNaN(end.accuracy)).to.equal(true);
    expect(end.value).to.be.below(0.05);
    expect(end.value).to.be.below(start.value / 20);
    expect(end.score).to.equal(1 / (1 + end.value));
    classifier.dispose();
    regression.dispose();
  });

  it("feeds a schema's samples through the model's own input codec (uint8 images scaled as inference scales them)", () => {
    const mnist = builtinSchema("mnist-784/labels-10")!;
    const features = new Uint8Array(784 * 2);
    features[0] = 255;
    features[784 + 1] = 51;
    const manifest = {
      signature: { inputs: [{ name: "x", dtype: "float32" as const, shape: [null, 28, 28, 1] }], outputs: [{ name: "y", dtype: "float32" as const, shape: [null, 10] }] },
      inputCodec: { name: "uint8-image" as const, scale: 1 / 255, mean: [0.5], std: [0.5] },
      outputCodec: { name: "class-index" as const, scoreBits: 16 },
    };
    const set = trainingSetOf(manifest, mnist.document, { count: 2, features, labels: Uint16Array.of(7, 1) });
    expect(set.exampleShape).to.deep.equal([28, 28, 1]);
    expect([set.xs[0], set.xs[1], set.xs[784], set.xs[785]]).to.deep.equal([1, -1, -1, Math.fround((51 / 255 - 0.5) / 0.5)]);
    expect(Array.from(set.labels)).to.deep.equal([7, 1]);
  });
});
