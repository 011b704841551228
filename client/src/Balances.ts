import { ZeroAddress, type Provider } from "ethers";
import type { DataRegistry, InferenceMarket, TesseraToken, TrainingJobs } from "../../typechain-types/index.js";

/** What an account holds and what waits for it to withdraw. */
export interface AccountBalances {
  readonly eth: bigint;
  readonly tsr: bigint;
  /** InferenceMarket credits (earnings, refunds) waiting for `withdraw`, per currency. */
  readonly marketCreditEth: bigint;
  readonly marketCreditTsr: bigint;
  /** DataRegistry credits in TSR (bond refunds, accept and validator rewards, royalties); 0 without the data module. */
  readonly dataCredit: bigint;
  /** TrainingJobs credits in TSR (a trainer's or evaluator's pay, a requester's refund); 0 without the training module. */
  readonly trainingCredit: bigint;
}

export async function balancesOf(
  account: string,
  contracts: { provider: Provider; token: TesseraToken; market: InferenceMarket; dataRegistry?: DataRegistry; trainingJobs?: TrainingJobs },
): Promise<AccountBalances> {
  const token = await contracts.token.getAddress();
  const [eth, tsr, marketCreditEth, marketCreditTsr, dataCredit, trainingCredit] = await Promise.all([
    contracts.provider.getBalance(account),
    contracts.token.balanceOf(account),
    contracts.market.creditOf(account, ZeroAddress),
    contracts.market.creditOf(account, token),
    contracts.dataRegistry?.creditOf(account) ?? 0n,
    contracts.trainingJobs?.creditOf(account) ?? 0n,
  ]);
  return { eth, tsr, marketCreditEth, marketCreditTsr, dataCredit, trainingCredit };
}
