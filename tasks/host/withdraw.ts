import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { parseId } from "../lib/Ids.js";
import { printFields } from "../lib/Printer.js";
import { Session } from "../lib/Session.js";
import { parseShardIndex } from "./ShardArgs.js";

interface WithdrawArgs {
  deployment: string;
  account: string;
  versionId: string | undefined;
  shard: string;
  release: boolean;
}

export interface WithdrawResult {
  host: string;
  action: "withdrawn" | "released";
  releasableAt: number;
  txHash: string;
}

/**
 * Withdraws the account's announcement of a shard (routing stops at once; its signatures count, and its stake stays
 * bound, until the release time), or with --release unbinds the stake once that time has passed.
 */
export default async function withdraw(args: WithdrawArgs, hre: HardhatRuntimeEnvironment): Promise<WithdrawResult> {
  const versionId = parseId(args.versionId, "--version-id");
  const shardIndex = parseShardIndex(args.shard);
  const session = await Session.open(hre, args.deployment);
  const registry = session.shards();
  const host = await session.signer(args.account);
  if (args.release) {
    const record = await registry.hostRecord(host.address, versionId, shardIndex);
    const receipt = await session.send(host, registry, "release", [host.address, versionId, shardIndex]);
    printFields(`${host.address} released from shard ${shardIndex} of version ${versionId}`, [
      ["stake bound", `${await session.contracts.workerRegistry.obligationsOf(host.address)} obligation(s) left`],
      ["transaction", receipt.hash],
    ]);
    return { host: host.address, action: "released", releasableAt: Number(record.releasableAt), txHash: receipt.hash };
  }
  const receipt = await session.send(host, registry, "withdraw", [versionId, shardIndex]);
  const record = await registry.hostRecord(host.address, versionId, shardIndex);
  const at = Number(record.releasableAt);
  printFields(`${host.address} no longer hosts shard ${shardIndex} of version ${versionId}`, [
    ["routing", "stopped"],
    ["stake bound until", `${new Date(at * 1000).toISOString()} (its signatures still count until then)`],
    ["then", `npx hardhat${session.networkFlag} host withdraw --version-id ${versionId} --shard ${shardIndex} --account ${host.address} --release`],
    ["transaction", receipt.hash],
  ]);
  return { host: host.address, action: "withdrawn", releasableAt: at, txHash: receipt.hash };
}
