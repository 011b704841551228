import { DatasetFormatError } from "../DatasetError.js";
import type { Samples } from "../schema/DatasetEncoding.js";
import { samplesFromArrays, type ArraySamplesOptions, type NdArray } from "./ArraySamples.js";
import { requireFormat, type SchemaLike } from "./ParserSupport.js";

export interface IdxSamplesOptions extends ArraySamplesOptions {
  /** The files' names, for messages (default "images file", "labels file"). */
  fileNames?: { images?: string; labels?: string };
}

/**
 * The IDX files of the original MNIST distribution (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`) and of
 * EMNIST, Fashion-MNIST...: the images, dimensions [N, ...feature shape] (or the shape without trailing 1s:
 * MNIST's [N, 28, 28]), and the labels, [N].
 *
 * The format: two zero bytes, a type code (0x08 ubyte, 0x09 signed byte, 0x0B short, 0x0C int, 0x0D float,
 * 0x0E double), the number of dimensions; then each dimension as a big-endian uint32; then the values,
 * big-endian, row-major.
 */
export function parseIdxSamples(schema: SchemaLike, images: Uint8Array, labels: Uint8Array, options: IdxSamplesOptions = {}): Samples {
  requireFormat(schema.document, "idx");
  const where = {
    features: options.fileNames?.images === undefined ? "images file" : `file ${options.fileNames.images}`,
    labels: options.fileNames?.labels === undefined ? "labels file" : `file ${options.fileNames.labels}`,
  };
  return samplesFromArrays(schema, readIdx(images, where.features), readIdx(labels, where.labels), where, options);
}

const TYPES: Record<number, { name: string; bytes: number; integer: boolean }> = {
  0x08: { name: "ubyte", bytes: 1, integer: true },
  0x09: { name: "byte", bytes: 1, integer: true },
  0x0b: { name: "short", bytes: 2, integer: true },
  0x0c: { name: "int", bytes: 4, integer: true },
  0x0d: { name: "float", bytes: 4, integer: false },
  0x0e: { name: "double", bytes: 8, integer: false },
};

/** One IDX file as a row-major array. */
export function readIdx(bytes: Uint8Array, location: string): NdArray {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) {
    throw new DatasetFormatError("not an IDX file (it does not start with two zero bytes, a type code and a dimension count)", { location });
  }
  const type = TYPES[bytes[2]];
  if (type === undefined) throw new DatasetFormatError(`IDX type code 0x${bytes[2].toString(16).padStart(2, "0")} is unknown (expected 0x08, 0x09, 0x0B, 0x0C, 0x0D or 0x0E)`, { location });
  const dimensions = bytes[3];
  const dataOffset = 4 + 4 * dimensions;
  if (dimensions === 0 || bytes.length < dataOffset) throw new DatasetFormatError(`the IDX header is cut short (${dimensions} dimensions need ${dataOffset} bytes)`, { location });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape = Array.from({ length: dimensions }, (_, d) => view.getUint32(4 + 4 * d, false));
  const count = shape.reduce((a, b) => a * b, 1);
  const expected = dataOffset + count * type.bytes;
  if (bytes.length !== expected) {
    throw new DatasetFormatError(`the file has ${bytes.length} bytes, and its header (${type.name} values of dimensions [${shape.join(", ")}]) needs ${expected}`, { location });
  }
  const data = bytes.subarray(dataOffset);
  let values: ArrayLike<number>;
  switch (type.name) {
    case "ubyte":
      values = data;
      break;
    case "byte":
      values = new Int8Array(data.buffer, data.byteOffset, data.length);
      break;
    default: {
      const out = type.name === "short" ? new Int16Array(count) : type.name === "int" ? new Int32Array(count) : type.name === "float" ? new Float32Array(count) : new Float64Array(count);
      const read =
        type.name === "short"
          ? (o: number) => view.getInt16(o, false)
          : type.name === "int"
            ? (o: number) => view.getInt32(o, false)
            : type.name === "float"
              ? (o: number) => view.getFloat32(o, false)
              : (o: number) => view.getFloat64(o, false);
      for (let i = 0; i < count; i++) out[i] = read(dataOffset + i * type.bytes);
      values = out;
    }
  }
  return { shape, values, dtype: type.name, integer: type.integer };
}
