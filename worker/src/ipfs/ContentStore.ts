import { CID } from "multiformats/cid";
import { create as createDigest } from "multiformats/hashes/digest";
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
  /**
   * The file's bytes as they arrive, in order (the store's chunks, each verified against its block's CID), for a
   * reader that keeps one chunk at a time instead of the whole file (model weights: LayersModelLoading.ts). Errors
   * are get()'s, thrown from the iteration.
   */
  cat(cid: string): AsyncIterable<Uint8Array>;
  /**
   * The file's size in bytes as its root block records it (UnixFS metadata, or a raw block's length), read without
   * its content: a reader checks what it is about to take before allocating for it. Errors as get()'s.
   */
  size(cid: string): Promise<number>;
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

/**
 * The CID a store gives bytes of at most one chunk (`unixfsImportParameters.chunkSize`), from their sha256 alone:
 * CIDv1, raw codec, sha2-256. What lets an on-chain bytes32 name a document on IPFS (a dataset schema).
 */
export function rawBlockCid(sha256Digest: string): string {
  if (!/^0x[0-9a-fA-F]{64}$/.test(sha256Digest)) throw new RangeError(`${sha256Digest} is not a sha256 digest (0x, 32 bytes)`);
  const digest = Uint8Array.from(sha256Digest.slice(2).match(/../g)!, (h) => parseInt(h, 16));
  return CID.createV1(RAW_CODEC, createDigest(SHA2_256, digest)).toString();
}

const RAW_CODEC = 0x55;
const SHA2_256 = 0x12;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true });

/** Stores `value` as UTF-8 JSON and returns its CID. */
export async function addJson(store: Pick<ContentStore, "add">, value: unknown): Promise<string> {
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
