import { ZeroAddress } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { formatAmount, parseCurrency, type Currency } from "../lib/Amounts.js";
import { printFields } from "../lib/Printer.js";
import { Session } from "../lib/Session.js";
import { taskError } from "../lib/TaskError.js";
import { byWorker, pendingSettlements } from "./Earnings.js";

interface WithdrawArgs {
  deployment: string;
  account: string;
  token: string;
}

export interface WithdrawResult {
  account: string;
  currency: Currency;
  amount: bigint;
  settledVersions: bigint[];
  txHashes: string[];
}

/**
 * Pays out the account's whole market credit in ETH or TSR. It first settles every worker's
 * earnings that owe the account something (its own share as a worker, royalties as a model
 * owner, protocol fees as the treasury), so all of it comes out in one go.
 */
export default async function withdraw(args: WithdrawArgs, hre: HardhatRuntimeEnvironment): Promise<WithdrawResult> {
  const currency = parseCurrency(args.token, "--token");
  const session = await Session.open(hre, args.deployment);
  const signer = await session.signer(args.account);
  const { market, token } = session.contracts;
  const tokenAddress = currency === "eth" ? ZeroAddress : await token.getAddress();
  const txHashes: string[] = [];

  const pending = await pendingSettlements(session, signer.address, tokenAddress);
  const settledVersions = [...new Set(pending.map((p) => p.versionId))];
  for (const [worker, versionIds] of byWorker(pending)) {
    txHashes.push((await session.send(signer, market, "settle", [worker, versionIds, tokenAddress])).hash);
  }
  const amount = await market.creditOf(signer.address, tokenAddress);
  if (amount === 0n) {
    throw taskError(`nothing to withdraw: ${signer.address} has no ${currency.toUpperCase()} credit in the InferenceMarket`);
  }
  const receipt = await session.send(signer, market, "withdraw", [tokenAddress]);
  txHashes.push(receipt.hash);
  printFields(`Withdrew ${formatAmount(amount, currency)} to ${signer.address}`, [
    ...(settledVersions.length > 0
      ? ([["settled earnings", `versions ${settledVersions.join(", ")} (${formatAmount(pending.reduce((a, p) => a + p.amount, 0n), currency)} to this account)`]] as [string, unknown][])
      : []),
    ["transactions", txHashes.join(", ")],
  ]);
  return { account: signer.address, currency, amount, settledVersions, txHashes };
}
