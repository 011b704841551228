import { sha256 } from "ethers";
import type { DigitSet } from "../ml/MnistDataset.js";
import { DatasetFormatError } from "./DatasetError.js";

/**
 * The canonical binary form of a labelled image dataset: what a contributor commits to on chain
 * (`commitmentOf`), what is encrypted and stored, and what validators decode. One encoding per
 * dataset, so that the same digits always give the same commitment whatever file they came from.
 *
 *   offset 0   4 bytes  magic "TSDS"
 *   offset 4   uint8    format version (1)
 *   offset 5   uint8    schema id (1 = "mnist-784/labels-10")
 *   offset 6   uint16   reserved, 0
 *   offset 8   uint32   sample count N, big-endian
 *   offset 12  N records of 784 uint8 pixels (row-major 28x28, 0 = background) + 1 uint8 label
 *
 * This module and the parsers, the cipher and the key envelopes import nothing Node-only, so the
 * dApp bundles them as they are.
 */
export const DATASET_MAGIC = new Uint8Array([0x54, 0x53, 0x44, 0x53]);
export const DATASET_FORMAT_VERSION = 1;
export const DATASET_HEADER_BYTES = 12;

/** Pixels per image (28x28) and label classes of the mnist-784/labels-10 schema (the values of ml/MnistDataset's). */
export const MNIST_PIXELS = 784;
export const MNIST_CLASSES = 10;

export const DatasetSchema = {
  /** 28x28 grey-scale digits, one uint8 label in 0..9. */
  Mnist784Labels10: { id: 1, name: "mnist-784/labels-10", pixels: MNIST_PIXELS, classes: MNIST_CLASSES },
} as const;
export type DatasetSchemaId = (typeof DatasetSchema)[keyof typeof DatasetSchema]["id"];

/** Bytes of one record: the pixels then the label. */
export const RECORD_BYTES = MNIST_PIXELS + 1;

/** Decoded samples: image i is `pixels.subarray(i * 784, (i + 1) * 784)`, its label `labels[i]`. */
export interface LabelledImages {
  readonly count: number;
  readonly pixels: Uint8Array;
  readonly labels: Uint8Array;
}

/** Size in bytes of the canonical encoding of `count` samples. */
export function canonicalByteLength(count: number): number {
  return DATASET_HEADER_BYTES + count * RECORD_BYTES;
}

/** Encodes samples canonically; throws DatasetFormatError on a wrong shape or a label outside 0..9. */
export function encodeDataset(dataset: LabelledImages): Uint8Array {
  assertShape(dataset);
  const bytes = new Uint8Array(canonicalByteLength(dataset.count));
  bytes.set(DATASET_MAGIC, 0);
  const view = new DataView(bytes.buffer);
  view.setUint8(4, DATASET_FORMAT_VERSION);
  view.setUint8(5, DatasetSchema.Mnist784Labels10.id);
  view.setUint32(8, dataset.count, false);
  for (let i = 0; i < dataset.count; i++) {
    const label = dataset.labels[i];
    if (label >= MNIST_CLASSES) throw new DatasetFormatError(`label ${label} is outside 0..9`, { location: `sample ${i}` });
    const offset = DATASET_HEADER_BYTES + i * RECORD_BYTES;
    bytes.set(dataset.pixels.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS), offset);
    bytes[offset + MNIST_PIXELS] = label;
  }
  return bytes;
}

/** Reads the header only: what a dataset claims to be, before decoding its body. */
export function readDatasetHeader(bytes: Uint8Array): { version: number; schemaId: number; count: number } {
  if (bytes.length < DATASET_HEADER_BYTES) {
    throw new DatasetFormatError(`${bytes.length} bytes is shorter than the ${DATASET_HEADER_BYTES}-byte header`, {
      location: "header",
    });
  }
  for (let i = 0; i < DATASET_MAGIC.length; i++) {
    if (bytes[i] !== DATASET_MAGIC[i]) throw new DatasetFormatError("bad magic: not a Tessera dataset", { location: "header" });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint8(4);
  const schemaId = view.getUint8(5);
  if (version !== DATASET_FORMAT_VERSION) {
    throw new DatasetFormatError(`format version ${version} is not supported (expected ${DATASET_FORMAT_VERSION})`, {
      location: "header",
    });
  }
  if (schemaId !== DatasetSchema.Mnist784Labels10.id) {
    throw new DatasetFormatError(`schema id ${schemaId} is unknown (expected ${DatasetSchema.Mnist784Labels10.id}, mnist-784/labels-10)`, {
      location: "header",
    });
  }
  if (view.getUint16(6) !== 0) throw new DatasetFormatError("reserved bytes 6..7 are not zero", { location: "header" });
  return { version, schemaId, count: view.getUint32(8, false) };
}

/** Decodes canonical bytes, checking the header, the exact length and every label. */
export function decodeDataset(bytes: Uint8Array): LabelledImages {
  const { count } = readDatasetHeader(bytes);
  const expected = canonicalByteLength(count);
  if (bytes.length !== expected) {
    throw new DatasetFormatError(
      `${bytes.length} bytes, but ${count} samples of ${RECORD_BYTES} bytes need ${expected}`,
      { location: "body" },
    );
  }
  const pixels = new Uint8Array(count * MNIST_PIXELS);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const offset = DATASET_HEADER_BYTES + i * RECORD_BYTES;
    const label = bytes[offset + MNIST_PIXELS];
    if (label >= MNIST_CLASSES) throw new DatasetFormatError(`label ${label} is outside 0..9`, { location: `sample ${i}` });
    pixels.set(bytes.subarray(offset, offset + MNIST_PIXELS), i * MNIST_PIXELS);
    labels[i] = label;
  }
  return { count, pixels, labels };
}

/** The on-chain plaintext commitment: sha256 of the canonical bytes, as 0x-prefixed bytes32 hex. */
export function commitmentOf(canonicalBytes: Uint8Array): string {
  return sha256(canonicalBytes);
}

/**
 * One sha256 (0x-hex) per sample, over its 784 pixels only: the same image under another label is
 * still a duplicate. Validators keep the hashes of accepted datasets to reject re-submissions.
 */
export function sampleHashes(dataset: LabelledImages): string[] {
  const hashes = new Array<string>(dataset.count);
  for (let i = 0; i < dataset.count; i++) {
    hashes[i] = sha256(dataset.pixels.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS));
  }
  return hashes;
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

function assertShape(dataset: LabelledImages): void {
  if (!Number.isInteger(dataset.count) || dataset.count < 0 || dataset.count > 0xffff_ffff) {
    throw new DatasetFormatError(`sample count ${dataset.count} is not a uint32`);
  }
  if (dataset.pixels.length !== dataset.count * MNIST_PIXELS) {
    throw new DatasetFormatError(`${dataset.pixels.length} pixels for ${dataset.count} samples (expected ${dataset.count * MNIST_PIXELS})`);
  }
  if (dataset.labels.length !== dataset.count) {
    throw new DatasetFormatError(`${dataset.labels.length} labels for ${dataset.count} samples`);
  }
}
