import type { LayersModel } from "@tensorflow/tfjs";
import type { ContentStore } from "../ipfs/ContentStore.js";
import { loadPublishedModel, type ModelManifest } from "./ModelArtifacts.js";
import { ModelIntegrityError } from "./ModelError.js";

export interface LoadedModel {
  manifestCid: string;
  manifest: ModelManifest;
  model: LayersModel;
}

export interface ModelCacheOptions {
  /** Models kept in memory; the least recently used one beyond this is disposed. */
  capacity?: number;
}

/**
 * Published models by manifest CID, fetched and verified once, kept in memory with LRU eviction.
 * Concurrent loads of the same CID share one fetch. An evicted model is disposed, so callers use
 * the model they got right away rather than holding on to it across other loads.
 */
export class ModelCache {
  readonly #store: ContentStore;
  readonly #capacity: number;
  /** Insertion order is recency order: the first entry is the least recently used. */
  readonly #loaded = new Map<string, LoadedModel>();
  readonly #inFlight = new Map<string, Promise<LoadedModel>>();

  constructor(store: ContentStore, options: ModelCacheOptions = {}) {
    this.#store = store;
    this.#capacity = options.capacity ?? 4;
    if (!Number.isInteger(this.#capacity) || this.#capacity < 1) {
      throw new RangeError(`capacity must be a positive integer, got ${this.#capacity}`);
    }
  }

  get size(): number {
    return this.#loaded.size;
  }

  has(manifestCid: string): boolean {
    return this.#loaded.has(manifestCid);
  }

  /**
   * The model of `manifestCid`. With `expectedContentHash` (the registry's bytes32), a manifest
   * that commits to other weights is rejected, cached or not.
   */
  async load(manifestCid: string, options: { expectedContentHash?: string } = {}): Promise<LoadedModel> {
    const loaded = this.#loaded.get(manifestCid) ?? (await this.#fetch(manifestCid, options.expectedContentHash));
    const expected = options.expectedContentHash?.toLowerCase();
    if (expected !== undefined && expected !== loaded.manifest.contentHash) {
      throw new ModelIntegrityError(
        `manifest ${manifestCid} commits to ${loaded.manifest.contentHash}, expected ${expected}`,
      );
    }
    // Mark as most recently used (unless a load that finished meanwhile already evicted it).
    if (this.#loaded.delete(manifestCid)) this.#loaded.set(manifestCid, loaded);
    return loaded;
  }

  /** Disposes every cached model. */
  clear(): void {
    for (const { model } of this.#loaded.values()) model.dispose();
    this.#loaded.clear();
  }

  async #fetch(manifestCid: string, expectedContentHash: string | undefined): Promise<LoadedModel> {
    let pending = this.#inFlight.get(manifestCid);
    if (pending === undefined) {
      pending = loadPublishedModel(this.#store, manifestCid, { expectedContentHash })
        .then(({ model, manifest }) => {
          const entry = { manifestCid, manifest, model };
          this.#loaded.set(manifestCid, entry);
          this.#evictBeyondCapacity();
          return entry;
        })
        .finally(() => this.#inFlight.delete(manifestCid));
      this.#inFlight.set(manifestCid, pending);
    }
    return pending;
  }

  #evictBeyondCapacity(): void {
    while (this.#loaded.size > this.#capacity) {
      const [oldestCid, oldest] = this.#loaded.entries().next().value as [string, LoadedModel];
      this.#loaded.delete(oldestCid);
      oldest.model.dispose();
    }
  }
}
