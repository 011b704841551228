import { ZeroAddress, type Provider } from "ethers";
import type { InferenceMarket, TesseraToken } from "../../typechain-types/index.js";

/** What an account holds and what waits for it to withdraw. */
export interface AccountBalances {
  readonly eth: bigint;
  readonly tsr: bigint;
  /** InferenceMarket credits (earnings, refunds) waiting for `withdraw`, per currency. */
  readonly marketCreditEth: bigint;
  readonly marketCreditTsr: bigint;
}

export async function balancesOf(account: string, contracts: { provider: Provider; token: TesseraToken; market: InferenceMarket }): Promise<AccountBalances> {
  const token = await contracts.token.getAddress();
  const [eth, tsr, marketCreditEth, marketCreditTsr] = await Promise.all([
    contracts.provider.getBalance(account),
    contracts.token.balanceOf(account),
    contracts.market.creditOf(account, ZeroAddress),
    contracts.market.creditOf(account, token),
  ]);
  return { eth, tsr, marketCreditEth, marketCreditTsr };
}
