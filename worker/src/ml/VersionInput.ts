import { CID } from "multiformats/cid";
import type { PublishedModel } from "./ModelArtifacts.js";

/** The ModelRegistry's `VersionInput` for a published model: CIDs as bytes, terms as given. */
export interface VersionTerms {
  readonly priceWei: bigint;
  readonly priceToken: bigint;
  readonly royaltyBps: number | bigint;
  /** Per-example shapes; the MNIST 2NN's by default. */
  readonly inputShape?: readonly number[];
  readonly outputShape?: readonly number[];
}

export function versionInputOf(published: PublishedModel, terms: VersionTerms) {
  return {
    manifestCid: CID.parse(published.manifestCid).bytes,
    weightsCid: CID.parse(published.weightsCid).bytes,
    contentHash: published.contentHash,
    inputShape: [...(terms.inputShape ?? [784])],
    outputShape: [...(terms.outputShape ?? [10])],
    priceWei: terms.priceWei,
    priceToken: terms.priceToken,
    royaltyBps: terms.royaltyBps,
  };
}
