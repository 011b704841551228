import type { DataRegistry } from "../../typechain-types/index.js";
import { DATASET_STATUS_NAMES } from "../../worker/src/data/OnChainDataset.js";

/** CreditReason values of the DataRegistry that pay a contributor for an accepted dataset. */
const ACCEPT_REWARD = 1n;
const DEFERRED_ACCEPT_REWARD = 3n;

/** One dataset an account contributed, as the DataRegistry has it, with what it earned its contributor. */
export interface Contribution {
  readonly datasetId: bigint;
  readonly status: (typeof DATASET_STATUS_NAMES)[number];
  readonly sampleCount: number;
  /** Tokens still bonded (while Pending; 0 once decided: the bond came back or was taken). */
  readonly bond: bigint;
  /** Accept rewards credited to the contributor for it (upfront and deferred). */
  readonly rewards: bigint;
  /** Royalties credited for it by training jobs, in all. */
  readonly royalties: bigint;
  /** Training jobs that used it. */
  readonly timesUsed: number;
}

/**
 * The datasets `account` contributed (DatasetContributed events since `fromBlock`), oldest first, each read from the
 * registry, with the rewards its `Credited` events paid the contributor. The tasks' `data status` shows one dataset;
 * this is a contributor's own list, as the dApp's account page shows it.
 */
export async function contributionsOf(registry: DataRegistry, account: string, fromBlock: number): Promise<Contribution[]> {
  const [contributed, credited] = await Promise.all([
    registry.queryFilter(registry.filters.DatasetContributed(undefined, account), fromBlock),
    registry.queryFilter(registry.filters.Credited(account), fromBlock),
  ]);
  const rewards = new Map<bigint, bigint>();
  for (const e of credited) {
    if (e.args.reason !== ACCEPT_REWARD && e.args.reason !== DEFERRED_ACCEPT_REWARD) continue;
    rewards.set(e.args.datasetId, (rewards.get(e.args.datasetId) ?? 0n) + e.args.amount);
  }
  const ids = contributed.map((e) => e.args.datasetId);
  const datasets = await Promise.all(ids.map((id) => registry.datasetOf(id)));
  return ids.map((datasetId, i) => {
    const d = datasets[i];
    return {
      datasetId,
      status: DATASET_STATUS_NAMES[Number(d.status)],
      sampleCount: Number(d.sampleCount),
      bond: d.bond,
      rewards: rewards.get(datasetId) ?? 0n,
      royalties: d.royalties,
      timesUsed: Number(d.timesUsed),
    };
  });
}
