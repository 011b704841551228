import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { EmbeddedContentStore } from "../../worker/src/ipfs/EmbeddedContentStore.js";

/**
 * An embedded IPFS store in a fresh temporary directory for the enclosing `describe`: opened before its tests, closed
 * and removed after them. Call it in the describe's body; the returned function gives the open store.
 */
export function temporaryStore(prefix: string): () => EmbeddedContentStore {
  let directory: string | undefined;
  let store: EmbeddedContentStore | undefined;
  before(async () => {
    directory = await mkdtemp(path.join(tmpdir(), prefix));
    store = await EmbeddedContentStore.open(directory);
  });
  after(async () => {
    await store?.close();
    if (directory !== undefined) await rm(directory, { recursive: true, force: true });
  });
  return () => {
    if (store === undefined) throw new Error("the temporary store opens before the describe's tests");
    return store;
  };
}
