import { sha256 } from "ethers";
import { DatasetFormatError } from "../DatasetError.js";
import { dtypeBytes, featureRange, featureSize, FLOAT32_MAX, type SchemaDocument } from "./SchemaDocument.js";

/**
 * The canonical binary form of a dataset of any schema: what a contributor commits to on chain (`commitmentOf`),
 * what is encrypted and stored, and what validators and trainers decode. One encoding per dataset, so the same
 * samples always give the same commitment whatever file they came from:
 *
 *   offset 0   4 bytes   magic "TSDS"
 *   offset 4   uint8     format version (2)
 *   offset 5   uint8     label kind: 0 = class index (uint16), 1 = regression target (float32)
 *   offset 6   uint16    reserved, 0
 *   offset 8   uint32    sample count N, big-endian
 *   offset 12  32 bytes  the schema id (sha256 of the schema's canonical bytes)
 *   offset 44  N records: the feature values in row-major order (uint8, or int32 / float32 little-endian), then
 *              the label (uint16 or float32, little-endian)
 *
 * Floats are finite and never -0 (written as +0), so equal values have equal bytes. Imports nothing Node-only.
 */
export const DATASET_MAGIC = new Uint8Array([0x54, 0x53, 0x44, 0x53]);
export const DATASET_FORMAT_VERSION = 2;
export const DATASET_HEADER_BYTES = 44;

export type FeatureArray = Uint8Array | Int32Array | Float32Array;
export type LabelArray = Uint16Array | Float32Array;

/** Decoded samples: sample i's features are `features.subarray(i * size, (i + 1) * size)`, its label `labels[i]`. */
export interface Samples {
  readonly count: number;
  readonly features: FeatureArray;
  /** Class indices (Uint16Array) or regression targets (Float32Array). */
  readonly labels: LabelArray;
}

/** A schema with its on-chain id: what the encoding needs. */
export interface SchemaRef {
  readonly id: string;
  readonly document: SchemaDocument;
}

const LABEL_CLASS = 0;
const LABEL_REGRESSION = 1;

/** Bytes of one record of the schema: its features, then its label. */
export function recordBytes(document: SchemaDocument): number {
  return featureSize(document) * dtypeBytes(document.features.dtype) + (document.label.kind === "class" ? 2 : 4);
}

/** Size in bytes of the canonical encoding of `count` samples. */
export function canonicalByteLength(document: SchemaDocument, count: number): number {
  return DATASET_HEADER_BYTES + count * recordBytes(document);
}

/** Typed arrays of the schema's dtypes for `count` samples. */
export function allocateSamples(document: SchemaDocument, count: number): { features: FeatureArray; labels: LabelArray } {
  const n = count * featureSize(document);
  const features = document.features.dtype === "uint8" ? new Uint8Array(n) : document.features.dtype === "int32" ? new Int32Array(n) : new Float32Array(n);
  return { features, labels: document.label.kind === "class" ? new Uint16Array(count) : new Float32Array(count) };
}

/** Encodes samples canonically; throws DatasetFormatError naming the first sample that does not fit the schema. */
export function encodeSamples(schema: SchemaRef, samples: Samples): Uint8Array {
  checkSamples(schema.document, samples);
  const { document } = schema;
  const size = featureSize(document);
  const record = recordBytes(document);
  const bytes = new Uint8Array(canonicalByteLength(document, samples.count));
  const view = new DataView(bytes.buffer);
  bytes.set(DATASET_MAGIC, 0);
  view.setUint8(4, DATASET_FORMAT_VERSION);
  view.setUint8(5, document.label.kind === "class" ? LABEL_CLASS : LABEL_REGRESSION);
  view.setUint32(8, samples.count, false);
  bytes.set(hexBytes(schema.id), 12);
  const dtype = document.features.dtype;
  for (let i = 0; i < samples.count; i++) {
    let offset = DATASET_HEADER_BYTES + i * record;
    if (dtype === "uint8") {
      bytes.set((samples.features as Uint8Array).subarray(i * size, (i + 1) * size), offset);
      offset += size;
    } else {
      for (let j = i * size; j < (i + 1) * size; j++, offset += 4) {
        if (dtype === "int32") view.setInt32(offset, samples.features[j], true);
        else view.setFloat32(offset, samples.features[j] === 0 ? 0 : samples.features[j], true);
      }
    }
    if (document.label.kind === "class") view.setUint16(offset, samples.labels[i], true);
    else view.setFloat32(offset, samples.labels[i] === 0 ? 0 : samples.labels[i], true);
  }
  return bytes;
}

/** Reads the header only: what a dataset claims to be, before decoding its body. */
export function readDatasetHeader(bytes: Uint8Array): { version: number; labelKind: "class" | "regression"; count: number; schemaId: string } {
  if (bytes.length < DATASET_HEADER_BYTES) {
    throw new DatasetFormatError(`${bytes.length} bytes is shorter than the ${DATASET_HEADER_BYTES}-byte header`, { location: "header" });
  }
  for (let i = 0; i < DATASET_MAGIC.length; i++) {
    if (bytes[i] !== DATASET_MAGIC[i]) throw new DatasetFormatError("bad magic: not a Tessera dataset", { location: "header" });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint8(4);
  if (version !== DATASET_FORMAT_VERSION) {
    throw new DatasetFormatError(`format version ${version} is not supported (expected ${DATASET_FORMAT_VERSION})`, { location: "header" });
  }
  const kind = view.getUint8(5);
  if (kind !== LABEL_CLASS && kind !== LABEL_REGRESSION) throw new DatasetFormatError(`label kind ${kind} is unknown`, { location: "header" });
  if (view.getUint16(6) !== 0) throw new DatasetFormatError("reserved bytes 6..7 are not zero", { location: "header" });
  let schemaId = "0x";
  for (let i = 12; i < 44; i++) schemaId += bytes[i].toString(16).padStart(2, "0");
  return { version, labelKind: kind === LABEL_CLASS ? "class" : "regression", count: view.getUint32(8, false), schemaId };
}

/** Decodes canonical bytes of `schema`, checking the header, the exact length and every value against the schema. */
export function decodeSamples(schema: SchemaRef, bytes: Uint8Array): Samples {
  const header = readDatasetHeader(bytes);
  const { document } = schema;
  if (header.schemaId !== schema.id.toLowerCase()) {
    throw new DatasetFormatError(`the data is of schema ${header.schemaId}, not ${schema.id} (${document.name})`, { location: "header" });
  }
  if (header.labelKind !== document.label.kind) throw new DatasetFormatError(`label kind ${header.labelKind}, the schema's is ${document.label.kind}`, { location: "header" });
  const { count } = header;
  const expected = canonicalByteLength(document, count);
  if (bytes.length !== expected) {
    throw new DatasetFormatError(`${bytes.length} bytes, but ${count} samples of ${recordBytes(document)} bytes need ${expected}`, { location: "body" });
  }
  const size = featureSize(document);
  const record = recordBytes(document);
  const { features, labels } = allocateSamples(document, count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dtype = document.features.dtype;
  for (let i = 0; i < count; i++) {
    let offset = DATASET_HEADER_BYTES + i * record;
    if (dtype === "uint8") {
      (features as Uint8Array).set(bytes.subarray(offset, offset + size), i * size);
      offset += size;
    } else {
      for (let j = i * size; j < (i + 1) * size; j++, offset += 4) {
        features[j] = dtype === "int32" ? view.getInt32(offset, true) : canonicalFloat(view.getFloat32(offset, true), `sample ${i}`, `feature ${j - i * size}`);
      }
    }
    labels[i] = document.label.kind === "class" ? view.getUint16(offset, true) : canonicalFloat(view.getFloat32(offset, true), `sample ${i}`, "label");
  }
  const samples = { count, features, labels };
  checkSamples(document, samples);
  return samples;
}

/**
 * Checks every sample against the schema: the array sizes, each feature value within the dtype and the schema's
 * range (integers for integer dtypes, finite floats), each label a class index or a target within range. Throws a
 * DatasetFormatError naming the first offending sample.
 */
export function checkSamples(document: SchemaDocument, samples: Samples): void {
  const size = featureSize(document);
  if (!Number.isInteger(samples.count) || samples.count < 0 || samples.count > 0xffff_ffff) throw new DatasetFormatError(`sample count ${samples.count} is not a uint32`);
  if (samples.features.length !== samples.count * size) {
    throw new DatasetFormatError(`${samples.features.length} feature values for ${samples.count} samples of ${size} (expected ${samples.count * size})`);
  }
  if (samples.labels.length !== samples.count) throw new DatasetFormatError(`${samples.labels.length} labels for ${samples.count} samples`);
  const { min, max } = featureRange(document);
  const integer = document.features.dtype !== "float32";
  for (let i = 0; i < samples.count; i++) {
    for (let j = i * size; j < (i + 1) * size; j++) {
      const v = samples.features[j];
      if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
        throw new DatasetFormatError(`feature ${featureName(document, j - i * size)} is ${v}, expected ${integer ? "an integer" : "a number"} in ${min}..${max}`, {
          location: `sample ${i}`,
        });
      }
    }
    const label = samples.labels[i];
    if (document.label.kind === "class") {
      const n = document.label.classes.length;
      if (!Number.isInteger(label) || label < 0 || label >= n) throw new DatasetFormatError(`label ${label} is not a class index in 0..${n - 1}`, { location: `sample ${i}` });
    } else {
      const lo = document.label.min ?? -FLOAT32_MAX;
      const hi = document.label.max ?? FLOAT32_MAX;
      if (!Number.isFinite(label) || label < lo || label > hi) throw new DatasetFormatError(`target ${label} is outside ${lo}..${hi}`, { location: `sample ${i}` });
    }
  }
}

/** The on-chain plaintext commitment: sha256 of the canonical bytes, as 0x-prefixed bytes32 hex. */
export function commitmentOf(canonicalBytes: Uint8Array): string {
  return sha256(canonicalBytes);
}

/**
 * One sha256 (0x-hex) per sample, over its feature bytes only (as encoded): the same sample under another label is
 * still a duplicate. Validators keep the hashes of accepted datasets to reject re-submissions.
 */
export function sampleHashes(document: SchemaDocument, samples: Samples): string[] {
  const size = featureSize(document);
  const width = dtypeBytes(document.features.dtype);
  const buffer = new Uint8Array(size * width);
  const view = new DataView(buffer.buffer);
  const hashes = new Array<string>(samples.count);
  for (let i = 0; i < samples.count; i++) {
    if (document.features.dtype === "uint8") {
      hashes[i] = sha256((samples.features as Uint8Array).subarray(i * size, (i + 1) * size));
      continue;
    }
    for (let j = 0; j < size; j++) {
      const v = samples.features[i * size + j];
      if (document.features.dtype === "int32") view.setInt32(j * 4, v, true);
      else view.setFloat32(j * 4, v === 0 ? 0 : v, true);
    }
    hashes[i] = sha256(buffer);
  }
  return hashes;
}

/** The samples at `indices`, in that order. */
export function selectSamples(document: SchemaDocument, samples: Samples, indices: readonly number[]): Samples {
  const size = featureSize(document);
  const { features, labels } = allocateSamples(document, indices.length);
  indices.forEach((source, i) => {
    features.set(samples.features.subarray(source * size, (source + 1) * size), i * size);
    labels[i] = samples.labels[source];
  });
  return { count: indices.length, features, labels };
}

/** Samples of one schema, one after the other. */
export function concatSamples(document: SchemaDocument, parts: readonly Samples[]): Samples {
  const size = featureSize(document);
  const count = parts.reduce((sum, p) => sum + p.count, 0);
  const { features, labels } = allocateSamples(document, count);
  let offset = 0;
  for (const p of parts) {
    features.set(p.features, offset * size);
    labels.set(p.labels, offset);
    offset += p.count;
  }
  return { count, features, labels };
}

/** A feature's name for messages: its column name, else its index (with its position in the shape when multi-dimensional). */
export function featureName(document: SchemaDocument, index: number): string {
  const names = document.features.names;
  if (names !== undefined) return JSON.stringify(names[index]);
  const { shape } = document.features;
  if (shape.length === 1) return String(index);
  const position: number[] = [];
  let rest = index;
  for (let d = shape.length - 1; d >= 0; d--) {
    position.unshift(rest % shape[d]);
    rest = Math.floor(rest / shape[d]);
  }
  return `${index} [${position.join(", ")}]`;
}

function canonicalFloat(value: number, location: string, what: string): number {
  if (!Number.isFinite(value)) throw new DatasetFormatError(`${what} is ${value}, not a finite number`, { location });
  if (Object.is(value, -0)) throw new DatasetFormatError(`${what} is -0, which the canonical encoding writes as +0`, { location });
  return value;
}

function hexBytes(hex: string): Uint8Array {
  if (!/^0x[0-9a-fA-F]{64}$/.test(hex)) throw new DatasetFormatError(`schema id ${hex} is not a bytes32`);
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(hex.slice(2 + 2 * i, 4 + 2 * i), 16);
  return out;
}
