import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { parseId } from "../lib/Ids.js";
import { printFields } from "../lib/Printer.js";
import { Session } from "../lib/Session.js";
import { taskError } from "../lib/TaskError.js";
import { parseShardIndex } from "./ShardArgs.js";

interface AnnounceArgs {
  deployment: string;
  account: string;
  versionId: string | undefined;
  shard: string;
  endpoint: string;
}

export interface AnnounceResult {
  host: string;
  versionId: bigint;
  shardIndex: number;
  endpoint: string;
  obligations: bigint;
  txHash: string;
}

/** Announces the account as a host of one shard of a sharded version, at an endpoint (binds its stake). */
export default async function announce(args: AnnounceArgs, hre: HardhatRuntimeEnvironment): Promise<AnnounceResult> {
  const versionId = parseId(args.versionId, "--version-id");
  const shardIndex = parseShardIndex(args.shard);
  if (args.endpoint.trim() === "") throw taskError("--endpoint is required: the URL (or libp2p multiaddr) where this host takes the shard's activations");
  const session = await Session.open(hre, args.deployment);
  const registry = session.shards();
  const host = await session.signer(args.account);
  const receipt = await session.send(host, registry, "announce", [versionId, shardIndex, args.endpoint]);
  const obligations = await session.contracts.workerRegistry.obligationsOf(host.address);
  printFields(`${host.address} hosts shard ${shardIndex} of version ${versionId}`, [
    ["endpoint", args.endpoint],
    ["stake bound", `yes (${obligations} obligation(s)): it stays bound until the announcement is withdrawn and released`],
    ["transaction", receipt.hash],
  ]);
  return { host: host.address, versionId, shardIndex, endpoint: args.endpoint, obligations, txHash: receipt.hash };
}
