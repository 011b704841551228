import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LayersModel, io } from "@tensorflow/tfjs";
import { activeTf } from "../../worker/src/ml/backend.js";

/**
 * Saves a LayersModel in the on-disk layout of tfjs's `file://` handler (what `model.save` writes
 * under tfjs-node, which this host lacks): model.json with the topology and a weightsManifest
 * naming the weight files, and the weights split into `shards` files.
 */
export async function saveModelFolder(model: LayersModel, dir: string, options: { shards?: number } = {}): Promise<void> {
  const tf = activeTf();
  let artifacts: io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (saved) => {
      artifacts = saved;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(saved) };
    }),
  );
  const weights = new Uint8Array(tf.io.concatenateArrayBuffers(artifacts!.weightData!));
  const shards = options.shards ?? 1;
  const size = Math.ceil(weights.byteLength / shards);
  const paths = Array.from({ length: shards }, (_, i) => (shards === 1 ? "weights.bin" : `group1-shard${i + 1}of${shards}.bin`));
  mkdirSync(dir, { recursive: true });
  paths.forEach((file, i) => writeFileSync(join(dir, file), weights.subarray(i * size, (i + 1) * size)));
  const modelJson = {
    modelTopology: artifacts!.modelTopology,
    format: "layers-model",
    generatedBy: artifacts!.generatedBy,
    convertedBy: null,
    weightsManifest: [{ paths, weights: artifacts!.weightSpecs }],
  };
  writeFileSync(join(dir, "model.json"), JSON.stringify(modelJson));
}
