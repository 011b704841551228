import type { ModelRegistry, ShardRegistry } from "../../typechain-types/index.js";
import { cidOfBytes } from "./Cids.js";

/** One shard of a sharded version as the registries record it, with the hosts that serve it now. */
export interface ShardView {
  readonly index: number;
  readonly firstLayer: number;
  /** Exclusive. */
  readonly endLayer: number;
  /** The shard's share of the hosts' pay, relative to the other shards' weights. */
  readonly costWeight: number;
  readonly byteSize: bigint;
  /** The shard's manifest CID (its weights are named there). */
  readonly cid: string;
  /** Announced and still eligible (ShardRegistry.hostsOf): where a worker routes this shard's stage. */
  readonly hosts: readonly { readonly host: string; readonly endpoint: string }[];
}

/** A version's shards (empty for a version served whole) and who hosts each now. */
export async function shardsOf(modelRegistry: ModelRegistry, shardRegistry: ShardRegistry | undefined, versionId: bigint): Promise<ShardView[]> {
  const records = await modelRegistry.getShards(versionId);
  return Promise.all(
    records.map(async (r, index): Promise<ShardView> => {
      const [hosts, endpoints] = shardRegistry === undefined ? [[], []] : await shardRegistry.hostsOf(versionId, index);
      return {
        index,
        firstLayer: Number(r.firstLayer),
        endLayer: Number(r.endLayer),
        costWeight: Number(r.costWeight),
        byteSize: r.byteSize,
        cid: cidOfBytes(r.weightsCid),
        hosts: hosts.map((host, i) => ({ host, endpoint: endpoints[i] })),
      };
    }),
  );
}

/** The shards no host serves now: a request on the version cannot be answered (it ends refunded). */
export function unhostedShards(shards: readonly ShardView[]): number[] {
  return shards.filter((s) => s.hosts.length === 0).map((s) => s.index);
}

/** Shard `index`'s share of what the hosts of a request are paid, in percent. */
export function payShare(shards: readonly ShardView[], index: number): number {
  const total = shards.reduce((sum, s) => sum + s.costWeight, 0);
  return total === 0 ? 0 : (100 * shards[index].costWeight) / total;
}

/** A shard a host announced and has not withdrawn. */
export interface AnnouncedShard {
  readonly versionId: bigint;
  readonly shardIndex: number;
  readonly endpoint: string;
}

/** Every host's announced shards since `fromBlock` (HostAnnounced, less HostWithdrawn, replayed), by address. */
export async function announcedShards(shardRegistry: ShardRegistry, fromBlock: number): Promise<Map<string, AnnouncedShard[]>> {
  const [announced, withdrawn] = await Promise.all([
    shardRegistry.queryFilter(shardRegistry.filters.HostAnnounced(), fromBlock),
    shardRegistry.queryFilter(shardRegistry.filters.HostWithdrawn(), fromBlock),
  ]);
  const events = [...announced.map((e) => ({ e, on: true })), ...withdrawn.map((e) => ({ e, on: false }))].sort(
    (a, b) => a.e.blockNumber - b.e.blockNumber || a.e.index - b.e.index,
  );
  const byHost = new Map<string, Map<string, AnnouncedShard>>();
  for (const { e, on } of events) {
    const host = e.args.host as string;
    const shards = byHost.get(host) ?? new Map<string, AnnouncedShard>();
    const key = `${e.args.modelVersionId}:${e.args.shardIndex}`;
    if (on) shards.set(key, { versionId: e.args.modelVersionId as bigint, shardIndex: Number(e.args.shardIndex), endpoint: (e.args as unknown as { endpoint: string }).endpoint });
    else shards.delete(key);
    byHost.set(host, shards);
  }
  return new Map([...byHost].map(([host, shards]) => [host, [...shards.values()].sort((a, b) => (a.versionId === b.versionId ? a.shardIndex - b.shardIndex : a.versionId < b.versionId ? -1 : 1))]));
}
