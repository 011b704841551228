import { create, type KuboRPCClient } from "kubo-rpc-client";
import { concat } from "uint8arrays";
import { parseCid, unixfsImportParameters, type ContentStore } from "./ContentStore.js";
import {
  ContentNotFoundError,
  ContentStoreError,
  ContentStoreUnavailableError,
} from "./ContentStoreError.js";

export interface KuboContentStoreOptions {
  /** Kubo RPC API, e.g. `http://127.0.0.1:5001` (the RPC port, not the gateway). */
  url: string;
  /** Per-request timeout in milliseconds. */
  timeoutMs?: number;
}

/**
 * A Kubo node (or any service speaking Kubo's RPC API) over HTTP. `add` pins, so what a worker
 * publishes survives the node's garbage collection. Kubo verifies blocks it fetches from peers;
 * callers that need end-to-end integrity check a content hash on top (ModelCache does).
 *
 * The chunker is passed explicitly; the link count per node (174) is Kubo's default
 * `Import.UnixFSFileMaxLinks` and must not be changed on the node for CIDs to match the
 * embedded store's.
 */
export class KuboContentStore implements ContentStore {
  readonly kind = "kubo" as const;
  readonly url: string;
  readonly #client: KuboRPCClient;
  readonly #timeoutMs: number;

  constructor(options: KuboContentStoreOptions) {
    this.url = options.url;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#client = create({ url: options.url, timeout: this.#timeoutMs });
  }

  /** Creates the store and checks that the node answers, so a bad URL fails at start-up. */
  static async connect(options: KuboContentStoreOptions): Promise<KuboContentStore> {
    const store = new KuboContentStore(options);
    await store.#call("version", undefined, () => store.#client.version());
    return store;
  }

  async add(bytes: Uint8Array): Promise<string> {
    const result = await this.#call("add", undefined, () =>
      this.#client.add(bytes, {
        cidVersion: unixfsImportParameters.cidVersion,
        rawLeaves: unixfsImportParameters.rawLeaves,
        chunker: `size-${unixfsImportParameters.chunkSize}`,
        pin: true,
      }),
    );
    return result.cid.toV1().toString();
  }

  async get(cid: string): Promise<Uint8Array> {
    const chunks: Uint8Array[] = [];
    for await (const chunk of this.cat(cid)) chunks.push(chunk);
    return concat(chunks);
  }

  async *cat(cid: string): AsyncGenerator<Uint8Array> {
    const parsed = parseCid(cid);
    try {
      yield* this.#client.cat(parsed);
    } catch (error) {
      throw this.#translate("cat", cid, error);
    }
  }

  async size(cid: string): Promise<number> {
    const parsed = parseCid(cid);
    return this.#call("files/stat", cid, async () => (await this.#client.files.stat(`/ipfs/${parsed.toString()}`, { timeout: this.#timeoutMs })).size);
  }

  async has(cid: string): Promise<boolean> {
    const parsed = parseCid(cid);
    try {
      // Kubo's global `offline` flag makes it answer from its own repo instead of searching the
      // network. The client turns unknown options into query parameters (and ignores a
      // URLSearchParams given as `searchParams`, which it spreads as a plain object).
      const offline = { offline: true, timeout: this.#timeoutMs };
      await this.#call("block/stat", cid, () => this.#client.block.stat(parsed, offline));
      return true;
    } catch (error) {
      if (error instanceof ContentNotFoundError) return false;
      throw error;
    }
  }

  async pin(cid: string): Promise<void> {
    const parsed = parseCid(cid);
    await this.#call("pin/add", cid, () => this.#client.pin.add(parsed));
  }

  async close(): Promise<void> {
    // The HTTP client holds no connection between requests.
  }

  async #call<T>(operation: string, cid: string | undefined, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw this.#translate(operation, cid, error);
    }
  }

  #translate(operation: string, cid: string | undefined, error: unknown): ContentStoreError {
    const message = error instanceof Error ? error.message : String(error);
    if (cid !== undefined && /not found|no link named|could not find/i.test(message)) {
      return new ContentNotFoundError(cid, { cause: error });
    }
    // An HTTPError carries the node's response: the node is up and refused this request.
    if (error instanceof Error && "response" in error) {
      return new ContentStoreError(`Kubo ${operation} at ${this.url} failed: ${message}`, { cause: error });
    }
    return new ContentStoreUnavailableError(
      `Kubo RPC API at ${this.url} is unreachable (${operation}): ${describeNetworkError(error)}`,
      { cause: error },
    );
  }
}

function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  if (cause instanceof Error && "code" in cause) return `${error.message} (${String(cause.code)})`;
  return error.message;
}
