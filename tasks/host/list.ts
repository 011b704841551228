import { CID } from "multiformats/cid";
import { getBytes } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { parseId } from "../lib/Ids.js";
import { printFields } from "../lib/Printer.js";
import { Session } from "../lib/Session.js";
import { taskError } from "../lib/TaskError.js";

interface ListArgs {
  deployment: string;
  versionId: string | undefined;
}

export interface ShardView {
  index: number;
  firstLayer: number;
  endLayer: number;
  costWeight: number;
  byteSize: bigint;
  cid: string;
  hosts: { host: string; endpoint: string }[];
}

export interface ListResult {
  versionId: bigint;
  shards: ShardView[];
  /** Shards no host serves now: requests on the version cannot be served (they end refunded). */
  unhosted: number[];
}

/** The shards of a sharded version and who hosts each now; says which shards lack a host. */
export default async function list(args: ListArgs, hre: HardhatRuntimeEnvironment): Promise<ListResult> {
  const versionId = parseId(args.versionId, "--version-id");
  const session = await Session.open(hre, args.deployment);
  const registry = session.shards();
  const records = await session.contracts.modelRegistry.getShards(versionId).catch((err: unknown) => {
    throw taskError(`version ${versionId} does not exist`, err);
  });
  if (records.length === 0) throw taskError(`version ${versionId} is not sharded: it is served whole by the workers that serve it`);
  const shards: ShardView[] = [];
  for (const [index, r] of records.entries()) {
    const [hosts, endpoints] = await registry.hostsOf(versionId, index);
    shards.push({
      index,
      firstLayer: Number(r.firstLayer),
      endLayer: Number(r.endLayer),
      costWeight: Number(r.costWeight),
      byteSize: r.byteSize,
      cid: CID.decode(getBytes(r.weightsCid)).toString(),
      hosts: hosts.map((host, i) => ({ host, endpoint: endpoints[i] })),
    });
  }
  const totalWeight = shards.reduce((sum, s) => sum + s.costWeight, 0);
  const unhosted = shards.filter((s) => s.hosts.length === 0).map((s) => s.index);
  printFields(`Version ${versionId}: ${shards.length} shards`, [
    ...shards.map((s): [string, unknown] => [
      `shard ${s.index}`,
      `layers ${s.firstLayer}..${s.endLayer - 1}, ${s.byteSize} bytes, ${((100 * s.costWeight) / totalWeight).toFixed(1)} % of the hosts' pay; ${
        s.hosts.length === 0 ? "NO HOST" : s.hosts.map((h) => `${h.host} at ${h.endpoint}`).join("; ")
      }`,
    ]),
    ["servable", unhosted.length === 0 ? "yes: every shard has a host" : `no: shard ${unhosted.join(", ")} has no host (requests end refunded)`],
  ]);
  return { versionId, shards, unhosted };
}
