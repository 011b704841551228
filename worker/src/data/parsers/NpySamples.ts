import { parse, type NpyArray } from "npyjs";
import { DatasetFormatError } from "../DatasetError.js";
import type { Samples } from "../schema/DatasetEncoding.js";
import { samplesFromArrays, type ArraySamplesOptions, type NdArray } from "./ArraySamples.js";
import { requireFormat, type SchemaLike } from "./ParserSupport.js";

export interface NpySamplesOptions extends ArraySamplesOptions {
  /** The files' names, for messages (default "features file", "labels file"). */
  fileNames?: { features?: string; labels?: string };
}

/**
 * NumPy `.npy` files of samples of `schema`, read by npyjs: the features, shape [N, ...feature shape] (or
 * [N, feature size], or the feature shape without trailing 1s: Keras' MNIST (N, 28, 28)), and the labels, shape
 * [N]: integer class indices (or unicode class names), or float regression targets. Any numeric dtype converts
 * when its values fit the schema's (float64 to float32, uint8 to int32, int64 labels...). Fortran-ordered,
 * big-endian and complex arrays are refused with a sentence.
 */
export function parseNpySamples(schema: SchemaLike, features: Uint8Array, labels: Uint8Array, options: NpySamplesOptions = {}): Samples {
  requireFormat(schema.document, "npy");
  const where = {
    features: options.fileNames?.features === undefined ? "features file" : `file ${options.fileNames.features}`,
    labels: options.fileNames?.labels === undefined ? "labels file" : `file ${options.fileNames.labels}`,
  };
  return samplesFromArrays(schema, readNpy(features, where.features), readNpy(labels, where.labels), where, options);
}

/** One .npy file as a row-major array of numbers (or strings). */
export function readNpy(bytes: Uint8Array, location: string): NdArray {
  let array: NpyArray;
  try {
    // npyjs views the whole ArrayBuffer: hand it exactly this file's bytes.
    array = parse(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const bigEndian = /Unsupported dtype: >/.exec(message);
    if (bigEndian !== null) throw new DatasetFormatError(`the array is big-endian (${message.slice(19)}): save it little-endian (a.astype("<${message.slice(20)}"))`, { location, cause: error });
    if (error instanceof RangeError) throw new DatasetFormatError(`the array's data is cut short or of the wrong length (${message})`, { location, cause: error });
    throw new DatasetFormatError(`not a NumPy .npy file (${message})`, { location, cause: error });
  }
  const { shape, dtype, fortranOrder } = array;
  if (fortranOrder && shape.filter((n) => n > 1).length > 1) {
    throw new DatasetFormatError("the array is in Fortran (column-major) order: save it in C order (np.ascontiguousarray)", { location });
  }
  if (dtype === "c8" || dtype === "c16") throw new DatasetFormatError(`the array holds complex numbers (${dtype})`, { location });
  const data = array.data as unknown;
  let values: ArrayLike<number> | readonly string[];
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    const numbers = new Float64Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
        throw new DatasetFormatError(`value ${i} (${v}) is too large for any dataset`, { location });
      }
      numbers[i] = Number(v);
    }
    values = numbers;
  } else if (Array.isArray(data)) {
    // Booleans ("b1") as 0/1; unicode arrays stay strings.
    values = data.map((v: unknown) => (typeof v === "boolean" ? Number(v) : v)) as number[] | string[];
  } else values = data as ArrayLike<number>;
  return { shape, values, dtype, integer: /^[iub]/.test(dtype) };
}
