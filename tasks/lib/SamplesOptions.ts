import { basename } from "node:path";
import { DatasetError } from "../../worker/src/data/DatasetError.js";
import type { Samples } from "../../worker/src/data/schema/DatasetEncoding.js";
import { SchemaResolver, type ResolvedSchema } from "../../worker/src/data/schema/SchemaResolver.js";
import { schemaTokenizer } from "../../worker/src/data/parsers/SchemaTokenizer.js";
import type { ContentStore } from "../../worker/src/ipfs/ContentStore.js";
import { readSamplesFile } from "../../scripts/lib/SamplesFiles.js";
import { taskError } from "./TaskError.js";

/** The schema a `--schema` option names (a built-in name, a schema id or its CID), or a task error saying why not. */
export async function schemaOption(store: ContentStore, reference: string): Promise<ResolvedSchema> {
  try {
    return await new SchemaResolver(store).resolve(reference);
  } catch (err) {
    if (err instanceof DatasetError) throw taskError(`--schema: ${err.message}`, err);
    throw err;
  }
}

/**
 * The samples of a file option (`option`: `--file`, `--eval-file`) read under `schema` (text through the schema's own
 * tokenizer), or a task error naming the file, the schema and the line or sample that does not fit; an empty file
 * is an error too.
 */
export async function samplesOption(store: ContentStore, schema: ResolvedSchema, option: string, path: string, labelsPath?: string): Promise<Samples> {
  let samples: Samples;
  try {
    const tokenize = await schemaTokenizer(store, schema.document);
    samples = readSamplesFile(schema, path, labelsPath, tokenize === undefined ? {} : { tokenize });
  } catch (err) {
    if (err instanceof DatasetError) throw taskError(`${option} ${basename(path)} does not fit ${schema.document.name}: ${err.message}`, err);
    throw err;
  }
  if (samples.count === 0) throw taskError(`${option} ${basename(path)} holds no samples`);
  return samples;
}
