import type { LayersModel } from "@tensorflow/tfjs";
import { CID } from "multiformats/cid";
import type { ModelRegistry } from "../../../typechain-types/index.js";
import type { ContentStore } from "../ipfs/ContentStore.js";
import { publishModel, readManifest, type CodecChoice, type ModelMetadata, type PublishedModel } from "../ml/ModelArtifacts.js";
import type { ModelCodecs } from "../ml/ModelManifest.js";
import { saveShards, loadShard, type StoredShard } from "../ml/sharding/ShardArtifacts.js";
import { splitModel, type ModelShard, type SplitPlan } from "../ml/sharding/ModelSplit.js";
import { ShardingError } from "../ml/sharding/ShardingError.js";
import type { HostedShard } from "./ShardStageRunner.js";

/** A shard as `ModelRegistry.publishShardedVersion` takes it (struct Shard). */
export interface ShardRecord {
  firstLayer: number;
  endLayer: number;
  costWeight: number;
  byteSize: bigint;
  contentHash: string;
  /** The bytes of the shard's manifest CID: what a host of the shard loads (manifest, then its weights). */
  weightsCid: Uint8Array;
}

/** A model cut into shards and stored: the whole model (what challengers re-run) and every shard. */
export interface StoredShardedModel {
  readonly whole: PublishedModel;
  readonly shards: StoredShard[];
  readonly records: ShardRecord[];
}

/** Bytes of weights per unit of cost weight: a shard's share of the hosts' pay follows the weights it holds. */
export const COST_WEIGHT_UNIT_BYTES = 1024;

/**
 * Cuts a sequential model into shards (by count or by a memory budget per host; see splitModel), stores every shard
 * (its own manifest and weights) and the whole model, and returns the registry's shard records. A shard's cost weight
 * is its weight bytes in KiB (at least 1). A plan that leaves one shard is a ShardingError, before anything is stored.
 */
export async function storeShardedModel(store: ContentStore, model: LayersModel, plan: SplitPlan, codecs: CodecChoice, metadata: ModelMetadata = {}): Promise<StoredShardedModel> {
  const split = await splitModel(model, plan);
  try {
    // Before anything is stored: a sharded version has at least two shards (ModelRegistryShardCount).
    if (split.length < 2) throw new ShardingError(`the model fits in one shard under that budget (${layerTotal(split)} weight bytes): publish it whole`);
    const shards = await saveShards(store, split, { name: metadata.name ?? model.name });
    const whole = await publishModel(store, model, metadata, codecs);
    return { whole, shards, records: shards.map(shardRecordOf) };
  } finally {
    for (const shard of split) shard.model.dispose();
  }
}

function layerTotal(shards: readonly ModelShard[]): number {
  return shards.reduce((sum, s) => sum + s.weightBytes, 0);
}

export function shardRecordOf(shard: StoredShard): ShardRecord {
  return {
    firstLayer: shard.firstLayer,
    endLayer: shard.endLayer,
    costWeight: Math.max(1, Math.ceil(shard.byteSize / COST_WEIGHT_UNIT_BYTES)),
    byteSize: BigInt(shard.byteSize),
    contentHash: shard.contentHash,
    weightsCid: CID.parse(shard.manifestCid).bytes,
  };
}

/** A shard to load: which one it is, and where its weights are, with the hash they must have (its record on chain). */
export interface ShardToLoad {
  readonly versionId: bigint;
  readonly shardIndex: number;
  readonly shardCount: number;
  /** The version's codecs: shard 0 decodes the request with them, the last shard encodes the answer. */
  readonly codecs: ModelCodecs;
  readonly manifestCid: string;
  readonly contentHash: string;
}

/**
 * The shards of a version this host serves, and only those, as their on-chain records name them (each to be loaded
 * from its CID and checked against its content hash); the version's manifest gives the codecs.
 */
export async function hostedShardsToLoad(store: ContentStore, registry: ModelRegistry, versionId: bigint, shardIndexes: readonly number[]): Promise<ShardToLoad[]> {
  const version = await registry.getVersion(versionId);
  const records = await registry.getShards(versionId);
  const codecs = await readManifest(store, CID.decode(Buffer.from(version.manifestCid.slice(2), "hex")).toString());
  return shardIndexes.map((shardIndex) => {
    const record = records[shardIndex];
    if (record === undefined) throw new Error(`version ${versionId} has no shard ${shardIndex} (it has ${records.length})`);
    return { versionId, shardIndex, shardCount: records.length, codecs, manifestCid: CID.decode(Buffer.from(record.weightsCid.slice(2), "hex")).toString(), contentHash: record.contentHash };
  });
}

/** Loads a shard in this thread (the stage thread loads its own: ThreadedStageRunner.load). */
export async function loadHostedShard(store: ContentStore, shard: ShardToLoad): Promise<HostedShard> {
  const { versionId, shardIndex, shardCount, codecs } = shard;
  return { versionId, shardIndex, shardCount, codecs, model: await loadShard(store, shard.manifestCid, shard.contentHash) };
}
