import { UnrecoverableError } from "../errors.js";
import { aggregateWithExclusion, type ClientUpdate } from "./FedAvgAggregator.js";
import { partitionOf, samplesIn } from "./Partition.js";
import type { TrainingJobSpec } from "./TrainingJobSpec.js";

/**
 * The round's aggregate and the updates its rule left out (by CID): `screened-fedavg` (the default for jobs of
 * untrusted workers) screens each update's delta from the round's `global` model (UpdateScreening) before FedAvg;
 * the other rules exclude nothing. Deterministic in `updates` (sorted by CID inside the aggregator), so honest
 * workers agree bit for bit on the aggregate and on the excluded set.
 */
export function aggregateRound(
  updates: readonly ClientUpdate[],
  spec: Pick<TrainingJobSpec, "rule">,
  global?: Float32Array,
): { weights: Float32Array; excludedCids: readonly string[] } {
  const { weights, excludedCids } = aggregateWithExclusion(updates, spec.rule, global === undefined ? {} : { global });
  return { weights, excludedCids };
}

/**
 * The samples partition `index` holds: what an honest update of it reveals. FedAvg weighs each update by its sample
 * count, so a worker that claims more than its partition holds would dominate the aggregate; the partition is a pure
 * function of the job's terms, so every honest worker excludes the same misreporting update.
 */
export function partitionSamples(spec: Pick<TrainingJobSpec, "datasets" | "workersPerRound">, index: number): number {
  return samplesIn(partitionOf(spec.datasets, spec.workersPerRound, index));
}

/** The contract's exclusion mask: bit i for the worker of partition index i, from the excluded updates' CIDs. */
export function exclusionMask(excludedCids: readonly string[], partitionOfCid: ReadonlyMap<string, number>): bigint {
  let mask = 0n;
  for (const cid of excludedCids) {
    const index = partitionOfCid.get(cid);
    if (index === undefined) throw new UnrecoverableError(`excluded update ${cid} was not revealed this round`);
    mask |= 1n << BigInt(index);
  }
  return mask;
}

