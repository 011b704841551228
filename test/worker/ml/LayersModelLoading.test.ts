import { expect } from "chai";
import type { io, LayersModel } from "@tensorflow/tfjs";
import { activeTf, selectBackend } from "../../../worker/src/ml/backend.js";
import { loadLayersModelByWeight } from "../../../worker/src/ml/LayersModelLoading.js";
import { serializeModel } from "../../../worker/src/ml/ModelArtifacts.js";
import { ModelManifestError } from "../../../worker/src/ml/ModelError.js";

/** Every weight of a model, flattened, by name. */
function weightsOf(model: LayersModel): Record<string, number[]> {
  return Object.fromEntries(model.weights.map((w) => [w.originalName, Array.from(w.read().dataSync())]));
}

describe("loadLayersModelByWeight: one weight at a time, equal to tf.loadLayersModel", function () {
  this.timeout(60_000);
  let tf: ReturnType<typeof activeTf>;
  let source: LayersModel;

  before(async () => {
    await selectBackend("auto");
    tf = activeTf();
    const sequential = tf.sequential();
    sequential.add(tf.layers.conv2d({ inputShape: [6, 6, 2], filters: 3, kernelSize: 3, activation: "relu" }));
    sequential.add(tf.layers.batchNormalization());
    sequential.add(tf.layers.flatten());
    sequential.add(tf.layers.dense({ units: 4, activation: "softmax" }));
    source = sequential;
  });
  after(() => source.dispose());

  /** tfjs's own loader on the same artifacts: the reference. */
  async function byTfjs(topology: object, specs: io.WeightsManifestEntry[], data: Uint8Array): Promise<LayersModel> {
    const buffer = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
    return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: topology, weightSpecs: specs, weightData: buffer }));
  }

  it("gives the same weights and predictions as tfjs's loader, from a view into a larger buffer", async () => {
    const saved = await serializeModel(source);
    const padded = new Uint8Array(saved.weightData.byteLength + 7);
    padded.set(saved.weightData, 3);
    const view = padded.subarray(3, 3 + saved.weightData.byteLength);
    const mine = await loadLayersModelByWeight(saved.modelTopology, saved.weightSpecs, view);
    const theirs = await byTfjs(saved.modelTopology, saved.weightSpecs, saved.weightData);
    expect(weightsOf(mine)).to.deep.equal(weightsOf(theirs));
    expect(weightsOf(mine)).to.deep.equal(weightsOf(source));
    const x = tf.randomUniform([5, 6, 6, 2], 0, 1, "float32", 7);
    expect(Array.from((mine.predict(x) as ReturnType<typeof tf.tensor>).dataSync())).to.deep.equal(Array.from((source.predict(x) as ReturnType<typeof tf.tensor>).dataSync()));
    for (const m of [mine, theirs]) m.dispose();
    x.dispose();
  });

  it("decodes uint8-quantized weights as tfjs does (what the converter's --quantize_uint8 writes)", async () => {
    const saved = await serializeModel(source);
    // Quantize every weight to uint8: value = min + q * scale.
    const specs: io.WeightsManifestEntry[] = [];
    const parts: Uint8Array[] = [];
    let offset = 0;
    for (const spec of saved.weightSpecs) {
      const n = spec.shape.reduce((a, b) => a * b, 1);
      const values = new Float32Array(saved.weightData.buffer.slice(saved.weightData.byteOffset + offset, saved.weightData.byteOffset + offset + n * 4));
      offset += n * 4;
      const min = Math.min(...values);
      const scale = (Math.max(...values) - min) / 255 || 1;
      parts.push(Uint8Array.from(values, (v) => Math.round((v - min) / scale)));
      specs.push({ ...spec, quantization: { dtype: "uint8", scale, min } });
    }
    const data = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    parts.reduce((at, p) => (data.set(p, at), at + p.length), 0);
    const mine = await loadLayersModelByWeight(saved.modelTopology, specs, data);
    const theirs = await byTfjs(saved.modelTopology, specs, data);
    expect(weightsOf(mine)).to.deep.equal(weightsOf(theirs));
    mine.dispose();
    theirs.dispose();
  });

  it("refuses weights that do not fit the model: one missing, one unused, a file of another size", async () => {
    const saved = await serializeModel(source);
    const lastSpec = saved.weightSpecs[saved.weightSpecs.length - 1]!;
    const lastBytes = lastSpec.shape.reduce((a, b) => a * b, 1) * 4;
    const withoutLast = saved.weightData.subarray(0, saved.weightData.byteLength - lastBytes);
    await expectRejection(loadLayersModelByWeight(saved.modelTopology, saved.weightSpecs.slice(0, -1), withoutLast), new RegExp(`missing ${lastSpec.name.replace(/[/.]/g, "\\$&")}$`));
    const renamed = saved.weightSpecs.map((s, i) => (i === 0 ? { ...s, name: "stranger/kernel" } : s));
    await expectRejection(loadLayersModelByWeight(saved.modelTopology, renamed, saved.weightData), /unused stranger\/kernel/);
    await expectRejection(loadLayersModelByWeight(saved.modelTopology, saved.weightSpecs, saved.weightData.subarray(1)), /holds \d+ bytes, its specs describe \d+/);
    // A kernel stated with its dimensions swapped has the right size but not the variable's shape: refused on every
    // backend (on WASM the bytes would otherwise fit the variable's heap memory).
    const swapped = saved.weightSpecs.map((s) => (s.shape.length === 2 ? { ...s, shape: [s.shape[1]!, s.shape[0]!] } : s));
    let refusal: unknown;
    try {
      (await loadLayersModelByWeight(saved.modelTopology, swapped, saved.weightData)).dispose();
    } catch (err) {
      refusal = err;
    }
    expect(String(refusal)).to.match(/[Ss]hape/);
  });

  it("loads from the chunks a store yields, whatever their size (across weight boundaries), and refuses a stream shorter or longer than the specs", async () => {
    const saved = await serializeModel(source);
    const total = saved.weightData.byteLength;
    async function* chunksOf(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < bytes.byteLength; at += size) yield bytes.slice(at, at + size);
    }
    const reference = weightsOf(source);
    for (const size of [1, 7, 64, total - 1, total, total + 5]) {
      const mine = await loadLayersModelByWeight(saved.modelTopology, saved.weightSpecs, chunksOf(saved.weightData, size));
      expect(weightsOf(mine), `chunks of ${size} bytes`).to.deep.equal(reference);
      mine.dispose();
    }
    await expectRejection(loadLayersModelByWeight(saved.modelTopology, saved.weightSpecs, chunksOf(saved.weightData.subarray(0, total - 3), 10)), new RegExp(`holds ${total - 3} bytes, its specs describe ${total}$`));
    const longer = new Uint8Array(total + 9);
    longer.set(saved.weightData);
    await expectRejection(loadLayersModelByWeight(saved.modelTopology, saved.weightSpecs, chunksOf(longer, 10)), new RegExp(`holds ${total + 9} bytes, its specs describe ${total}$`));
    await expectRejection(loadLayersModelByWeight(saved.modelTopology, saved.weightSpecs, chunksOf(new Uint8Array(0), 10)), new RegExp(`holds 0 bytes, its specs describe ${total}$`));
  });
});

async function expectRejection(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(ModelManifestError);
    expect((err as Error).message).to.match(pattern);
    return;
  }
  throw new Error("expected a rejection");
}
