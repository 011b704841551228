import { DatasetFormatError } from "../DatasetError.js";
import type { Samples } from "../schema/DatasetEncoding.js";
import type { FileFormat } from "../schema/SchemaDocument.js";
import { parseCsvSamples, type CsvSamplesOptions } from "./CsvSamples.js";
import { parseIdxSamples } from "./IdxSamples.js";
import { parseJsonSamples, type JsonSamplesOptions } from "./JsonSamples.js";
import { parseJsonlSamples } from "./JsonlSamples.js";
import { parseNpySamples } from "./NpySamples.js";
import { requireFormat, type SchemaLike } from "./ParserSupport.js";

/** A file a person brings, with the separate labels file that NPY and IDX features need. */
export interface SamplesFileInput {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly labels?: { readonly name: string; readonly bytes: Uint8Array };
}

export interface SamplesFileOptions extends CsvSamplesOptions, JsonSamplesOptions {
  /** The file's format when its name does not tell (see `formatOfName`). */
  format?: Exclude<FileFormat, "image-folder">;
}

/**
 * The samples of one file of `schema`, by the parser its format needs: from `options.format`, else the name's
 * extension (.csv, .json, .jsonl / .ndjson, .npy, .idx / .idx3-ubyte / -ubyte). NPY and IDX features need
 * `file.labels`. Image folders are not one file: see parseImageFolder.
 */
export function parseSamplesFile(schema: SchemaLike, file: SamplesFileInput, options: SamplesFileOptions = {}): Samples {
  const format = options.format ?? formatOfName(file.name);
  if (format === undefined) {
    const compressed = /\.(gz|zip|bz2|xz|zst|7z|tar)$/i.test(file.name) ? ": it looks compressed, so decompress it first" : ": name it .csv, .json, .jsonl, .npy or .idx, or give its format";
    throw new DatasetFormatError(`the format of ${file.name} is not known from its name${compressed}`);
  }
  if ((format as FileFormat) === "image-folder") throw new DatasetFormatError(`${file.name}: an image folder is read as a folder of class folders, not as one file`);
  requireFormat(schema.document, format);
  switch (format) {
    case "csv":
      return parseCsvSamples(schema, file.bytes, options);
    case "json":
      return parseJsonSamples(schema, file.bytes, options);
    case "jsonl":
      return parseJsonlSamples(schema, file.bytes, options);
    case "npy":
    case "idx": {
      if (file.labels === undefined) throw new DatasetFormatError(`${file.name} holds the features only: ${format.toUpperCase()} samples need their labels file too`);
      const names = { features: file.name, images: file.name, labels: file.labels.name };
      return format === "npy"
        ? parseNpySamples(schema, file.bytes, file.labels.bytes, { pixelScale: options.pixelScale, fileNames: names })
        : parseIdxSamples(schema, file.bytes, file.labels.bytes, { pixelScale: options.pixelScale, fileNames: names });
    }
  }
}

/** The format a file name's extension tells, or undefined. */
export function formatOfName(name: string): Exclude<FileFormat, "image-folder"> | undefined {
  const lower = name.toLowerCase();
  if (lower.endsWith(".csv")) return "csv";
  if (lower.endsWith(".json")) return "json";
  if (lower.endsWith(".jsonl") || lower.endsWith(".ndjson")) return "jsonl";
  if (lower.endsWith(".npy")) return "npy";
  if (/(\.idx|\.idx\d-u?byte|-ubyte)$/.test(lower)) return "idx";
  return undefined;
}
