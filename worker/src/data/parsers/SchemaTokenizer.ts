import type { ContentStore } from "../../ipfs/ContentStore.js";
import { loadTokenizer } from "../../ml/Tokenizer.js";
import { DatasetFormatError } from "../DatasetError.js";
import type { SchemaDocument } from "../schema/SchemaDocument.js";

/**
 * The `tokenize` a text schema's files need: its tokenizer (the vocabulary fetched by CID and checked), each text
 * turned into exactly the schema's length of ids, padded with `features.padId` (default 0) — the ids a model naming
 * the same tokenizer is asked about. Undefined for a schema without a tokenizer.
 */
export async function schemaTokenizer(store: ContentStore, document: SchemaDocument): Promise<((text: string) => Int32Array) | undefined> {
  const spec = document.features.tokenizer;
  if (spec === undefined) return undefined;
  let tokenizer: Awaited<ReturnType<typeof loadTokenizer>>;
  try {
    tokenizer = await loadTokenizer(store, spec);
  } catch (err) {
    throw new DatasetFormatError(`the tokenizer of ${document.name} (vocabulary ${spec.vocabCid}) cannot be loaded: ${(err as Error).message}`, { cause: err });
  }
  const length = document.features.shape[0];
  const padId = document.features.padId ?? 0;
  return (text: string) => {
    let ids: number[];
    try {
      ids = tokenizer.encode(text, length);
    } catch (err) {
      throw new DatasetFormatError((err as Error).message, { cause: err });
    }
    const out = new Int32Array(length).fill(padId);
    out.set(ids);
    return out;
  };
}
