import { DatasetError } from "../../worker/src/data/DatasetError.js";
import { SchemaResolver, type ResolvedSchema } from "../../worker/src/data/schema/SchemaResolver.js";
import { openContentStore } from "../lib/ContentStores.js";
import { taskError } from "../lib/TaskError.js";

interface ShowArgs {
  dataDir: string;
  schema: string | undefined;
}

/** Prints a schema (built in, or fetched from IPFS by id or CID and checked against its hash). */
export default async function schemaShow(args: ShowArgs): Promise<ResolvedSchema> {
  if (args.schema === undefined || args.schema.trim() === "") throw taskError("--schema is required (a built-in name, a schema id or a CID)");
  const store = await openContentStore(args.dataDir);
  try {
    const resolved = await new SchemaResolver(store).resolve(args.schema).catch((err: unknown) => {
      if (err instanceof DatasetError) throw taskError(`--schema: ${err.message}`, err);
      throw err;
    });
    console.log(`schema ${resolved.document.name}\n  id   ${resolved.id}\n  CID  ${resolved.cid}`);
    console.log(JSON.stringify(resolved.document, null, 2));
    return resolved;
  } finally {
    await store.close();
  }
}
