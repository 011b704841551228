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
