import { DatasetFormatError } from "../DatasetError.js";
import type { Samples } from "../schema/DatasetEncoding.js";
import { decodeText, requireFormat, type SchemaLike } from "./ParserSupport.js";
import { SampleBuilder, type PixelScale } from "./SampleBuilder.js";
import { readSampleObject, type SampleObjectOptions } from "./SampleObjects.js";

export interface JsonlSamplesOptions extends SampleObjectOptions {
  /** uint8 features: how the file writes them (default `auto`). */
  pixelScale?: PixelScale;
}

/**
 * A JSON Lines file of samples of `schema`: one JSON object per line (see SampleObjects.ts), blank lines skipped.
 * A line may carry a `text` instead of features, which `options.tokenize` (the schema's tokenizer) turns into
 * token ids. Errors name the 1-based line.
 */
export function parseJsonlSamples(schema: SchemaLike, input: Uint8Array | string, options: JsonlSamplesOptions = {}): Samples {
  const { document } = schema;
  requireFormat(document, "jsonl");
  const lines = decodeText(input).split("\n");
  const builder = new SampleBuilder(document, { pixelScale: options.pixelScale });
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    const location = `line ${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new DatasetFormatError(`not valid JSON (${error instanceof Error ? error.message : String(error)})`, { location, cause: error });
    }
    const { values, label } = readSampleObject(document, value, location, options);
    builder.push(location, label, (j) => values[j]);
  }
  if (builder.count === 0) throw new DatasetFormatError("the JSONL file has no samples");
  return builder.finish();
}
