import { expect } from "chai";
import type { Tensor4D } from "@tensorflow/tfjs";
import { BackendSelectionError, selectBackend } from "../../../worker/src/ml/backend.js";

describe("selectBackend", () => {
  it("selects WASM here, after reporting the native backends as not installed", async () => {
    const selected = await selectBackend();
    expect(selected.name).to.equal("wasm");
    expect(selected.tf.getBackend()).to.equal("wasm");
    expect(selected.skipped.map((s) => s.name)).to.deep.equal(["tensorflow-gpu", "tensorflow"]);
    expect(selected.skipped[0].reason).to.equal("@tensorflow/tfjs-node-gpu is not installed");
  });

  it("is idempotent and refuses to switch once selected", async () => {
    const first = await selectBackend();
    // Identity checked as a boolean: chai would otherwise walk the whole tf namespace to describe it.
    expect((await selectBackend("auto")) === first).to.equal(true);
    expect((await selectBackend("wasm")) === first).to.equal(true);
    let caught: unknown;
    await selectBackend("cpu").catch((e: unknown) => (caught = e));
    expect(caught).to.be.instanceOf(BackendSelectionError);
  });

  it("computes conv2d filter gradients on WASM that match the cpu backend's kernel", async () => {
    const { tf } = await selectBackend();
    type Shape = [number, number, number, number];
    const cases: Array<{ strides: number; pad: "same" | "valid"; x: Shape; filter: Shape }> = [
      { strides: 1, pad: "same", x: [3, 28, 28, 1], filter: [5, 5, 1, 8] },
      { strides: 2, pad: "same", x: [4, 12, 12, 3], filter: [3, 3, 3, 5] },
      { strides: 1, pad: "valid", x: [2, 9, 7, 2], filter: [5, 3, 2, 4] },
      { strides: 3, pad: "same", x: [2, 11, 10, 2], filter: [4, 4, 2, 3] },
    ];
    for (const c of cases) {
      const x = tf.randomNormal(c.x, 0, 1, "float32", 1) as Tensor4D;
      const filter = tf.randomNormal(c.filter, 0, 1, "float32", 2) as Tensor4D;
      const dy = tf.randomNormal(tf.conv2d(x, filter, c.strides, c.pad).shape, 0, 1, "float32", 3) as Tensor4D;
      const filterGradient = () => tf.grad((f) => tf.conv2d(x, f as Tensor4D, c.strides, c.pad).mul(dy).sum())(filter);
      const onWasm = filterGradient();
      // Reference: the cpu backend's own Conv2DBackpropFilter kernel on the same tensors.
      await tf.setBackend("cpu");
      const onCpu = filterGradient();
      const reference = Array.from(onCpu.dataSync());
      await tf.setBackend("wasm");
      expect(onWasm.shape).to.deep.equal(c.filter);
      const actual = Array.from(onWasm.dataSync());
      const worst = actual.reduce((max, value, i) => Math.max(max, Math.abs(value - reference[i])), 0);
      expect(worst, JSON.stringify(c)).to.be.below(1e-3);
      expect(actual.some((v) => v !== 0)).to.equal(true);
      tf.dispose([x, filter, dy, onWasm, onCpu]);
    }
  });
});
