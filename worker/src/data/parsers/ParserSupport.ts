import { DatasetFormatError } from "../DatasetError.js";
import type { FileFormat, SchemaDocument } from "../schema/SchemaDocument.js";

/**
 * What every parser shares: the schema it reads for (anything with a checked document: a built-in schema, a
 * resolved one, a `SchemaRef`), the format check, text decoding and how values are shown in messages.
 * Imports nothing Node-only.
 */
export interface SchemaLike {
  readonly document: SchemaDocument;
}

const FORMAT_NAMES: Record<FileFormat, string> = {
  csv: "CSV",
  json: "JSON",
  jsonl: "JSONL",
  npy: "NPY",
  idx: "IDX",
  "image-folder": "image-folder",
};

/** The name people know a format by (CSV, JSON, ..., image-folder). */
export function formatName(format: FileFormat): string {
  return FORMAT_NAMES[format];
}

/** Throws one sentence when the schema does not list `format` among the files it takes. */
export function requireFormat(document: SchemaDocument, format: FileFormat): void {
  if (document.formats.includes(format)) return;
  const names = document.formats.map(formatName);
  const list = names.length === 1 ? names[0] : `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
  throw new DatasetFormatError(`the schema ${document.name} does not take ${formatName(format)} files: it takes ${list}`);
}

/** UTF-8 text of a file (strict: invalid bytes are an error), without a leading byte-order mark. */
export function decodeText(input: Uint8Array | string): string {
  let text: string;
  if (typeof input === "string") text = input;
  else {
    try {
      text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(input);
    } catch (error) {
      throw new DatasetFormatError("the file is not UTF-8 text", { cause: error });
    }
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** A value as a message shows it: numbers as written, strings quoted, nothing as "missing". */
export function describe(value: unknown): string {
  if (value === undefined) return "missing";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") return String(value);
  const json = JSON.stringify(value);
  return json === undefined ? typeof value : json.length > 60 ? `${json.slice(0, 57)}...` : json;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A text field as a number when it is one (surrounding spaces allowed), else the field itself, for the message. */
export function fieldNumber(field: string): number | string {
  const trimmed = field.trim();
  if (trimmed === "") return field;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : field;
}

/** `[28, 28, 1]` */
export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/**
 * The shapes a sample's features may be written in: the schema's own, the same without trailing 1s (a grey
 * [28, 28] image for [28, 28, 1]) and flat ([784]).
 */
export function acceptedSampleShapes(document: SchemaDocument): number[][] {
  const shape = document.features.shape;
  const size = shape.reduce((a, b) => a * b, 1);
  const shapes: number[][] = [shape.slice()];
  let end = shape.length;
  while (end > 1 && shape[end - 1] === 1) end--;
  if (end < shape.length) shapes.push(shape.slice(0, end));
  if (!shapes.some((s) => s.length === 1)) shapes.push([size]);
  return shapes;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

/** "[28, 28, 1], [28, 28] or [784]" */
export function shapesText(shapes: readonly (readonly number[])[]): string {
  const texts = shapes.map(shapeText);
  return texts.length === 1 ? texts[0] : `${texts.slice(0, -1).join(", ")} or ${texts.at(-1)}`;
}
