import { RetryableError } from "../errors.js";

/**
 * How a worker transaction's gas limit is set and its failures named: the headroom above the node's estimate, what
 * counts as running out of gas, the fee bump of a replacement, and the retryable failures TxSender sends again.
 */

/** The transaction is neither mined nor known to the node any more. */
export class TransactionDropped extends RetryableError {
  constructor(hash: string) {
    super(`transaction ${hash} was dropped (evicted, or reorged out): sending again`, { code: "TX_DROPPED" });
  }
}

/** A mined transaction that used (nearly) all its gas and failed: sent again with a fresh, larger estimate. */
export class OutOfGas extends RetryableError {
  constructor(hash: string, gasUsed: bigint, gasLimit: bigint) {
    super(`transaction ${hash} ran out of gas (${gasUsed} of ${gasLimit}): estimating again with more headroom`, { code: "TX_OUT_OF_GAS" });
  }
}

/** Reverted on chain although its simulation passed, and passes again now: the state moved under it. Sent again. */
export class RevertedThenPassed extends RetryableError {
  constructor(hash: string) {
    super(`transaction ${hash} reverted on chain, but its simulation passes now (the state moved between simulation and mining): sending again`, {
      code: "TX_REVERTED_STATE_MOVED",
    });
  }
}

/**
 * Extra gas above any estimate, whatever its percentage: one storage slot that was non-zero when the estimate ran
 * and is zero again when the transaction runs (a counter another transaction brought back to 0) costs 22,100 gas
 * instead of 2,900, more than 20 % of a small transaction. Unused gas is not charged.
 */
export const MIN_GAS_HEADROOM = 25_000n;

/** The gas limit for an estimate: `percent` more, and at least MIN_GAS_HEADROOM more. */
export function withHeadroom(estimate: bigint, percent: bigint): bigint {
  const scaled = (estimate * (100n + percent) + 99n) / 100n;
  return scaled - estimate >= MIN_GAS_HEADROOM ? scaled : estimate + MIN_GAS_HEADROOM;
}

/** A failed transaction that used at least this share of its limit ran out of gas (the 63/64 rule leaves a little). */
export const OUT_OF_GAS_SHARE_PERMILLE = 950n;

/** Fee bump of a replacement: +12.5 % (nodes ask for at least +10 % on both EIP-1559 fields), rounded up. */
export function bump(fee: bigint): bigint {
  return (fee * 1125n + 999n) / 1000n;
}

export function maxOf(a: bigint, b: bigint | null | undefined): bigint {
  return b !== null && b !== undefined && b > a ? b : a;
}
