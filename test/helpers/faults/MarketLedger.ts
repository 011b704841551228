import { ZeroAddress } from "ethers";
import type { InferenceMarket } from "../../../typechain-types/index.js";
import type { SentRequest } from "../../../scripts/lib/InferenceClient.js";

export interface RequestOutcome {
  readonly requestId: bigint;
  readonly fee: bigint;
  /** On the final chain: fulfilment events, refund events; `exists` is false for a request whose own tx was reorged out. */
  readonly fulfilled: number;
  readonly refunded: number;
  readonly open: boolean;
  readonly exists: boolean;
}

export interface MarketAccounts {
  /** Every account that may hold a market credit (requesters, worker, model owner, treasury). */
  readonly accounts: readonly string[];
  /** Workers and the versions they served, for unsettled earnings. */
  readonly workers: readonly string[];
  readonly versionIds: readonly bigint[];
}

export interface EthLedger {
  readonly paidIn: bigint;
  readonly fulfilledFees: bigint;
  readonly refundedFees: bigint;
  readonly openEscrow: bigint;
  readonly credits: bigint;
  readonly unsettled: bigint;
  readonly balance: bigint;
}

/**
 * What happened to each ETH-paid request on the final (canonical) chain: events are read once the chain is at
 * rest, from the deployment block to the head, so that events of reorged-out blocks do not count.
 */
export async function outcomesOf(market: InferenceMarket, sent: readonly SentRequest[], fromBlock: number): Promise<RequestOutcome[]> {
  const provider = market.runner!.provider!;
  const head = await provider.getBlockNumber();
  const fulfilled = await market.queryFilter(market.filters.InferenceFulfilled(), fromBlock, head);
  const refunded = await market.queryFilter(market.filters.InferenceRefunded(), fromBlock, head);
  const count = (events: { args: { requestId: bigint } }[], id: bigint) => events.filter((e) => e.args.requestId === id).length;
  const out: RequestOutcome[] = [];
  for (const s of sent) {
    const receipt = await provider.getTransactionReceipt(s.receipt.hash);
    const state = await market.requestState(s.requestId);
    out.push({
      requestId: s.requestId,
      fee: BigInt(s.request.fee as bigint),
      fulfilled: count(fulfilled, s.requestId),
      refunded: count(refunded, s.requestId),
      open: state.status !== 0n,
      exists: receipt !== null,
    });
  }
  return out;
}

/** The market's ETH books: fees in == fulfilled + refunded + open escrow, and balance == credits + unsettled + escrow. */
export async function ethLedger(market: InferenceMarket, outcomes: readonly RequestOutcome[], who: MarketAccounts): Promise<EthLedger> {
  const provider = market.runner!.provider!;
  const live = outcomes.filter((o) => o.exists);
  let credits = 0n;
  for (const a of who.accounts) credits += await market.creditOf(a, ZeroAddress);
  let unsettled = 0n;
  for (const w of who.workers) for (const v of who.versionIds) unsettled += (await market.earnedOf(w, v, ZeroAddress)).fees;
  return {
    paidIn: live.reduce((a, o) => a + o.fee, 0n),
    fulfilledFees: live.filter((o) => o.fulfilled > 0).reduce((a, o) => a + o.fee, 0n),
    refundedFees: live.filter((o) => o.refunded > 0).reduce((a, o) => a + o.fee, 0n),
    openEscrow: live.filter((o) => o.open).reduce((a, o) => a + o.fee, 0n),
    credits,
    unsettled,
    balance: await provider.getBalance(await market.getAddress()),
  };
}
