import { ZeroAddress } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { payShare, shardsOf, unhostedShards, type ShardView } from "../../client/src/ShardHosts.js";
import { parseId } from "../lib/Ids.js";
import { printFields } from "../lib/Printer.js";
import { Session } from "../lib/Session.js";
import { taskError } from "../lib/TaskError.js";

interface ListArgs {
  deployment: string;
  versionId: string | undefined;
}

export type { ShardView };

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
  const [owner] = await session.contracts.modelRegistry.inferenceTerms(versionId);
  if (owner === ZeroAddress) throw taskError(`version ${versionId} does not exist`);
  const shards = await shardsOf(session.contracts.modelRegistry, registry, versionId);
  if (shards.length === 0) throw taskError(`version ${versionId} is not sharded: it is served whole by the workers that serve it`);
  const unhosted = unhostedShards(shards);
  printFields(`Version ${versionId}: ${shards.length} shards`, [
    ...shards.map((s): [string, unknown] => [
      `shard ${s.index}`,
      `layers ${s.firstLayer}..${s.endLayer - 1}, ${s.byteSize} bytes, ${payShare(shards, s.index).toFixed(1)} % of the hosts' pay; ${
        s.hosts.length === 0 ? "NO HOST" : s.hosts.map((h) => `${h.host} at ${h.endpoint}`).join("; ")
      }`,
    ]),
    ["servable", unhosted.length === 0 ? "yes: every shard has a host" : `no: shard ${unhosted.join(", ")} has no host (requests end refunded)`],
  ]);
  return { versionId, shards, unhosted };
}
