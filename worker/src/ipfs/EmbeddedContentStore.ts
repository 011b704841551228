import { unixfs, type UnixFS } from "@helia/unixfs";
import { FsBlockstore } from "blockstore-fs";
import { fixedSize } from "ipfs-unixfs-importer/chunker";
import { balanced } from "ipfs-unixfs-importer/layout";
import { concat } from "uint8arrays";
import { parseCid, unixfsImportParameters, type ContentStore } from "./ContentStore.js";
import { ContentIntegrityError, ContentNotFoundError, ContentStoreError } from "./ContentStoreError.js";
import { VerifyingBlockstore } from "./VerifyingBlockstore.js";

export const DEFAULT_IPFS_DIR = ".tessera/ipfs";

/**
 * An IPFS store without a node: UnixFS DAGs in a blockstore-fs directory. CIDs are the ones Kubo
 * computes (same import parameters), so content added here can later be pinned anywhere by CID.
 * Nothing is fetched from the network; `get` of content that is not local throws.
 */
export class EmbeddedContentStore implements ContentStore {
  readonly kind = "embedded" as const;
  readonly directory: string;
  readonly #blockstore: FsBlockstore;
  readonly #fs: UnixFS;
  #closed = false;

  private constructor(directory: string, blockstore: FsBlockstore) {
    this.directory = directory;
    this.#blockstore = blockstore;
    this.#fs = unixfs({ blockstore: new VerifyingBlockstore(blockstore) });
  }

  /** Opens (creating if missing) the blockstore in `directory`. */
  static async open(directory: string = DEFAULT_IPFS_DIR): Promise<EmbeddedContentStore> {
    const blockstore = new FsBlockstore(directory);
    try {
      await blockstore.open();
    } catch (error) {
      throw new ContentStoreError(`cannot open the IPFS blockstore in ${directory}`, { cause: error });
    }
    return new EmbeddedContentStore(directory, blockstore);
  }

  async add(bytes: Uint8Array): Promise<string> {
    this.#assertOpen();
    const cid = await this.#fs.addBytes(bytes, {
      cidVersion: unixfsImportParameters.cidVersion,
      rawLeaves: unixfsImportParameters.rawLeaves,
      chunker: fixedSize({ chunkSize: unixfsImportParameters.chunkSize }),
      layout: balanced({ maxChildrenPerNode: unixfsImportParameters.maxChildrenPerNode }),
    });
    return cid.toString();
  }

  async get(cid: string): Promise<Uint8Array> {
    const chunks: Uint8Array[] = [];
    for await (const chunk of this.cat(cid)) chunks.push(chunk);
    return concat(chunks);
  }

  async *cat(cid: string): AsyncGenerator<Uint8Array> {
    this.#assertOpen();
    const parsed = parseCid(cid);
    if (!(await this.#blockstore.has(parsed))) throw new ContentNotFoundError(cid);
    try {
      yield* this.#fs.cat(parsed);
    } catch (error) {
      if (error instanceof ContentIntegrityError) {
        throw error.cid === cid ? error : new ContentIntegrityError(cid, `block ${error.cid}: ${error.detail}`);
      }
      if (error instanceof Error && error.name === "NotFoundError") throw new ContentNotFoundError(cid, { cause: error });
      throw new ContentStoreError(`cannot read ${cid} from the embedded store`, { cause: error });
    }
  }

  async size(cid: string): Promise<number> {
    this.#assertOpen();
    const parsed = parseCid(cid);
    if (!(await this.#blockstore.has(parsed))) throw new ContentNotFoundError(cid);
    try {
      return Number((await this.#fs.stat(parsed)).size);
    } catch (error) {
      if (error instanceof ContentIntegrityError) throw error;
      throw new ContentStoreError(`cannot read the size of ${cid} from the embedded store`, { cause: error });
    }
  }

  async has(cid: string): Promise<boolean> {
    this.#assertOpen();
    return this.#blockstore.has(parseCid(cid));
  }

  async pin(cid: string): Promise<void> {
    if (!(await this.has(cid))) throw new ContentNotFoundError(cid);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#blockstore.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new ContentStoreError(`the embedded store in ${this.directory} is closed`);
  }
}
