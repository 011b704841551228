import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LayersModel } from "@tensorflow/tfjs";
import { serializeModel } from "../../worker/src/ml/ModelArtifacts.js";

/**
 * Saves a LayersModel in the on-disk layout of tfjs's `file://` handler (what `model.save` writes
 * under tfjs-node, which this host lacks): model.json with the topology and a weightsManifest
 * naming the weight files, and the weights split into `shards` files.
 */
export async function saveModelFolder(model: LayersModel, dir: string, options: { shards?: number } = {}): Promise<void> {
  const { modelTopology, weightSpecs, weightData: weights } = await serializeModel(model);
  const shards = options.shards ?? 1;
  const size = Math.ceil(weights.byteLength / shards);
  const paths = Array.from({ length: shards }, (_, i) => (shards === 1 ? "weights.bin" : `group1-shard${i + 1}of${shards}.bin`));
  mkdirSync(dir, { recursive: true });
  paths.forEach((file, i) => writeFileSync(join(dir, file), weights.subarray(i * size, (i + 1) * size)));
  const modelJson = {
    modelTopology,
    format: "layers-model",
    generatedBy: "TensorFlow.js tfjs-layers",
    convertedBy: null,
    weightsManifest: [{ paths, weights: weightSpecs }],
  };
  writeFileSync(join(dir, "model.json"), JSON.stringify(modelJson));
}

/**
 * Writes a tfjs GraphModel folder as the TensorFlow-to-tfjs converter lays it out (model.json with
 * `format: "graph-model"`, a GraphDef of nodes and a weightsManifest naming the Const nodes' values):
 * y = softmax(x W + b) for x of `features` values, W of features × classes. A hand-made fixture: the
 * converter (Python) is not available here.
 */
export function saveDenseSoftmaxGraphFolder(dir: string, weights: { w: number[][]; b: number[] }, options: { withSignature?: boolean } = {}): void {
  const features = weights.w.length;
  const classes = weights.b.length;
  const dim = (...sizes: number[]) => ({ dim: sizes.map((n) => ({ size: String(n) })) });
  const f32 = { type: "DT_FLOAT" };
  const modelTopology = {
    node: [
      { name: "x", op: "Placeholder", attr: { dtype: f32, shape: { shape: dim(-1, features) } } },
      { name: "w", op: "Const", attr: { dtype: f32, value: { tensor: { dtype: "DT_FLOAT", tensorShape: dim(features, classes) } } } },
      { name: "b", op: "Const", attr: { dtype: f32, value: { tensor: { dtype: "DT_FLOAT", tensorShape: dim(classes) } } } },
      { name: "mm", op: "MatMul", input: ["x", "w"], attr: { T: f32, transpose_a: { b: false }, transpose_b: { b: false } } },
      { name: "logits", op: "BiasAdd", input: ["mm", "b"], attr: { T: f32, data_format: { s: Buffer.from("NHWC").toString("base64") } } },
      { name: "probs", op: "Softmax", input: ["logits"], attr: { T: f32 } },
    ],
    library: {},
    versions: { producer: 1 },
  };
  const signature = {
    inputs: { x: { name: "x:0", dtype: "DT_FLOAT", tensorShape: dim(-1, features) } },
    outputs: { probs: { name: "probs:0", dtype: "DT_FLOAT", tensorShape: dim(-1, classes) } },
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "weights.bin"), new Uint8Array(Float32Array.from([...weights.w.flat(), ...weights.b]).buffer));
  const modelJson = {
    format: "graph-model",
    generatedBy: "hand-written test fixture",
    convertedBy: null,
    modelTopology,
    ...(options.withSignature === false ? {} : { signature }),
    weightsManifest: [{ paths: ["weights.bin"], weights: [{ name: "w", shape: [features, classes], dtype: "float32" }, { name: "b", shape: [classes], dtype: "float32" }] }],
  };
  writeFileSync(join(dir, "model.json"), JSON.stringify(modelJson));
}

/**
 * Weights laid out as Keras's converter writes them: each layer's together, in layer order (a batch norm's gamma,
 * beta, moving mean, moving variance), where tfjs lists every trainable weight first. The same bytes per weight.
 */
export function inKerasOrder(
  modelTopology: { config: { layers: { config: { name: string } }[] } },
  weightSpecs: readonly { name: string; shape: number[] }[],
  weightData: Uint8Array,
): { weightSpecs: { name: string; shape: number[] }[]; weightData: Uint8Array; reordered: boolean } {
  let at = 0;
  const slices = weightSpecs.map((spec, i) => {
    const size = spec.shape.reduce((a, b) => a * b, 1) * 4;
    at += size;
    return { spec, bytes: weightData.subarray(at - size, at), i };
  });
  const layerOf = (name: string) => modelTopology.config.layers.findIndex((l) => name.startsWith(`${l.config.name}/`));
  const ordered = [...slices].sort((a, b) => layerOf(a.spec.name) - layerOf(b.spec.name) || a.i - b.i);
  return {
    weightSpecs: ordered.map((s) => s.spec),
    weightData: Buffer.concat(ordered.map((s) => s.bytes)),
    reordered: ordered.some((s, i) => s.i !== i),
  };
}
