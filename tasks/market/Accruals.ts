import type { Session } from "../lib/Session.js";

export interface PendingAccrual {
  readonly versionId: bigint;
  /** What `account` would be credited by settling: the royalty as owner, the protocol fee as treasury. */
  readonly amount: bigint;
}

/**
 * Versions with unsettled royalty (owned by `account`) or protocol fee (when `account` is the
 * treasury) in `token`: what `settleAccruals` would move to `account`'s credit.
 */
export async function pendingAccruals(session: Session, account: string, token: string): Promise<PendingAccrual[]> {
  const { market, modelRegistry } = session.contracts;
  const isTreasury = (await market.treasury()) === account;
  const published = await modelRegistry.queryFilter(modelRegistry.filters.VersionPublished(), session.deployment.startBlock);
  const pending: PendingAccrual[] = [];
  for (const event of published) {
    const versionId = event.args.versionId;
    const [royalty, protocolFee] = await market.accruedOf(versionId, token);
    if (royalty === 0n && protocolFee === 0n) continue;
    const [owner] = await modelRegistry.inferenceTerms(versionId);
    const amount = (owner === account ? royalty : 0n) + (isTreasury ? protocolFee : 0n);
    if (amount > 0n) pending.push({ versionId, amount });
  }
  return pending;
}
