import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { formatTsr, parseUnits18 } from "../lib/Amounts.js";
import { printFields } from "../lib/Printer.js";
import { Session } from "../lib/Session.js";
import { taskError } from "../lib/TaskError.js";

interface MintArgs {
  deployment: string;
  account: string;
  to: string;
  amount: string;
}

export interface MintResult {
  to: string;
  amount: bigint;
  txHashes: string[];
}

/**
 * Mints TSR (local and test networks: fund workers and requesters). The sender needs MINTER_ROLE;
 * the token admin grants it to itself first.
 */
export default async function mint(args: MintArgs, hre: HardhatRuntimeEnvironment): Promise<MintResult> {
  const amount = parseUnits18(args.amount, "--amount");
  if (amount === 0n) throw taskError("--amount must be more than 0");
  const session = await Session.open(hre, args.deployment);
  const minter = await session.signer(args.account);
  const to = await session.address(args.to);
  const { token } = session.contracts;
  const txHashes: string[] = [];
  const role = await token.MINTER_ROLE();
  if (!(await token.hasRole(role, minter.address))) {
    if (!(await token.hasRole(await token.DEFAULT_ADMIN_ROLE(), minter.address))) {
      throw taskError(`${minter.address} has neither MINTER_ROLE nor the token's admin role; pass the admin's --account`);
    }
    txHashes.push((await session.send(minter, token, "grantRole", [role, minter.address])).hash);
  }
  txHashes.push((await session.send(minter, token, "mint", [to, amount])).hash);
  printFields(`Minted ${formatTsr(amount)} to ${to}`, [
    ["balance", formatTsr(await token.balanceOf(to))],
    ["transactions", txHashes.join(", ")],
  ]);
  return { to, amount, txHashes };
}
