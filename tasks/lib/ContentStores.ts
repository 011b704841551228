import { join } from "node:path";
import type { ContentStore } from "../../worker/src/ipfs/ContentStore.js";
import { createContentStore } from "../../worker/src/ipfs/createContentStore.js";
import { taskError } from "./TaskError.js";

/** Kubo when IPFS_API_URL is set (as the worker does), else the embedded blockstore at <dataDir>/ipfs. */
export async function openContentStore(dataDir: string): Promise<ContentStore> {
  const ipfsApiUrl = process.env.IPFS_API_URL;
  try {
    return await createContentStore({ ipfsApiUrl, ipfsDir: join(dataDir, "ipfs") });
  } catch (err) {
    const where = ipfsApiUrl ? `the Kubo node at IPFS_API_URL=${ipfsApiUrl}` : `the embedded IPFS store in ${join(dataDir, "ipfs")}`;
    throw taskError(`cannot open ${where}: ${(err as Error).message}`, err);
  }
}

export function describeStore(store: ContentStore, dataDir: string): string {
  return store.kind === "kubo" ? `Kubo (${process.env.IPFS_API_URL})` : `embedded blockstore in ${join(dataDir, "ipfs")}`;
}
