import { DatasetFormatError } from "../DatasetError.js";
import { featureSize, type SchemaDocument } from "../schema/SchemaDocument.js";
import { readLabel } from "./Labels.js";
import { acceptedSampleShapes, describe, isRecord, sameShape, shapesText, shapeText } from "./ParserSupport.js";

/**
 * One sample written as a JSON object (an element of a JSON array, a line of a JSONL file):
 *
 * - its features under `features`, `pixels` or `input` (the first present): flat, or nested arrays of the
 *   feature shape (trailing 1s may be left out: [28][28] for [28, 28, 1]); or, for schemas with feature `names`,
 *   one key per name; or a `text` that the schema's tokenizer turns into token ids;
 * - its label under the schema's label column key, else `label`, else `output` (a one-hot array, mnist's form).
 */
export interface SampleObjectOptions {
  /**
   * Token ids of a `text` field: the schema's tokenizer, giving exactly the schema's length of ids (padded or
   * truncated as its models were trained). Needed for `text` samples only.
   */
  tokenize?: (text: string) => Int32Array;
}

export const FEATURE_KEYS = ["features", "pixels", "input"] as const;

export interface SampleObject {
  /** The feature values as written (checked by SampleBuilder). */
  readonly values: ArrayLike<unknown>;
  readonly label: number;
}

export function readSampleObject(document: SchemaDocument, value: unknown, location: string, options: SampleObjectOptions = {}): SampleObject {
  const column = document.label.column;
  if (!isRecord(value)) throw new DatasetFormatError(`expected an object {features, ${column}}, found ${describe(value)}`, { location });
  const key = FEATURE_KEYS.find((k) => k in value);
  const names = document.features.names;
  let values: ArrayLike<unknown>;
  if (key !== undefined) values = flattenFeatures(document, value[key], `\`${key}\``, location);
  else if ("text" in value) values = tokenized(document, value.text, location, options);
  else if (names !== undefined && names.some((n) => n in value)) values = names.map((n) => value[n]);
  else {
    const byName = names === undefined ? "" : `, one key per feature (${names.join(", ")})`;
    throw new DatasetFormatError(`no features: expected \`features\` (or \`pixels\`, \`input\`)${byName}`, { location });
  }
  const labelKey = column in value ? column : "label" in value ? "label" : "output" in value && document.label.kind === "class" ? "output" : undefined;
  if (labelKey === undefined) {
    const others = [column === "label" ? undefined : "`label`", document.label.kind === "class" ? "`output` (one-hot)" : undefined].filter((k) => k !== undefined);
    throw new DatasetFormatError(`no label: expected \`${column}\`${others.length === 0 ? "" : ` (or ${others.join(", ")})`}`, { location });
  }
  return { values, label: readLabel(document, value[labelKey], location) };
}

/** A feature array, flat or nested in an accepted shape, as flat values; refuses other shapes and ragged arrays. */
export function flattenFeatures(document: SchemaDocument, raw: unknown, name: string, location: string): ArrayLike<unknown> {
  if (!Array.isArray(raw)) throw new DatasetFormatError(`${name} is ${raw === undefined ? "missing" : "not an array"}`, { location });
  const size = featureSize(document);
  const dims: number[] = [];
  for (let v: unknown = raw; Array.isArray(v); v = v[0]) dims.push(v.length);
  if (dims.length === 1 || raw.length === 0) {
    if (raw.length !== size) throw new DatasetFormatError(`${name} has ${raw.length} values, expected ${size}`, { location });
    return raw;
  }
  const accepted = acceptedSampleShapes(document);
  if (!accepted.some((s) => sameShape(s, dims))) throw new DatasetFormatError(`${name} has shape ${shapeText(dims)}, expected ${shapesText(accepted)}`, { location });
  const out: unknown[] = [];
  const walk = (v: unknown, depth: number, path: string): void => {
    if (depth === dims.length) {
      out.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== dims[depth]) {
      const found = Array.isArray(v) ? `${v.length} entries` : describe(v);
      throw new DatasetFormatError(`${path} has ${found} where its neighbours have ${dims[depth]} entries (a ragged array)`, { location });
    }
    for (let i = 0; i < v.length; i++) walk(v[i], depth + 1, `${path}[${i}]`);
  };
  walk(raw, 0, name);
  return out;
}

function tokenized(document: SchemaDocument, text: unknown, location: string, options: SampleObjectOptions): Int32Array {
  if (typeof text !== "string") throw new DatasetFormatError(`\`text\` is ${describe(text)}, not a string`, { location });
  if (document.features.tokenizer === undefined) throw new DatasetFormatError(`\`text\` needs a schema with a tokenizer, and ${document.name} has none`, { location });
  if (options.tokenize === undefined) throw new DatasetFormatError("`text` needs the schema's tokenizer, and none was given (options.tokenize)", { location });
  let ids: Int32Array;
  try {
    ids = options.tokenize(text);
  } catch (error) {
    throw new DatasetFormatError(`\`text\` could not be tokenized: ${error instanceof Error ? error.message : String(error)}`, { location, cause: error });
  }
  const size = featureSize(document);
  if (ids.length !== size) throw new DatasetFormatError(`the tokenizer gave ${ids.length} ids for \`text\`, and the schema's samples hold ${size}`, { location });
  return ids;
}
