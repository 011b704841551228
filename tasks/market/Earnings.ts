import type { Session } from "../lib/Session.js";

export interface PendingSettlement {
  readonly worker: string;
  readonly versionId: bigint;
  /** What settling this (worker, version) would credit to the account asked about. */
  readonly amount: bigint;
}

const BPS = 10_000n;

/**
 * The unsettled earnings (worker, version) in `token` that owe `account` something: its share as
 * the worker that served them, the royalty as the version's owner, the protocol fee as the
 * treasury. `settle(worker, versionIds, token)` moves them to credits.
 */
export async function pendingSettlements(session: Session, account: string, token: string): Promise<PendingSettlement[]> {
  const { market, modelRegistry, workerRegistry } = session.contracts;
  const from = session.deployment.startBlock;
  const treasury = await market.treasury();
  const workers = [...new Set((await workerRegistry.queryFilter(workerRegistry.filters.WorkerRegistered(), from)).map((e) => e.args.worker))];
  const versions = (await modelRegistry.queryFilter(modelRegistry.filters.VersionPublished(), from)).map((e) => e.args.versionId);
  const pending: PendingSettlement[] = [];
  for (const versionId of versions) {
    const [owner, , , royaltyBps] = await modelRegistry.inferenceTerms(versionId);
    for (const worker of workers) {
      const [fees, protocolFees] = await market.earnedOf(worker, versionId, token);
      if (fees === 0n) continue;
      const royalty = (fees * royaltyBps) / BPS;
      const amount =
        (worker === account ? fees - royalty - protocolFees : 0n) + (owner === account ? royalty : 0n) + (treasury === account ? protocolFees : 0n);
      if (amount > 0n) pending.push({ worker, versionId, amount });
    }
  }
  return pending;
}

/** Pending settlements grouped as `settle` takes them: one call per worker. */
export function byWorker(pending: readonly PendingSettlement[]): Map<string, bigint[]> {
  const grouped = new Map<string, bigint[]>();
  for (const p of pending) grouped.set(p.worker, [...(grouped.get(p.worker) ?? []), p.versionId]);
  return grouped;
}
