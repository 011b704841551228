import { ZeroAddress } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { formatEth, formatTsr } from "../lib/Amounts.js";
import { printFields } from "../lib/Printer.js";
import { Session } from "../lib/Session.js";
import { pendingSettlements } from "./Earnings.js";

interface BalanceArgs {
  deployment: string;
  account: string;
}

export interface BalanceResult {
  account: string;
  credit: { eth: bigint; tsr: bigint };
  unsettled: { eth: bigint; tsr: bigint };
  wallet: { eth: bigint; tsr: bigint };
  stake: bigint;
}

/** What the market owes an account (credit, plus earnings not yet settled), and its wallet. */
export default async function balance(args: BalanceArgs, hre: HardhatRuntimeEnvironment): Promise<BalanceResult> {
  const session = await Session.open(hre, args.deployment);
  const account = await session.address(args.account);
  const { market, token, workerRegistry } = session.contracts;
  const tokenAddress = await token.getAddress();
  const sum = (xs: { amount: bigint }[]) => xs.reduce((a, x) => a + x.amount, 0n);
  const result: BalanceResult = {
    account,
    credit: { eth: await market.creditOf(account, ZeroAddress), tsr: await market.creditOf(account, tokenAddress) },
    unsettled: { eth: sum(await pendingSettlements(session, account, ZeroAddress)), tsr: sum(await pendingSettlements(session, account, tokenAddress)) },
    wallet: { eth: await session.ethers.provider.getBalance(account), tsr: await token.balanceOf(account) },
    stake: (await workerRegistry.workerOf(account)).stake,
  };
  const roles = [
    (await market.treasury()) === account ? "treasury" : undefined,
    result.stake > 0n ? "worker" : undefined,
  ].filter(Boolean);
  printFields(`Balances of ${account}${roles.length ? ` (${roles.join(", ")})` : ""}`, [
    ["market credit", `${formatEth(result.credit.eth)}, ${formatTsr(result.credit.tsr)}`],
    ["unsettled earnings", `${formatEth(result.unsettled.eth)}, ${formatTsr(result.unsettled.tsr)} (settled by market withdraw)`],
    ["wallet", `${formatEth(result.wallet.eth)}, ${formatTsr(result.wallet.tsr)}`],
    ["worker stake", formatTsr(result.stake)],
  ]);
  return result;
}
