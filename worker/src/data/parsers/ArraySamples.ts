import { DatasetFormatError } from "../DatasetError.js";
import type { Samples } from "../schema/DatasetEncoding.js";
import { featureSize } from "../schema/SchemaDocument.js";
import { readLabel } from "./Labels.js";
import { acceptedSampleShapes, sameShape, shapesText, shapeText, type SchemaLike } from "./ParserSupport.js";
import { SampleBuilder, type PixelScale } from "./SampleBuilder.js";

/** An n-dimensional array read from a file (NPY, IDX), row-major. */
export interface NdArray {
  readonly shape: readonly number[];
  /** Numbers, or strings (a NumPy unicode array: class names). */
  readonly values: ArrayLike<number> | readonly string[];
  /** The file's element type, for messages ("u1", "f8", "ubyte"...). */
  readonly dtype: string;
  /** Whether that type holds integers only (then uint8 features are on the 0..255 scale). */
  readonly integer: boolean;
}

export interface ArraySamplesOptions {
  /** uint8 features in a float array: how they are scaled (default `auto`; integer arrays are always 0..255). */
  pixelScale?: PixelScale;
}

/**
 * Samples from a features array of shape [N, ...feature shape] (or the shape without trailing 1s, or [N, size])
 * and a labels array of shape [N] (or [N, 1]): class indices or names, or regression targets. Each value converts
 * to the schema's dtype when it fits (float64 to float32, uint8 to int32...); one that does not is an error naming
 * the sample. `where` names the two files in messages.
 */
export function samplesFromArrays(
  schema: SchemaLike,
  features: NdArray,
  labels: NdArray,
  where: { features: string; labels: string },
  options: ArraySamplesOptions = {},
): Samples {
  const { document } = schema;
  const size = featureSize(document);
  const accepted = acceptedSampleShapes(document);
  const [count, ...sample] = features.shape;
  if (count === undefined || !(accepted.some((s) => sameShape(s, sample)) || (size === 1 && sample.length === 0))) {
    const expected = shapesText(accepted.map((s) => ["N", ...s] as unknown as number[]));
    throw new DatasetFormatError(`the array has shape ${shapeText(features.shape)}, and the samples of ${document.name} need ${expected}`, { location: where.features });
  }
  if (count === 0) throw new DatasetFormatError("the array has no samples", { location: where.features });
  if (features.values.length !== count * size) {
    throw new DatasetFormatError(`the array holds ${features.values.length} values, and its shape ${shapeText(features.shape)} needs ${count * size}`, { location: where.features });
  }
  if (typeof features.values[0] === "string") throw new DatasetFormatError(`the features are strings (${features.dtype}), not numbers`, { location: where.features });
  const shapeFits = labels.shape.length === 1 || (labels.shape.length === 2 && labels.shape[1] === 1);
  if (!shapeFits) throw new DatasetFormatError(`the array has shape ${shapeText(labels.shape)}, and labels need [N] (one per sample)`, { location: where.labels });
  if (labels.shape[0] !== count) throw new DatasetFormatError(`${labels.shape[0]} labels for the ${count} samples of ${where.features}`, { location: where.labels });
  if (labels.values.length !== count) {
    throw new DatasetFormatError(`the array holds ${labels.values.length} values, and its shape ${shapeText(labels.shape)} needs ${count}`, { location: where.labels });
  }
  const values = features.values as ArrayLike<number>;
  const builder = new SampleBuilder(document, { pixelScale: options.pixelScale, capacity: count, integerSource: features.integer });
  for (let i = 0; i < count; i++) {
    const location = `sample ${i}`;
    const base = i * size;
    builder.push(location, readLabel(document, labels.values[i], location, where.labels), (j) => values[base + j]);
  }
  return builder.finish();
}
