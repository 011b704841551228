import { Uint8ImageInput } from "./codecs/ImageInput.js";
import { signatureOf } from "./codecs/Signature.js";
import { MNIST_CODECS, type InferenceModel } from "./ModelArtifacts.js";
import { InferenceEncodingError } from "./ModelError.js";
import { codecsOf, type ModelCodecs } from "./ModelManifest.js";
import { predictEncoded } from "./Prediction.js";

/**
 * The digit models' codecs under their old names: `uint8-pixels` is the `uint8-image` codec
 * scaled by 1/255 (one byte per pixel, round(p × 255), row-major, channels last) and
 * `uint8-class` is the `class-index` codec (one byte). Everything goes through the generic
 * codecs (./codecs) and `predictEncoded`, so these give the bytes a worker computes.
 */

/** Pixels in [0, 1] to one byte each; values outside [0, 1] are clamped, NaN is rejected. */
export function encodeImage(pixels: Float32Array): Uint8Array {
  const bytes = new Uint8Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) {
    const p = pixels[i];
    if (Number.isNaN(p)) throw new InferenceEncodingError(`pixel ${i} is NaN`);
    bytes[i] = Math.round(Math.min(1, Math.max(0, p)) * 255);
  }
  return bytes;
}

/** One byte per pixel back to floats in [0, 1], checked against the model's per-example input shape. */
export function decodeImage(bytes: Uint8Array, inputShape: readonly number[]): Float32Array {
  const codec = new Uint8ImageInput(MNIST_CODECS.inputCodec as Uint8ImageInput["spec"], {
    name: "input",
    dtype: "float32",
    shape: [null, ...inputShape],
  });
  return codec.decode(bytes);
}

export function encodeClass(label: number): Uint8Array {
  if (!Number.isInteger(label) || label < 0 || label > 255) {
    throw new InferenceEncodingError(`class ${label} does not fit in one byte`);
  }
  return Uint8Array.of(label);
}

export function decodeClass(bytes: Uint8Array): number {
  if (bytes.length !== 1) throw new InferenceEncodingError(`a class is 1 byte, got ${bytes.length}`);
  return bytes[0];
}

/** A digit classifier's codecs: its own signature, uint8-image scaled by 1/255, class-index. */
export function digitCodecsOf(model: InferenceModel): ModelCodecs {
  return { signature: signatureOf(model), ...MNIST_CODECS };
}

/**
 * Decodes each input with the model's input shape, predicts them as one batch and returns the
 * class of each (`class-index`: argmax of the rounded scores, lowest index on ties). All tensors
 * are disposed.
 */
export async function predictClasses(model: InferenceModel, inputs: Uint8Array[]): Promise<number[]> {
  if (inputs.length === 0) return [];
  const codecs = digitCodecsOf(model);
  const output = codecsOf(codecs).output;
  const answers = await predictEncoded(model, codecs, inputs);
  return answers.map((bytes) => {
    const decoded = output.decode(bytes);
    if (decoded.codec !== "class-index") throw new Error("unreachable: digit models answer with a class index");
    return decoded.classIndex;
  });
}
