import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { DatasetError } from "../../worker/src/data/DatasetError.js";
import { parseSchemaDocument } from "../../worker/src/data/schema/SchemaDocument.js";
import { publishSchema, type ResolvedSchema } from "../../worker/src/data/schema/SchemaResolver.js";
import { describeStore, openContentStore } from "../lib/ContentStores.js";
import { printFields } from "../lib/Printer.js";
import { taskError } from "../lib/TaskError.js";

interface PublishArgs {
  dataDir: string;
  file: string | undefined;
}

/**
 * Checks a schema document and stores its canonical bytes as one raw IPFS block: its sha256 is the id datasets
 * carry on chain (`data contribute --schema <id>`), from which validators find the document.
 */
export default async function schemaPublish(args: PublishArgs): Promise<ResolvedSchema> {
  if (args.file === undefined || args.file.trim() === "") throw taskError("--file is required (a dataset schema document, JSON)");
  const path = resolve(args.file);
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw taskError(`--file: ${path} is not readable JSON: ${(err as Error).message}`, err);
  }
  try {
    parseSchemaDocument(value);
  } catch (err) {
    if (err instanceof DatasetError) throw taskError(`--file ${path}: ${err.message}`, err);
    throw err;
  }
  const store = await openContentStore(args.dataDir);
  try {
    const published = await publishSchema(store, value as Parameters<typeof publishSchema>[1]);
    printFields(`Published schema ${published.document.name}`, [
      ["schema id", `${published.id} (what datasets carry on chain)`],
      ["CID", published.cid],
      ["store", describeStore(store, args.dataDir)],
    ]);
    return published;
  } finally {
    await store.close();
  }
}
