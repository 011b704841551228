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
  it("computes transposed matMuls on WASM (materialized transpose, then XNNPACK) that match the cpu backend", async () => {
    const { tf } = await selectBackend();
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const cases: Array<{ a: number[]; b: number[]; transposeA: boolean; transposeB: boolean }> = [
      { a: [7, 5], b: [5, 3], transposeA: false, transposeB: false },
      { a: [5, 7], b: [5, 3], transposeA: true, transposeB: false },
      { a: [7, 5], b: [3, 5], transposeA: false, transposeB: true },
      { a: [5, 7], b: [3, 5], transposeA: true, transposeB: true },
      // The dense layers' backward pass of the FedAvg CNN: dx = dy·Wᵀ and dW = xᵀ·dy.
      { a: [10, 512], b: [3136, 512], transposeA: false, transposeB: true },
      { a: [10, 3136], b: [10, 512], transposeA: true, transposeB: false },
      // Batched, and broadcast over the batch dimensions.
      { a: [2, 3, 6, 4], b: [2, 3, 5, 6], transposeA: true, transposeB: true },
      { a: [2, 1, 4, 6], b: [3, 5, 6], transposeA: false, transposeB: true },
      { a: [1, 6], b: [4, 1], transposeA: true, transposeB: true },
    ];
    for (const c of cases) {
      const a = tf.randomNormal(c.a, 0, 1, "float32", 4);
      const b = tf.randomNormal(c.b, 0, 1, "float32", 5);
      const idsBefore = backend.numDataIds();
      const onWasm = tf.matMul(a, b, c.transposeA, c.transposeB);
      // The wrapper's transposed copies are freed: only the product was added.
      expect(backend.numDataIds(), JSON.stringify(c)).to.equal(idsBefore + 1);
      await tf.setBackend("cpu");
      const onCpu = tf.matMul(a, b, c.transposeA, c.transposeB);
      const reference = Array.from(onCpu.dataSync());
      await tf.setBackend("wasm");
      expect(onWasm.shape, JSON.stringify(c)).to.deep.equal(onCpu.shape);
      expectClose(Array.from(onWasm.dataSync()), reference, 1e-3, JSON.stringify(c));
      tf.dispose([a, b, onWasm, onCpu]);
    }
  });

  it("computes conv2d input gradients on WASM (stride 1 as an XNNPACK conv2d) that match the cpu backend's kernel", async () => {
    const { tf } = await selectBackend();
    const backend = tf.backend() as unknown as { numDataIds(): number };
    type Shape = [number, number, number, number];
    type Pad = "same" | "valid" | [[number, number], [number, number], [number, number], [number, number]];
    const cases: Array<{ strides: number; pad: Pad; x: Shape; filter: Shape }> = [
      // The FedAvg CNN's second convolution, and its first.
      { strides: 1, pad: "same", x: [3, 14, 14, 32], filter: [5, 5, 32, 64] },
      { strides: 1, pad: "same", x: [2, 28, 28, 1], filter: [5, 5, 1, 8] },
      { strides: 1, pad: "valid", x: [2, 9, 7, 2], filter: [5, 3, 2, 4] },
      { strides: 1, pad: "same", x: [2, 8, 9, 3], filter: [4, 2, 3, 2] },
      { strides: 1, pad: [[0, 0], [2, 0], [1, 3], [0, 0]], x: [1, 6, 5, 2], filter: [3, 3, 2, 3] },
      // Strided: the original WASM kernel.
      { strides: 2, pad: "same", x: [4, 12, 12, 3], filter: [3, 3, 3, 5] },
    ];
    for (const c of cases) {
      const x = tf.randomNormal(c.x, 0, 1, "float32", 6) as Tensor4D;
      const filter = tf.randomNormal(c.filter, 0, 1, "float32", 7) as Tensor4D;
      const dy = tf.randomNormal(tf.conv2d(x, filter, c.strides, c.pad).shape, 0, 1, "float32", 8) as Tensor4D;
      const inputGradient = () => tf.grad((input) => tf.conv2d(input as Tensor4D, filter, c.strides, c.pad).mul(dy).sum())(x);
      const idsBefore = backend.numDataIds();
      const onWasm = inputGradient();
      expect(backend.numDataIds(), JSON.stringify(c)).to.equal(idsBefore + 1);
      await tf.setBackend("cpu");
      const onCpu = inputGradient();
      const reference = Array.from(onCpu.dataSync());
      await tf.setBackend("wasm");
      expect(onWasm.shape).to.deep.equal(c.x);
      const actual = Array.from(onWasm.dataSync());
      expectClose(actual, reference, 1e-3, JSON.stringify(c));
      expect(actual.some((v) => v !== 0)).to.equal(true);
      tf.dispose([x, filter, dy, onWasm, onCpu]);
    }
  });
});

function expectClose(actual: number[], expected: number[], tolerance: number, message: string): void {
  expect(actual.length, message).to.equal(expected.length);
  // Relative to the magnitude: float32 sums of hundreds of products differ in their last bits.
  const worst = actual.reduce((max, value, i) => Math.max(max, Math.abs(value - expected[i]) / Math.max(1, Math.abs(expected[i]))), 0);
  expect(worst, message).to.be.below(tolerance);
}
