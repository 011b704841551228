import type { unixfs } from "@helia/unixfs";
import { CID } from "multiformats/cid";
import { identity } from "multiformats/hashes/identity";
import { sha256 } from "multiformats/hashes/sha2";
import { concat, equals } from "uint8arrays";
import { ContentIntegrityError } from "./ContentStoreError.js";

/** The blockstore shape @helia/unixfs needs (taken from its signature rather than a transitive package). */
export type UnixfsBlockstore = Parameters<typeof unixfs>[0]["blockstore"];

type GetOptions = Parameters<UnixfsBlockstore["get"]>[1];

/**
 * Re-hashes every block read from the wrapped blockstore and compares it with the block's CID.
 * blockstore-fs returns whatever is on disk and the UnixFS exporter trusts it, so without this a
 * flipped bit in a weights file would load silently. Hashing per block covers a whole file: the
 * root CID commits to every child CID.
 */
export class VerifyingBlockstore implements UnixfsBlockstore {
  readonly #inner: UnixfsBlockstore;

  constructor(inner: UnixfsBlockstore) {
    this.#inner = inner;
  }

  put(...args: Parameters<UnixfsBlockstore["put"]>): ReturnType<UnixfsBlockstore["put"]> {
    return this.#inner.put(...args);
  }

  has(...args: Parameters<UnixfsBlockstore["has"]>): ReturnType<UnixfsBlockstore["has"]> {
    return this.#inner.has(...args);
  }

  async *get(cid: CID, options?: GetOptions): AsyncGenerator<Uint8Array> {
    const chunks: Uint8Array[] = [];
    for await (const chunk of this.#inner.get(cid, options)) chunks.push(chunk);
    const block = concat(chunks);
    await verifyBlock(cid, block);
    yield block;
  }
}

/** Throws ContentIntegrityError unless `block` hashes to `cid`'s multihash. */
export async function verifyBlock(cid: CID, block: Uint8Array): Promise<void> {
  const { code, digest } = cid.multihash;
  if (code === identity.code) {
    if (!equals(digest, block)) throw new ContentIntegrityError(cid.toString(), "identity block differs from its CID");
    return;
  }
  if (code !== sha256.code) {
    throw new ContentIntegrityError(cid.toString(), `unsupported multihash 0x${code.toString(16)} (only sha2-256 is verified)`);
  }
  const actual = await sha256.digest(block);
  if (!equals(actual.digest, digest)) {
    throw new ContentIntegrityError(cid.toString(), `block of ${block.byteLength} bytes hashes to a different sha2-256 digest`);
  }
}
