import type { LayersModel, Tensor } from "@tensorflow/tfjs";
import { activeTf } from "../ml/backend.js";
import { sha256Hex } from "../ml/ModelArtifacts.js";
import { WeightsShapeError } from "./TrainingError.js";

/** All of a model's weights as one vector, in `model.getWeights()` order: layer by layer, kernel then bias. */
export interface FlatWeights {
  values: Float32Array;
  /** The shape of each weight tensor, in the order its values appear in `values`. */
  shapes: number[][];
}

const LITTLE_ENDIAN = new Uint8Array(Float32Array.of(1).buffer)[0] === 0;

/**
 * Reads every weight of `model` into one Float32Array. The order is the model's own (its layers
 * in sequence, each layer's kernel before its bias), which the topology fixes: two models built
 * from the same architecture flatten to vectors whose coordinates mean the same thing.
 */
export function flattenWeights(model: LayersModel): FlatWeights {
  const tensors = model.getWeights();
  const shapes = tensors.map((t) => [...t.shape]);
  const values = new Float32Array(tensors.reduce((sum, t) => sum + t.size, 0));
  let offset = 0;
  for (const tensor of tensors) {
    if (tensor.dtype !== "float32") throw new WeightsShapeError(`weight of dtype ${tensor.dtype} is not float32`);
    values.set(tensor.dataSync() as Float32Array, offset);
    offset += tensor.size;
  }
  return { values, shapes };
}

/** Loads a flat vector (e.g. the aggregated global model) into `model`, checking its length against the model's shapes. */
export function loadFlatWeights(model: LayersModel, values: Float32Array): void {
  const tf = activeTf();
  const shapes = model.weights.map((w) => [...w.shape] as number[]);
  const expected = shapes.reduce((sum, shape) => sum + sizeOf(shape), 0);
  if (values.length !== expected) {
    throw new WeightsShapeError(`the model has ${expected} weights, got a vector of ${values.length}`);
  }
  const tensors: Tensor[] = [];
  let offset = 0;
  try {
    for (const shape of shapes) {
      const size = sizeOf(shape);
      tensors.push(tf.tensor(values.subarray(offset, offset + size), shape, "float32"));
      offset += size;
    }
    model.setWeights(tensors);
  } finally {
    tf.dispose(tensors);
  }
}

/** The number of values a tensor of `shape` holds. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((product, d) => product * d, 1);
}

/** The canonical bytes of a weight vector: each value as an IEEE-754 float32, little-endian. */
export function weightsToBytes(values: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  return bytes;
}

/** The inverse of `weightsToBytes` (copies, so the result is aligned and owns its buffer). */
export function weightsFromBytes(bytes: Uint8Array): Float32Array {
  if (bytes.length % 4 !== 0) throw new WeightsShapeError(`${bytes.length} bytes are not a whole number of float32 values`);
  const values = new Float32Array(bytes.length / 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < values.length; i++) values[i] = view.getFloat32(i * 4, true);
  return values;
}

/**
 * sha256 of the canonical bytes: the value workers post on chain for an update or an aggregate
 * (and the registry's `contentHash` of a trained version), so that honest workers who computed
 * the same weights agree on it bit for bit. The same hash as a published model's `contentHash`
 * over its weights file, since these bytes are a tfjs weights file of the model's float32 weights.
 */
export function weightsHash(values: Float32Array): `0x${string}` {
  return sha256Hex(weightsToBytes(values));
}
