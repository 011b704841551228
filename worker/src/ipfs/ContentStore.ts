import { CID } from "multiformats/cid";
import { ContentStoreError } from "./ContentStoreError.js";

/**
 * Content-addressed storage for model weights, manifests and data shards. Every implementation
 * builds the same UnixFS DAG for the same bytes (see `unixfsImportParameters`), so a CID computed
 * by the embedded store is the CID a Kubo node or a pinning service reports.
 */
export interface ContentStore {
  readonly kind: "embedded" | "kubo";
  /** Stores `bytes` as a UnixFS file and returns its CIDv1 (base32, `bafy…`/`bafk…`). */
  add(bytes: Uint8Array): Promise<string>;
  /** Returns the file's bytes, verified against the CID; throws ContentNotFoundError / ContentIntegrityError. */
  get(cid: string): Promise<Uint8Array>;
  has(cid: string): Promise<boolean>;
  /** Keeps the content from being garbage-collected (a no-op for the embedded store, which never collects). */
  pin(cid: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * The DAG layout both stores use: Kubo's defaults for `ipfs add --cid-version 1` (256 KiB fixed
 * chunks, raw leaves, balanced tree of at most 174 links per node). Helia's own defaults differ
 * (1 MiB chunks, 1024 links), which would give different CIDs for anything above 256 KiB.
 */
export const unixfsImportParameters = {
  cidVersion: 1,
  rawLeaves: true,
  chunkSize: 262_144,
  maxChildrenPerNode: 174,
} as const;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true });

/** Stores `value` as UTF-8 JSON and returns its CID. */
export async function addJson(store: ContentStore, value: unknown): Promise<string> {
  return store.add(textEncoder.encode(JSON.stringify(value)));
}

/** Reads a JSON document written by `addJson`; the caller validates its shape. */
export async function getJson(store: ContentStore, cid: string): Promise<unknown> {
  const bytes = await store.get(cid);
  try {
    return JSON.parse(textDecoder.decode(bytes));
  } catch (error) {
    throw new ContentStoreError(`content ${cid} is not UTF-8 JSON`, { cause: error });
  }
}

/** Parses a CID string (any version or base), throwing a ContentStoreError that names the bad input. */
export function parseCid(cid: string): CID {
  try {
    return CID.parse(cid);
  } catch (error) {
    throw new ContentStoreError(`not a CID: ${JSON.stringify(cid)}`, { cause: error });
  }
}
