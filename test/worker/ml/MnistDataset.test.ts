import { expect } from "chai";
import { selectBackend } from "../../../worker/src/ml/backend.js";
import {
  MNIST_PIXELS,
  imagesToTensor,
  labelsToOneHot,
  loadMnist,
  selectDigits,
} from "../../../worker/src/ml/MnistDataset.js";

describe("loadMnist", () => {
  it("splits the 10,000 digits 8,000/2,000 with every label in both sets", async () => {
    const { train, test } = await loadMnist({ testCount: 2_000, seed: 42 });
    expect(train.count).to.equal(8_000);
    expect(test.count).to.equal(2_000);
    expect(train.images.length).to.equal(8_000 * MNIST_PIXELS);
    expect(new Set(train.labels).size).to.equal(10);
    expect(new Set(test.labels).size).to.equal(10);
    // Shuffled, not grouped by label as the package stores them.
    expect(new Set(test.labels.subarray(0, 50)).size).to.be.greaterThan(5);
    const pixels = train.images;
    expect(pixels.every((p) => p >= 0 && p <= 1)).to.equal(true);
    expect(pixels.some((p) => p > 0.99)).to.equal(true);
  });

  it("gives the same order for the same seed and a different one for another seed", async () => {
    const a = await loadMnist({ testCount: 2_000, seed: 42 });
    const b = await loadMnist({ testCount: 2_000, seed: 42 });
    const c = await loadMnist({ testCount: 2_000, seed: 43 });
    expect(Buffer.from(a.test.labels).equals(Buffer.from(b.test.labels))).to.equal(true);
    expect(Buffer.from(a.train.images.buffer).equals(Buffer.from(b.train.images.buffer))).to.equal(true);
    expect(Buffer.from(a.test.labels).equals(Buffer.from(c.test.labels))).to.equal(false);
  });

  it("makes flat, image and one-hot tensors", async () => {
    const { tf } = await selectBackend();
    const { test } = await loadMnist({ testCount: 2_000, seed: 42 });
    const few = selectDigits(test, [0, 1, 2]);
    const flat = imagesToTensor(few, "flat");
    const image = imagesToTensor(few, "image");
    const oneHot = labelsToOneHot(few);
    expect(flat.shape).to.deep.equal([3, 784]);
    expect(image.shape).to.deep.equal([3, 28, 28, 1]);
    expect(oneHot.shape).to.deep.equal([3, 10]);
    expect(Array.from(oneHot.argMax(-1).dataSync())).to.deep.equal(Array.from(few.labels));
    tf.dispose([flat, image, oneHot]);
  });
});
