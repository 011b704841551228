import { DatasetFormatError } from "../DatasetError.js";
import { checkSamples, featureName, type FeatureArray, type LabelArray, type Samples } from "../schema/DatasetEncoding.js";
import { featureRange, featureSize, type SchemaDocument } from "../schema/SchemaDocument.js";
import { describe } from "./ParserSupport.js";

/**
 * How uint8 feature values (pixels) are written in a file: `byte` = integers 0..255, `unit` = reals 0..1 (rounded
 * to the nearest x/255). `auto` picks `byte` if any value in the file is above 1 (or the file's array is of an
 * integer type), else `unit`.
 */
export type PixelScale = "auto" | "byte" | "unit";

interface Offence {
  readonly location: string;
  readonly index: number;
  readonly value: number;
  readonly column: string | undefined;
}

/**
 * Collects samples as a parser reads them, checking each value against the schema's dtype and range where it is
 * read (so the message names the line or sample), then settles the pixel scale of uint8 features once the whole
 * file has been seen, because the scale (0..1 or 0..255) is a property of the file: each pixel is kept in both
 * readings (as uint8), with the first value that rules a reading out, so that `finish` can name it. Grows as
 * samples come; `finish` returns exact-length arrays that pass `checkSamples`.
 */
export class SampleBuilder {
  readonly #document: SchemaDocument;
  readonly #size: number;
  readonly #scale: PixelScale;
  readonly #integerSource: boolean;
  readonly #min: number;
  readonly #max: number;
  #features: FeatureArray;
  #unit: Uint8Array | undefined;
  #labels: LabelArray;
  #locations: string[] = [];
  #count = 0;
  #firstNonInteger: Offence | undefined;
  #firstAboveOne: Offence | undefined;

  constructor(document: SchemaDocument, options: { pixelScale?: PixelScale; capacity?: number; integerSource?: boolean } = {}) {
    this.#document = document;
    this.#size = featureSize(document);
    this.#scale = options.pixelScale ?? "auto";
    this.#integerSource = options.integerSource ?? false;
    ({ min: this.#min, max: this.#max } = featureRange(document));
    const capacity = Math.max(1, options.capacity ?? 64);
    this.#features = this.#allocateFeatures(capacity);
    const unit = this.#scale === "unit" || (this.#scale === "auto" && !this.#integerSource);
    this.#unit = document.features.dtype === "uint8" && unit ? new Uint8Array(capacity * this.#size) : undefined;
    this.#labels = document.label.kind === "class" ? new Uint16Array(capacity) : new Float32Array(capacity);
  }

  get count(): number {
    return this.#count;
  }

  /**
   * Adds one sample: `valueAt(j)` is its j-th feature value as read (a number, else it is refused), `label` its
   * class index or target (see Labels.ts). `columnOf(j)` names the value's column in messages, where there is one.
   */
  push(location: string, label: number, valueAt: (j: number) => unknown, columnOf?: (j: number) => string): void {
    if (this.#count === this.#labels.length) this.#grow();
    const base = this.#count * this.#size;
    const dtype = this.#document.features.dtype;
    const features = this.#features;
    for (let j = 0; j < this.#size; j++) {
      const value = valueAt(j);
      if (dtype === "uint8") {
        if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > 255) {
          const range = this.#scale === "byte" || this.#integerSource ? "0..255" : "0..255 (or 0..1)";
          throw this.#error(location, j, value, columnOf, `expected a number in ${range}`);
        }
        if (Number.isInteger(value)) features[base + j] = value;
        else this.#firstNonInteger ??= { location, index: j, value, column: columnOf?.(j) };
        if (this.#unit !== undefined) {
          if (value <= 1) this.#unit[base + j] = Math.round(value * 255);
          else this.#firstAboveOne ??= { location, index: j, value, column: columnOf?.(j) };
        } else if (value > 1) this.#firstAboveOne ??= { location, index: j, value, column: columnOf?.(j) };
      } else if (dtype === "int32") {
        if (typeof value !== "number" || !Number.isInteger(value) || value < this.#min || value > this.#max) {
          throw this.#error(location, j, value, columnOf, `expected an integer in ${this.#min}..${this.#max}`);
        }
        features[base + j] = value;
      } else {
        if (typeof value !== "number" || !Number.isFinite(value)) throw this.#error(location, j, value, columnOf, "expected a number");
        const stored = Math.fround(value);
        if (!Number.isFinite(stored)) throw this.#error(location, j, value, columnOf, "beyond the float32 range");
        if (stored < this.#min || stored > this.#max) throw this.#error(location, j, value, columnOf, `expected a number in ${this.#min}..${this.#max}`);
        features[base + j] = stored;
      }
    }
    this.#labels[this.#count] = label;
    this.#locations.push(location);
    this.#count++;
  }

  /** The samples read, every value on the file's pixel scale; throws naming the first value that scale refuses. */
  finish(): Samples {
    const n = this.#count * this.#size;
    let features: FeatureArray = this.#features.subarray(0, n);
    if (this.#document.features.dtype === "uint8") {
      const auto = this.#integerSource || this.#firstAboveOne !== undefined ? "byte" : "unit";
      const resolved = this.#scale === "auto" ? auto : this.#scale;
      if (resolved === "byte" && this.#firstNonInteger !== undefined) {
        const why = this.#scale === "auto" ? "the file uses the 0..255 scale (some value is above 1), which needs integers" : "the 0..255 scale needs integers";
        throw this.#offence(this.#firstNonInteger, why);
      }
      if (resolved === "unit" && this.#firstAboveOne !== undefined) throw this.#offence(this.#firstAboveOne, "above 1 on the 0..1 scale", ",");
      if (resolved === "unit") features = this.#unit!.subarray(0, n);
      this.#checkNarrowRange(features as Uint8Array);
    }
    // Grown arrays are copied to their exact length, so that no spare capacity stays alive with the samples.
    const exact = this.#labels.length === this.#count;
    const labels = exact ? this.#labels : this.#labels.slice(0, this.#count);
    const samples: Samples = { count: this.#count, features: exact ? features : features.slice(), labels };
    checkSamples(this.#document, samples);
    return samples;
  }

  /** A uint8 schema may narrow 0..255 (say 0..15): checked once the scale is known. */
  #checkNarrowRange(features: Uint8Array): void {
    if (this.#min === 0 && this.#max === 255) return;
    for (let i = 0; i < features.length; i++) {
      if (features[i] < this.#min || features[i] > this.#max) {
        const sample = Math.floor(i / this.#size);
        throw this.#error(this.#locations[sample], i - sample * this.#size, features[i], undefined, `expected a number in ${this.#min}..${this.#max}`);
      }
    }
  }

  #offence(offence: Offence, why: string, separator = ":"): DatasetFormatError {
    const column = offence.column === undefined ? "" : `, in ${offence.column}`;
    return new DatasetFormatError(`${valueName(this.#document, offence.index)} is ${offence.value}${separator} ${why}${column}`, { location: offence.location });
  }

  #error(location: string, j: number, value: unknown, columnOf: ((j: number) => string) | undefined, expected: string): DatasetFormatError {
    const column = columnOf === undefined ? "" : `, in ${columnOf(j)}`;
    return new DatasetFormatError(`${valueName(this.#document, j)} is ${describe(value)}, ${expected}${column}`, { location });
  }

  #allocateFeatures(capacity: number): FeatureArray {
    const n = capacity * this.#size;
    const dtype = this.#document.features.dtype;
    return dtype === "uint8" ? new Uint8Array(n) : dtype === "int32" ? new Int32Array(n) : new Float32Array(n);
  }

  #grow(): void {
    const capacity = this.#labels.length * 2;
    const features = this.#allocateFeatures(capacity);
    features.set(this.#features);
    this.#features = features;
    if (this.#unit !== undefined) {
      const unit = new Uint8Array(capacity * this.#size);
      unit.set(this.#unit);
      this.#unit = unit;
    }
    const labels = this.#document.label.kind === "class" ? new Uint16Array(capacity) : new Float32Array(capacity);
    labels.set(this.#labels);
    this.#labels = labels;
  }
}

/**
 * A feature value's name in messages: its column name when the schema names them, `pixel p` for grey images
 * ([h, w] or [h, w, 1] uint8), `pixel p channel c` for colour ones, else `feature i` (with its position).
 */
export function valueName(document: SchemaDocument, index: number): string {
  const { dtype, shape, names } = document.features;
  if (names === undefined && dtype === "uint8" && (shape.length === 2 || shape.length === 3)) {
    const channels = shape[2] ?? 1;
    return channels === 1 ? `pixel ${index}` : `pixel ${Math.floor(index / channels)} channel ${index % channels}`;
  }
  return `feature ${featureName(document, index)}`;
}
