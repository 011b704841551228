import type { Samples } from "../data/schema/DatasetEncoding.js";
import type { SchemaDocument } from "../data/schema/SchemaDocument.js";
import { ModelManifestError } from "./ModelError.js";
import { codecsOf, type ModelCodecs } from "./ModelManifest.js";

// Free of tfjs and of Node: the dApp scores models in the browser on the same inputs the workers train and evaluate on.

/**
 * The samples' features as the model is fed them, flat: each sample's values encoded and decoded by the model's input
 * codec, exactly as a request's bytes are (the uint8-image scaling, the int32 token checks).
 */
export function modelInputs(manifest: ModelCodecs, document: SchemaDocument, samples: Samples): Float32Array | Int32Array {
  checkInputFits(manifest, document);
  const { input } = codecsOf(manifest);
  const size = document.features.shape.reduce((a, b) => a * b, 1);
  const xs = input.dtype === "int32" ? new Int32Array(samples.count * size) : new Float32Array(samples.count * size);
  for (let i = 0; i < samples.count; i++) {
    xs.set(input.decode(input.encode(samples.features.subarray(i * size, (i + 1) * size))), i * size);
  }
  return xs;
}

/** The same number of values, of a dtype the model's input codec reads. */
export function checkInputFits(manifest: ModelCodecs, document: SchemaDocument): void {
  const { input } = codecsOf(manifest);
  const size = document.features.shape.reduce((a, b) => a * b, 1);
  const exampleSize = input.exampleShape.reduce((a, b) => a * b, 1);
  if (exampleSize !== size) {
    throw new ModelManifestError(`the model takes ${exampleSize} values per example (${input.exampleShape.join("x")}), the schema ${document.name} gives ${size}`);
  }
  if ((input.spec.name === "uint8-image") !== (document.features.dtype === "uint8") || (input.spec.name === "int32-tokens") !== (document.features.dtype === "int32")) {
    throw new ModelManifestError(`the model's ${input.spec.name} input does not take the ${document.features.dtype} features of ${document.name}`);
  }
}

