import { expect } from "chai";
import { selectBackend } from "../../../worker/src/ml/backend.js";
import {
  decodeClass,
  decodeImage,
  encodeClass,
  encodeImage,
  predictClasses,
} from "../../../worker/src/ml/InferenceCodec.js";
import { InferenceEncodingError } from "../../../worker/src/ml/ModelError.js";
import { loadMnist, MNIST_PIXELS } from "../../../worker/src/ml/MnistDataset.js";
import { buildMlp } from "../../../worker/src/ml/models.js";

describe("InferenceCodec", () => {
  it("encodes pixels as one byte each and decodes them to within half a step", async () => {
    const { test } = await loadMnist({ testCount: 2_000, seed: 42 });
    const pixels = test.images.subarray(0, MNIST_PIXELS);
    const bytes = encodeImage(pixels);
    expect(bytes.length).to.equal(784);
    const decoded = decodeImage(bytes, [784]);
    for (let i = 0; i < pixels.length; i++) expect(Math.abs(decoded[i] - pixels[i])).to.be.at.most(0.5 / 255 + 1e-7);
    expect(encodeImage(decoded)).to.deep.equal(bytes); // stable after one quantization
    expect(Array.from(encodeImage(Float32Array.of(0, 1, 0.5, -0.2, 1.7)))).to.deep.equal([0, 255, 128, 0, 255]);
  });

  it("rejects inputs of the wrong length with the expected size in the message", () => {
    expect(() => decodeImage(new Uint8Array(783), [28, 28, 1]))
      .to.throw(InferenceEncodingError)
      .with.property("message")
      .that.contains("783 bytes, the model takes 784");
    expect(() => encodeImage(Float32Array.of(Number.NaN))).to.throw(InferenceEncodingError, /NaN/);
  });

  it("encodes a class as one byte", () => {
    expect(Array.from(encodeClass(7))).to.deep.equal([7]);
    expect(decodeClass(encodeClass(9))).to.equal(9);
    expect(() => encodeClass(256)).to.throw(InferenceEncodingError);
    expect(() => encodeClass(1.5)).to.throw(InferenceEncodingError);
    expect(() => decodeClass(Uint8Array.of(1, 2))).to.throw(InferenceEncodingError, /1 byte, got 2/);
  });

  it("predicts classes deterministically, in batches, without leaking tensors", async () => {
    const { tf } = await selectBackend();
    const { test } = await loadMnist({ testCount: 2_000, seed: 42 });
    const model = buildMlp({ seed: 21 });
    const inputs = Array.from({ length: 600 }, (_, i) =>
      encodeImage(test.images.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS)),
    );
    const tensorsBefore = tf.memory().numTensors;
    const first = await predictClasses(model, inputs);
    expect(tf.memory().numTensors).to.equal(tensorsBefore);
    expect(first).to.have.length(600);
    expect(first.every((c) => Number.isInteger(c) && c >= 0 && c <= 9)).to.equal(true);
    expect(await predictClasses(model, inputs)).to.deep.equal(first);
    // One at a time gives what the batch gave.
    const single = await Promise.all(inputs.slice(0, 20).map(async (input) => (await predictClasses(model, [input]))[0]));
    expect(single).to.deep.equal(first.slice(0, 20));
    expect(await predictClasses(model, [])).to.deep.equal([]);
    let caught: unknown;
    await predictClasses(model, [new Uint8Array(10)]).catch((e: unknown) => (caught = e));
    expect(caught).to.be.instanceOf(InferenceEncodingError);
    expect(tf.memory().numTensors).to.equal(tensorsBefore);
    model.dispose();
  });
});
