import type { DigitSet } from "../ml/MnistDataset.js";
import { MNIST_SCHEMA } from "./schema/BuiltinSchemas.js";
import {
  DATASET_HEADER_BYTES,
  canonicalByteLength as schemaByteLength,
  commitmentOf,
  decodeSamples,
  encodeSamples,
  recordBytes,
  sampleHashes as schemaSampleHashes,
  type Samples,
} from "./schema/DatasetEncoding.js";

/**
 * MNIST digits in the canonical dataset encoding of the `mnist-784/labels-10` schema (see schema/DatasetEncoding):
 * the digits' own view (uint8 pixels, uint8 labels) that the digit tools, the reference classifier and the
 * federated 2NN/CNN use. Imports nothing Node-only.
 */
export { DATASET_HEADER_BYTES, commitmentOf };

/** Pixels per image (28x28) and label classes of the mnist-784/labels-10 schema (the values of ml/MnistDataset's). */
export const MNIST_PIXELS = 784;
export const MNIST_CLASSES = 10;

/** Bytes of one record: the pixels then the label (uint16). */
export const RECORD_BYTES = recordBytes(MNIST_SCHEMA.document);

/** Decoded digits: image i is `pixels.subarray(i * 784, (i + 1) * 784)`, its label `labels[i]`. */
export interface LabelledImages {
  readonly count: number;
  readonly pixels: Uint8Array;
  readonly labels: Uint8Array;
}

/** Size in bytes of the canonical encoding of `count` digits. */
export function canonicalByteLength(count: number): number {
  return schemaByteLength(MNIST_SCHEMA.document, count);
}

/** Digits as samples of the MNIST schema (the pixels shared, the labels widened to uint16). */
export function mnistSamples(dataset: LabelledImages): Samples {
  return { count: dataset.count, features: dataset.pixels, labels: Uint16Array.from(dataset.labels) };
}

/** Encodes digits canonically; throws DatasetFormatError on a wrong shape or a label outside 0..9. */
export function encodeDataset(dataset: LabelledImages): Uint8Array {
  return encodeSamples(MNIST_SCHEMA, mnistSamples(dataset));
}

/** Decodes canonical bytes of the MNIST schema, checking the header, the exact length and every label. */
export function decodeDataset(bytes: Uint8Array): LabelledImages {
  const samples = decodeSamples(MNIST_SCHEMA, bytes);
  return { count: samples.count, pixels: samples.features as Uint8Array, labels: Uint8Array.from(samples.labels) };
}

/** One sha256 (0x-hex) per digit, over its 784 pixels only: the same image under another label is still a duplicate. */
export function sampleHashes(dataset: LabelledImages): string[] {
  return schemaSampleHashes(MNIST_SCHEMA.document, mnistSamples(dataset));
}

/** The samples as the ML code's DigitSet (pixels scaled to [0, 1]). */
export function toDigitSet(dataset: LabelledImages): DigitSet {
  const images = new Float32Array(dataset.pixels.length);
  for (let i = 0; i < images.length; i++) images[i] = dataset.pixels[i] / 255;
  return { images, labels: dataset.labels.slice(), count: dataset.count };
}

/** A DigitSet (pixels in [0, 1]) as uint8 samples, each pixel rounded to the nearest of 0..255. */
export function fromDigitSet(set: DigitSet): LabelledImages {
  const pixels = new Uint8Array(set.count * MNIST_PIXELS);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.round(Math.min(1, Math.max(0, set.images[i])) * 255);
  return { count: set.count, pixels, labels: set.labels.slice(0, set.count) };
}
