import type { LayersModel, io } from "@tensorflow/tfjs";
import type { ContentStore } from "../../ipfs/ContentStore.js";
import { signatureOf } from "../codecs/Signature.js";
import { loadLayersModelByWeight } from "../LayersModelLoading.js";
import { buildCheckedLayers, committedWeights, publishArtifacts, readManifest, serializeModel, type CodecChoice, type PublishedModel } from "../ModelArtifacts.js";
import { ModelError } from "../ModelError.js";
import type { ExampleShape, ModelShard, ShardRange } from "./ModelSplit.js";
import { ShardingError } from "./ShardingError.js";

/**
 * The codecs a shard's manifest names: float32 values in and out. They are what the manifest
 * schema requires; hosts pass activations between shards in the format of Activations.ts.
 */
export const SHARD_CODECS: CodecChoice = {
  inputCodec: { name: "float32-tensor" },
  outputCodec: { name: "float32-tensor", significantBits: 24 },
};

/**
 * A shard as stored, in the shape of a whole published model (`PublishedModel`): a manifest
 * (topology, weight specs, signature) naming the weights file by CID and committing to its
 * sha256. A host loads the shard from `manifestCid` with `loadShard`.
 */
export interface StoredShard extends PublishedModel, ShardRange {
  index: number;
  /** Bytes of the weights file (`weightsCid`), the ones `contentHash` hashes. */
  byteSize: number;
  inputShape: ExampleShape;
  outputShape: ExampleShape;
}

/**
 * Stores one shard's model the way whole models are stored (`serializeModel`, which saves through
 * `tf.io.withSaveHandler`, then `publishArtifacts`): the weights file, then its manifest. A shard
 * whose shapes are not fixed, or that tfjs cannot save, is a ShardingError naming it.
 */
export async function saveShard(store: ContentStore, shard: ModelShard, options: { name?: string; shardCount?: number } = {}): Promise<StoredShard> {
  const label = `shard ${shard.index}${options.shardCount === undefined ? "" : ` of ${options.shardCount}`}`;
  let published: PublishedModel;
  let byteSize: number;
  try {
    const serialized = await serializeModel(shard.model);
    byteSize = serialized.weightData.byteLength;
    published = await publishArtifacts(store, { format: "tfjs-layers", ...serialized, signature: signatureOf(shard.model) }, SHARD_CODECS, {
      name: `${options.name ?? shard.model.name} ${label}`,
      description: `layers ${shard.firstLayer}..${shard.endLayer - 1} (${shard.layerNames.join(", ")}), input ${JSON.stringify(shard.inputShape)}, output ${JSON.stringify(shard.outputShape)}`,
    });
  } catch (err) {
    if (!(err instanceof ModelError)) throw err;
    throw new ShardingError(`${label} (layers ${shard.firstLayer}..${shard.endLayer - 1}) cannot be stored: ${err.message}`, { cause: err });
  }
  return {
    index: shard.index,
    firstLayer: shard.firstLayer,
    endLayer: shard.endLayer,
    ...published,
    byteSize,
    inputShape: shard.inputShape,
    outputShape: shard.outputShape,
  };
}

/** Stores every shard of a split (see `saveShard`), in order; `name` labels the manifests ("<name> shard i of n"). */
export async function saveShards(store: ContentStore, shards: readonly ModelShard[], options: { name?: string } = {}): Promise<StoredShard[]> {
  const stored: StoredShard[] = [];
  for (const shard of shards) stored.push(await saveShard(store, shard, { ...options, shardCount: shards.length }));
  return stored;
}

/**
 * Fetches a shard's manifest and weights by the manifest's CID, checks that the manifest commits to
 * `contentHash` and that the weights hash to it (a ModelIntegrityError otherwise, as the whole-model
 * loader `loadPublishedModel` checks them), and returns the shard's LayersModel.
 */
export async function loadShard(store: ContentStore, manifestCid: string, contentHash: string): Promise<LayersModel> {
  return loadShardWith(store, manifestCid, contentHash, loadLayersModelByWeight);
}

/** What builds a shard's model from its topology, weight specs and the weights as the store yields them. */
export type ShardBuilder<M extends { dispose(): void }> = (modelTopology: object, weightSpecs: readonly io.WeightsManifestEntry[], weights: AsyncIterable<Uint8Array>, byteLength: number) => Promise<M>;

/**
 * `loadShard` with the model built by `build` (a loader in another thread: ThreadedStageRunner): the same checks, the
 * manifest's format before any weight is read, and what `build` made disposed when the bytes are not the committed ones.
 */
export async function loadShardWith<M extends { dispose(): void }>(store: ContentStore, manifestCid: string, contentHash: string, build: ShardBuilder<M>): Promise<M> {
  const manifest = await readManifest(store, manifestCid);
  if (manifest.format !== "tfjs-layers") throw new ShardingError(`manifest ${manifestCid} holds a ${manifest.format} model, not a tfjs-layers shard`);
  const weights = committedWeights(manifest, manifestCid, { expectedContentHash: contentHash });
  const specs = manifest.weightSpecs as io.WeightsManifestEntry[];
  return buildCheckedLayers(store, weights, (source, byteLength) => build(manifest.modelTopology, specs, source, byteLength));
}
