import { CsvError, parse } from "csv-parse/sync";
import { DatasetFormatError } from "../DatasetError.js";
import type { Samples } from "../schema/DatasetEncoding.js";
import { featureSize, type SchemaDocument } from "../schema/SchemaDocument.js";
import { readLabel } from "./Labels.js";
import { decodeText, fieldNumber, requireFormat, type SchemaLike } from "./ParserSupport.js";
import { SampleBuilder, type PixelScale } from "./SampleBuilder.js";

export interface CsvSamplesOptions {
  /** uint8 features: how the file writes them (default `auto`). */
  pixelScale?: PixelScale;
  /** The field delimiter (default ","). */
  delimiter?: string;
}

/** Where a record's label and features are. */
interface Layout {
  readonly width: number;
  readonly labelAt: number;
  /** Column of each feature value, in the schema's order. */
  readonly featureAt: readonly number[];
  readonly header: readonly string[] | undefined;
}

/**
 * A CSV file of samples of `schema`, read by csv-parse (quotes, `\r\n`, a byte-order mark and blank lines all
 * handled). The first record is a header when it holds the label's column name (`schema.label.column`) or every
 * feature name; then the label is read from its column and the features from their named columns (extra columns
 * are ignored), or else from every other column in order. Without a header the label is the first column and the
 * features are the rest (the Kaggle `mnist_train.csv` layout). Class labels may be class names or indices.
 *
 * Errors name the 1-based line (where the record starts) and the column.
 */
export function parseCsvSamples(schema: SchemaLike, input: Uint8Array | string, options: CsvSamplesOptions = {}): Samples {
  const { document } = schema;
  requireFormat(document, "csv");
  const text = decodeText(input);
  const delimiter = options.delimiter ?? ",";
  const separated = delimiter === "," ? "comma-separated values" : `values separated by ${JSON.stringify(delimiter)}`;
  const builder = new SampleBuilder(document, { pixelScale: options.pixelScale });
  let first = true;
  let header: { fields: string[]; line: number } | undefined;
  let layout: Layout | undefined;
  let lastLine = 0;

  const readRecord = (record: string[], line: number): void => {
    layout ??= header === undefined ? plainLayout(document) : headerLayout(document, header.fields, header.line);
    const location = `line ${line}`;
    if (record.length !== layout.width) {
      const what = layout.header === undefined ? `the label, then ${layout.featureAt.length} features` : "as the header has";
      throw new DatasetFormatError(`expected ${layout.width} ${separated} (${what}), found ${record.length}`, { location });
    }
    const columnOf = (col: number) => `column ${col + 1}${layout!.header === undefined ? "" : ` ${JSON.stringify(layout!.header[col])}`}`;
    const label = readLabel(document, record[layout.labelAt], location, columnOf(layout.labelAt));
    const featureAt = layout.featureAt;
    builder.push(
      location,
      label,
      (j) => fieldNumber(record[featureAt[j]]),
      (j) => columnOf(featureAt[j]),
    );
  };

  try {
    parse(text, {
      delimiter,
      relax_column_count: true,
      skip_empty_lines: true,
      on_record: (record: string[], context) => {
        // context.lines is the line the record ends on; one that spans lines (quoted newlines) starts earlier.
        let line = context.lines;
        if (line - lastLine > 1) for (const field of record) for (let i = field.indexOf("\n"); i !== -1; i = field.indexOf("\n", i + 1)) line--;
        lastLine = context.lines;
        if (first) {
          first = false;
          if (isHeader(document, record)) {
            header = { fields: record.map((f) => f.trim()), line };
            return null;
          }
        }
        readRecord(record, line);
        return null;
      },
    });
  } catch (error) {
    if (error instanceof CsvError) {
      const lines = (error as CsvError & { lines?: number }).lines;
      throw new DatasetFormatError(`not valid CSV (${error.message})`, { location: lines === undefined ? undefined : `line ${lines}`, cause: error });
    }
    throw error;
  }
  if (builder.count === 0) throw new DatasetFormatError("the CSV file has no samples");
  return builder.finish();
}

/** A header names the label's column, or every feature. */
function isHeader(document: SchemaDocument, record: readonly string[]): boolean {
  const fields = new Set(record.map((f) => f.trim()));
  if (fields.has(document.label.column)) return true;
  const names = document.features.names;
  return names !== undefined && names.every((n) => fields.has(n));
}

function plainLayout(document: SchemaDocument): Layout {
  const size = featureSize(document);
  return { width: size + 1, labelAt: 0, featureAt: Array.from({ length: size }, (_, j) => j + 1), header: undefined };
}

function headerLayout(document: SchemaDocument, header: readonly string[], line: number): Layout {
  const location = `line ${line}`;
  const columnOf = (name: string): number => {
    const at = header.indexOf(name);
    if (at === -1) return -1;
    if (header.indexOf(name, at + 1) !== -1) throw new DatasetFormatError(`the header names column ${JSON.stringify(name)} twice`, { location });
    return at;
  };
  const labelColumn = document.label.column;
  const labelAt = columnOf(labelColumn);
  if (labelAt === -1) throw new DatasetFormatError(`the header has no ${JSON.stringify(labelColumn)} column (the label's)`, { location });
  const names = document.features.names;
  const size = featureSize(document);
  let featureAt: number[];
  if (names !== undefined) {
    featureAt = names.map((name) => {
      const at = columnOf(name);
      if (at === -1) throw new DatasetFormatError(`the header has no ${JSON.stringify(name)} column (a feature's)`, { location });
      return at;
    });
  } else {
    featureAt = header.flatMap((_, col) => (col === labelAt ? [] : [col]));
    if (featureAt.length !== size) {
      throw new DatasetFormatError(`the header has ${featureAt.length} columns besides ${JSON.stringify(labelColumn)}, and the schema's samples hold ${size} values`, { location });
    }
  }
  return { width: header.length, labelAt, featureAt, header };
}
