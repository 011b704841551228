import type { LayersModel, Tensor } from "@tensorflow/tfjs";
import { activeTf } from "./backend.js";
import { InferenceEncodingError } from "./ModelError.js";

/**
 * The bytes an inference request and its answer carry on chain, for models whose manifest says
 * `inputEncoding: "uint8-pixels"` and `outputEncoding: "uint8-class"`: one byte per pixel
 * (round(p * 255), row-major, channels last) and one byte for the predicted class. Workers and the
 * demo both go through these functions, so a local prediction and an on-chain answer are computed
 * from identical model inputs.
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
  const expected = inputShape.reduce((product, d) => product * d, 1);
  if (bytes.length !== expected) {
    throw new InferenceEncodingError(
      `input has ${bytes.length} bytes, the model takes ${expected} (shape ${JSON.stringify(inputShape)}, one byte per value)`,
    );
  }
  const pixels = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) pixels[i] = bytes[i] / 255;
  return pixels;
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

/**
 * Decodes each input with the model's input shape, predicts them as one batch and returns the
 * argmax class of each. All tensors are disposed. The same model, inputs and backend always give
 * the same classes; different backends (WASM vs. CUDA) can differ on near-ties.
 */
export async function predictClasses(model: LayersModel, inputs: Uint8Array[]): Promise<number[]> {
  if (inputs.length === 0) return [];
  const tf = activeTf();
  const [, ...shape] = model.inputs[0].shape;
  if (shape.some((d) => d === null)) {
    throw new InferenceEncodingError(`model input shape ${JSON.stringify(model.inputs[0].shape)} is not fixed`);
  }
  const exampleShape = shape as number[];
  const exampleSize = exampleShape.reduce((product, d) => product * d, 1);
  const batch = new Float32Array(inputs.length * exampleSize);
  inputs.forEach((input, i) => batch.set(decodeImage(input, exampleShape), i * exampleSize));
  const classes = tf.tidy(() => {
    const xs = tf.tensor(batch, [inputs.length, ...exampleShape]);
    return (model.predict(xs, { batchSize: 256 }) as Tensor).argMax(-1);
  });
  try {
    return Array.from(await classes.data());
  } finally {
    classes.dispose();
  }
}
