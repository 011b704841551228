import { hexlify } from "ethers";
import { CID } from "multiformats/cid";
import type { ContentStore } from "../../ipfs/ContentStore.js";
import { builtinSchema, builtinSchemaById, builtinSchemaNames } from "./BuiltinSchemas.js";
import { canonicalSchemaBytes, schemaCidOf, schemaFromBytes, schemaIdOf, SchemaError, SchemaUnavailableError, type SchemaDocument, type SchemaDocumentInput } from "./SchemaDocument.js";

export interface ResolvedSchema {
  /** The on-chain id (sha256 of the canonical bytes). */
  readonly id: string;
  /** Where its canonical bytes live on IPFS. */
  readonly cid: string;
  readonly document: SchemaDocument;
}

/**
 * Finds a schema by what a person or a chain gives: a built-in name, an on-chain id (0x-bytes32) or a CID. Ids and
 * CIDs of schemas that are not built in are fetched from `store` and checked against their hash; each is read once.
 */
export class SchemaResolver {
  readonly #store: ContentStore | undefined;
  readonly #byId = new Map<string, Promise<ResolvedSchema>>();

  constructor(store?: ContentStore) {
    this.#store = store;
  }

  async resolve(reference: string): Promise<ResolvedSchema> {
    const trimmed = reference.trim();
    const named = builtinSchema(trimmed);
    if (named !== undefined) return { id: named.id, cid: schemaCidOf(named.id), document: named.document };
    if (/^0x[0-9a-fA-F]{64}$/.test(trimmed)) return this.byId(trimmed);
    let cid: CID;
    try {
      cid = CID.parse(trimmed);
    } catch {
      throw new SchemaError(`${JSON.stringify(trimmed)} is not a known schema name (${builtinSchemaNames().join(", ")}), a schema id (0x, 32 bytes) or a CID`);
    }
    if (cid.multihash.code !== 0x12) throw new SchemaError(`schema CID ${trimmed} is not a sha2-256 CID`);
    const id = hexlify(cid.multihash.digest);
    return this.byId(id);
  }

  /** The schema an on-chain dataset names. */
  byId(schemaId: string): Promise<ResolvedSchema> {
    const id = schemaId.toLowerCase();
    let found = this.#byId.get(id);
    if (found === undefined) {
      found = this.#fetch(id);
      found.catch(() => this.#byId.delete(id));
      this.#byId.set(id, found);
    }
    return found;
  }

  async #fetch(id: string): Promise<ResolvedSchema> {
    const builtin = builtinSchemaById(id);
    if (builtin !== undefined) return { id, cid: schemaCidOf(id), document: builtin.document };
    if (this.#store === undefined) throw new SchemaUnavailableError(`schema ${id} is not built in, and no IPFS store was given to fetch it`);
    const cid = schemaCidOf(id);
    let bytes: Uint8Array;
    try {
      bytes = await this.#store.get(cid);
    } catch (err) {
      throw new SchemaUnavailableError(`schema ${id} (${cid}) could not be fetched: ${(err as Error).message}`, { cause: err });
    }
    return { id, cid, document: schemaFromBytes(bytes, id) };
  }
}

/** Stores a schema's canonical bytes as one raw block, so that its on-chain id finds it; returns its id and CID. */
export async function publishSchema(store: ContentStore, document: SchemaDocumentInput): Promise<ResolvedSchema> {
  const bytes = canonicalSchemaBytes(document);
  const id = schemaIdOf(document);
  const cid = await store.add(bytes);
  if (cid !== schemaCidOf(id)) throw new SchemaError(`the store gave ${cid} for the schema, not the raw-block CID ${schemaCidOf(id)} its id names`);
  return { id, cid, document: schemaFromBytes(bytes, id) };
}
