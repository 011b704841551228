import { DatasetFormatError } from "../DatasetError.js";
import type { SchemaDocument } from "../schema/SchemaDocument.js";
import { describe } from "./ParserSupport.js";

/**
 * Labels as files write them, read for a schema. Class labels: a class name, or an integer index 0..n-1 (a class
 * name wins: a number is first looked up by how it is written, so CSV "7" and JSON 7 give the same class), or a
 * one-hot array of n (mnist's `output`). Regression targets: a number (or numeric text), as float32, within the
 * schema's range. `column` ("column 5 \"species\"", "file y.npy") ends messages where the label has a place of its own.
 */
export function readLabel(document: SchemaDocument, raw: unknown, location: string, column?: string): number {
  return document.label.kind === "class" ? classIndex(document, raw, location, column) : regressionTarget(document, raw, location, column);
}

const CLASS_INDICES = new WeakMap<SchemaDocument, Map<string, number>>();

function classIndices(document: SchemaDocument): Map<string, number> {
  let found = CLASS_INDICES.get(document);
  if (found === undefined) {
    found = new Map(document.label.kind === "class" ? document.label.classes.map((name, i) => [name, i]) : []);
    CLASS_INDICES.set(document, found);
  }
  return found;
}

export function classIndex(document: SchemaDocument, raw: unknown, location: string, column?: string): number {
  if (document.label.kind !== "class") throw new Error("classIndex needs a class schema");
  const classes = document.label.classes;
  const n = classes.length;
  const indices = classIndices(document);
  if (Array.isArray(raw)) {
    const hot = raw.flatMap((v, i) => (v === 1 ? [i] : []));
    if (raw.length !== n || hot.length !== 1 || raw.some((v) => v !== 0 && v !== 1)) {
      throw new DatasetFormatError(`label ${describe(raw)} is not a one-hot array of ${n}${where(column)}`, { location });
    }
    return hot[0];
  }
  if (typeof raw === "string" || typeof raw === "number") {
    const written = typeof raw === "string" ? raw.trim() : String(raw);
    const named = indices.get(written);
    if (named !== undefined) return named;
    if (/^[0-9]+$/.test(written) && Number(written) < n) return Number(written);
  }
  if (raw === undefined) throw new DatasetFormatError(`the label is missing${where(column)}`, { location });
  throw new DatasetFormatError(`label ${describe(raw)} is not an integer in 0..${n - 1} or a class name (${classList(classes)})${where(column)}`, { location });
}

export function regressionTarget(document: SchemaDocument, raw: unknown, location: string, column?: string): number {
  if (document.label.kind !== "regression") throw new Error("regressionTarget needs a regression schema");
  const value = typeof raw === "number" ? raw : typeof raw === "string" && raw.trim() !== "" ? Number(raw.trim()) : Number.NaN;
  if (!Number.isFinite(value)) {
    if (raw === undefined) throw new DatasetFormatError(`the target is missing${where(column)}`, { location });
    throw new DatasetFormatError(`target ${describe(raw)} is not a number${where(column)}`, { location });
  }
  const target = Math.fround(value);
  const lo = document.label.min ?? -Number.MAX_VALUE;
  const hi = document.label.max ?? Number.MAX_VALUE;
  if (!Number.isFinite(target) || target < lo || target > hi) {
    throw new DatasetFormatError(`target ${value} is outside ${document.label.min ?? "-3.4e38"}..${document.label.max ?? "3.4e38"}${where(column)}`, { location });
  }
  return target;
}

function where(column: string | undefined): string {
  return column === undefined ? "" : `, in ${column}`;
}

function classList(classes: readonly string[]): string {
  const shown = classes.slice(0, 12).map((c) => JSON.stringify(c));
  return classes.length > 12 ? `${shown.join(", ")}, ... ${classes.length} in all` : shown.join(", ");
}
