import type { ContentStore } from "./ContentStore.js";
import { DEFAULT_IPFS_DIR, EmbeddedContentStore } from "./EmbeddedContentStore.js";
import { KuboContentStore } from "./KuboContentStore.js";

export interface ContentStoreConfig {
  /** Kubo RPC API URL; when set, content goes to that node instead of the local blockstore. */
  ipfsApiUrl?: string;
  /** Directory of the embedded blockstore. */
  ipfsDir?: string;
}

/** Picks Kubo when a URL is configured (and checks it answers), the embedded store otherwise. */
export async function createContentStore(config: ContentStoreConfig): Promise<ContentStore> {
  if (config.ipfsApiUrl !== undefined && config.ipfsApiUrl !== "") {
    return KuboContentStore.connect({ url: config.ipfsApiUrl });
  }
  return EmbeddedContentStore.open(config.ipfsDir ?? DEFAULT_IPFS_DIR);
}
