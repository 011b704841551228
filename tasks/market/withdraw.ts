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
  const owed = (await market.creditOf(signer.address, tokenAddress)) + pending.reduce((a, p) => a + p.amount, 0n);
  const gasCost = await withdrawalGasCost(session, signer.address, tokenAddress, byWorker(pending));
  if (gasCost !== null && currency === "eth" && owed > 0n && owed <= gasCost) {
    console.warn(
      `warning: withdrawing ${formatAmount(owed, currency)} costs about ${formatAmount(gasCost, "eth")} in gas at today's fees, ` +
        `more than it pays out; it breaks even once at least ${formatAmount(gasCost, "eth")} is owed (or when gas is cheaper)`,
    );
  }
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
    ...(gasCost !== null ? ([["gas cost (estimated)", formatAmount(gasCost, "eth")]] as [string, unknown][]) : []),
  ]);
  return { account: signer.address, currency, amount, settledVersions, txHashes };
}

/** Fallback for `withdraw` while the credit is still unsettled (it cannot be estimated before `settle` runs). */
const WITHDRAW_GAS = 45_000n;

/**
 * What the settle and withdraw transactions will cost in ETH at the node's current fees, or null if the node
 * gives no fee data.
 */
async function withdrawalGasCost(
  session: Session,
  account: string,
  tokenAddress: string,
  settlements: Map<string, bigint[]>,
): Promise<bigint | null> {
  const { market } = session.contracts;
  const fees = await session.ethers.provider.getFeeData();
  const price = fees.maxFeePerGas ?? fees.gasPrice;
  if (price === null) return null;
  let gas = 0n;
  for (const [worker, versionIds] of settlements) {
    gas += await market.settle.estimateGas(worker, versionIds, tokenAddress, { from: account });
  }
  gas += settlements.size === 0 && (await market.creditOf(account, tokenAddress)) > 0n
    ? await market.withdraw.estimateGas(tokenAddress, { from: account })
    : WITHDRAW_GAS;
  return gas * price;
}
