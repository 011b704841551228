import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { formatTsr } from "../lib/Amounts.js";
import { dataRegistryOf } from "../lib/DataRegistries.js";
import { printFields } from "../lib/Printer.js";
import { Session } from "../lib/Session.js";
import { taskError } from "../lib/TaskError.js";

interface RewardsWithdrawArgs {
  deployment: string;
  account: string;
}

export interface RewardsWithdrawResult {
  account: string;
  amount: bigint;
  txHash: string;
}

/** Pays out the account's DataRegistry credit: bonds back, accept rewards (upfront and deferred), validator rewards, royalties. */
export default async function rewardsWithdraw(args: RewardsWithdrawArgs, hre: HardhatRuntimeEnvironment): Promise<RewardsWithdrawResult> {
  const session = await Session.open(hre, args.deployment);
  const registry = await dataRegistryOf(session);
  const signer = await session.signer(args.account);
  const amount = await registry.creditOf(signer.address);
  if (amount === 0n) throw taskError(`nothing to withdraw: ${signer.address} has no credit in the DataRegistry`);
  const receipt = await session.send(signer, registry, "withdraw", []);
  printFields(`Withdrew ${formatTsr(amount)} from the DataRegistry to ${signer.address}`, [["transaction", receipt.hash]]);
  return { account: signer.address, amount, txHash: receipt.hash };
}
