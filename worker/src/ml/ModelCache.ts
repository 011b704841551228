import type { ContentStore } from "../ipfs/ContentStore.js";
import { loadPublishedModel, type InferenceModel, type ModelManifest } from "./ModelArtifacts.js";
import { ModelIntegrityError } from "./ModelError.js";

export interface LoadedModel {
  manifestCid: string;
  manifest: ModelManifest;
  /** The weights loaded: the manifest's, or a version's own (see `load`). */
  weightsCid: string;
  /** sha256 of those weights. */
  contentHash: string;
  model: InferenceModel;
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

  has(manifestCid: string, weightsCid?: string): boolean {
    return this.#loaded.has(cacheKey(manifestCid, weightsCid));
  }

  /**
   * The model of `manifestCid`. With `expectedContentHash` (the registry's bytes32), a manifest
   * that commits to other weights is rejected, cached or not. With `weightsCid` (the registry
   * version's own weights, e.g. trained by a job after the manifest was written), the manifest's
   * architecture is loaded with those weights, which must hash to `expectedContentHash`.
   */
  async load(manifestCid: string, options: { expectedContentHash?: string; weightsCid?: string } = {}): Promise<LoadedModel> {
    const key = cacheKey(manifestCid, options.weightsCid);
    const loaded = this.#loaded.get(key) ?? (await this.#fetch(key, manifestCid, options));
    const expected = options.expectedContentHash?.toLowerCase();
    if (expected !== undefined && expected !== loaded.contentHash) {
      throw new ModelIntegrityError(
        `manifest ${manifestCid} with weights ${loaded.weightsCid} commits to ${loaded.contentHash}, expected ${expected}`,
      );
    }
    // Mark as most recently used (unless a load that finished meanwhile already evicted it).
    if (this.#loaded.delete(key)) this.#loaded.set(key, loaded);
    return loaded;
  }

  /** Disposes every cached model. */
  clear(): void {
    for (const { model } of this.#loaded.values()) model.dispose();
    this.#loaded.clear();
  }

  async #fetch(key: string, manifestCid: string, options: { expectedContentHash?: string; weightsCid?: string }): Promise<LoadedModel> {
    let pending = this.#inFlight.get(key);
    if (pending === undefined) {
      pending = loadPublishedModel(this.#store, manifestCid, options)
        .then(({ model, manifest, weightsCid, contentHash }) => {
          const entry = { manifestCid, manifest, weightsCid, contentHash, model };
          this.#loaded.set(key, entry);
          this.#evictBeyondCapacity();
          return entry;
        })
        .finally(() => this.#inFlight.delete(key));
      this.#inFlight.set(key, pending);
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

/** A model is cached per architecture and weights: the manifest alone, or the manifest with a version's own weights. */
function cacheKey(manifestCid: string, weightsCid: string | undefined): string {
  return weightsCid === undefined ? manifestCid : `${manifestCid}+${weightsCid}`;
}
