import type { LayersModel } from "@tensorflow/tfjs";
import type { ContentStore } from "../../ipfs/ContentStore.js";
import { signatureOf } from "../codecs/Signature.js";
import { loadPublishedModel, publishArtifacts, serializeModel, type CodecChoice, type PublishedModel } from "../ModelArtifacts.js";
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
 * `contentHash` and that the weights hash to it (a ModelIntegrityError otherwise: the whole-model
 * loader `loadPublishedModel` does both), and returns the shard's LayersModel.
 */
export async function loadShard(store: ContentStore, manifestCid: string, contentHash: string): Promise<LayersModel> {
  const { model, manifest } = await loadPublishedModel(store, manifestCid, { expectedContentHash: contentHash });
  if (manifest.format !== "tfjs-layers") {
    model.dispose();
    throw new ShardingError(`manifest ${manifestCid} holds a ${manifest.format} model, not a tfjs-layers shard`);
  }
  return model as LayersModel;
}
