import { expect } from "chai";
import { selectBackend } from "../../../worker/src/ml/backend.js";
import { loadMnist, selectDigits, type MnistSplit } from "../../../worker/src/ml/MnistDataset.js";
import { buildCnn, buildMlp, evaluate, trainModel } from "../../../worker/src/ml/models.js";

describe("models", () => {
  let mnist: MnistSplit;

  before(async () => {
    await selectBackend();
    mnist = await loadMnist({ testCount: 2_000, seed: 42 });
  });

  it("builds the same weights from the same seed", async () => {
    const { tf } = await selectBackend();
    const a = buildMlp({ seed: 3 });
    const b = buildMlp({ seed: 3 });
    const c = buildMlp({ seed: 4 });
    expect(a.countParams()).to.equal(199_210);
    const first = (m: typeof a) => m.getWeights()[0].dataSync();
    expect(Buffer.from(first(a).buffer).equals(Buffer.from(first(b).buffer))).to.equal(true);
    expect(Buffer.from(first(a).buffer).equals(Buffer.from(first(c).buffer))).to.equal(false);
    const cnn = buildCnn({ seed: 3 });
    expect(cnn.countParams()).to.equal(1_663_370);
    tf.dispose([a, b, c, cnn].flatMap((m) => m.getWeights()));
  });

  it("trains the 2NN on 8,000 digits to at least 90% test accuracy in 2 epochs", async () => {
    const { name } = await selectBackend();
    const model = buildMlp({ seed: 7 });
    const epochs: number[] = [];
    const result = await trainModel(model, mnist.train, {
      epochs: 2,
      batchSize: 50,
      learningRate: 0.1,
      optimizer: "sgd",
      seed: 1,
      onEpoch: (epoch) => void epochs.push(epoch),
    });
    const { accuracy, loss } = await evaluate(model, mnist.test);
    console.log(
      `      2NN on ${name}: ${result.samplesPerSecond.toFixed(0)} samples/s, ` +
        `test accuracy ${(accuracy * 100).toFixed(2)}%, loss ${loss.toFixed(3)}`,
    );
    expect(epochs).to.deep.equal([0, 1]);
    expect(result.history[1].loss).to.be.below(result.history[0].loss);
    expect(accuracy).to.be.at.least(0.9);
    model.dispose();
  });

  it("trains the CNN one step on the default backend", async () => {
    const { name, tf } = await selectBackend();
    const model = buildCnn({ seed: 1 });
    const batch = selectDigits(mnist.train, Array.from({ length: 32 }, (_, i) => i));
    const before = model.getWeights()[0].dataSync().slice();
    const started = performance.now();
    const result = await trainModel(model, batch, { epochs: 1, batchSize: 32, learningRate: 0.05 });
    const milliseconds = performance.now() - started;
    console.log(`      CNN step of 32 on ${name}: ${milliseconds.toFixed(0)} ms`);
    expect(Number.isFinite(result.history[0].loss)).to.equal(true);
    const after = model.getWeights()[0].dataSync();
    expect(after.some((w, i) => w !== before[i])).to.equal(true); // the conv filters moved
    const tensorsBefore = tf.memory().numTensors;
    model.dispose();
    expect(tf.memory().numTensors).to.be.below(tensorsBefore);
  });
  it("rejects an SGD momentum outside [0, 1) before training", async () => {
    const model = buildMlp({ seed: 1 });
    const batch = selectDigits(mnist.train, [0, 1, 2, 3]);
    const before = model.getWeights()[0].dataSync().slice();
    for (const momentum of [1, -0.1, Number.NaN]) {
      let caught: unknown;
      await trainModel(model, batch, { epochs: 1, batchSize: 4, learningRate: 0.1, momentum }).catch((e: unknown) => (caught = e));
      expect(caught, String(momentum)).to.be.instanceOf(RangeError);
    }
    expect(Array.from(model.getWeights()[0].dataSync())).to.deep.equal(Array.from(before));
    model.dispose();
  });
});
