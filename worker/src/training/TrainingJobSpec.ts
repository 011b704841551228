import { UnrecoverableError } from "../errors.js";
import type { TrainingJobs } from "../../../typechain-types/index.js";
import { cidFromBytes } from "../data/OnChainDataset.js";
import { UNTRUSTED_DEFAULT_RULE, type AggregationRule } from "./FedAvgAggregator.js";
import type { JobDataset } from "./Partition.js";

/** The JobStatus enum of contracts/types/TrainingTypes.sol. */
export const JobStatus = {
  None: 0,
  Enrolling: 1,
  Committing: 2,
  Revealing: 3,
  Voting: 4,
  Evaluating: 5,
  Finalized: 6,
  Cancelled: 7,
} as const;
export { JOB_STATUS_NAMES, type JobStatusName } from "../../../client/src/TrainingJobView.js";

/** The trimmed mean's fraction dropped at each end, per coordinate (the contract's rule carries no parameter). */
export const TRIMMED_MEAN_FRACTION = 0.2;

/** On-chain rule (0 FedAvg, 1 Median, 2 TrimmedMean, 3 ScreenedFedAvg) to the aggregator's. */
export function aggregationRuleOf(rule: number): AggregationRule {
  switch (rule) {
    case 0:
      return { kind: "fedavg" };
    case 1:
      return { kind: "median" };
    case 2:
      return { kind: "trimmed-mean", trimFraction: TRIMMED_MEAN_FRACTION };
    case 3:
      return UNTRUSTED_DEFAULT_RULE;
    default:
      throw new UnrecoverableError(`unknown aggregation rule ${rule}`);
  }
}

/** Everything a worker needs about a job: the terms of its `JobCreated` event, decoded. */
export interface TrainingJobSpec {
  readonly jobId: bigint;
  readonly requester: string;
  readonly manifestCid: string;
  readonly weightsCid: string;
  readonly evalSetCid: string;
  readonly modelName: string;
  readonly datasets: readonly JobDataset[];
  readonly rounds: number;
  readonly workersPerRound: number;
  readonly evaluators: number;
  readonly localEpochs: number;
  readonly batchSize: number;
  /** In SGD units (the contract stores 1e-6 units). */
  readonly learningRate: number;
  readonly rule: AggregationRule;
  readonly quorumBps: number;
  /** Tokens escrowed (wei). */
  readonly budget: bigint;
  readonly royaltyBps: number;
  readonly evaluationBps: number;
  readonly createdBlock: number;
}

/** What one worker earns for one round's update (wei) if every enrolled worker's update is aggregated: the
 * contract's split (royalties and evaluation pool first, the rest in equal parts per round and per worker). */
export function payPerUpdate(spec: Pick<TrainingJobSpec, "budget" | "royaltyBps" | "evaluationBps" | "rounds" | "workersPerRound">): bigint {
  const workerPool = spec.budget - (spec.budget * BigInt(spec.royaltyBps)) / 10_000n - (spec.budget * BigInt(spec.evaluationBps)) / 10_000n;
  return workerPool / BigInt(spec.rounds) / BigInt(spec.workersPerRound);
}

/** Reads a job's terms from its `JobCreated` event (the contract keeps only what it needs itself). */
export async function readJobSpec(jobs: TrainingJobs, jobId: bigint, fromBlock = 0): Promise<TrainingJobSpec> {
  const events = await jobs.queryFilter(jobs.filters.JobCreated(jobId), fromBlock);
  if (events.length === 0) throw new UnrecoverableError(`no JobCreated event for training job ${jobId} since block ${fromBlock}`);
  const event = events[0];
  const a = event.args.args;
  const samplesUsed = event.args.samplesUsed;
  return {
    jobId,
    requester: event.args.requester,
    manifestCid: cidFromBytes(a.manifestCid),
    weightsCid: cidFromBytes(a.weightsCid),
    evalSetCid: cidFromBytes(a.evalSetCid),
    modelName: a.modelName,
    datasets: a.datasetIds.map((id, i) => ({ datasetId: id, samples: Number(samplesUsed[i]) })),
    rounds: Number(a.rounds),
    workersPerRound: Number(a.workersPerRound),
    evaluators: Number(a.evaluators),
    localEpochs: Number(a.localEpochs),
    batchSize: Number(a.batchSize),
    learningRate: Number(a.learningRate) / 1e6,
    rule: aggregationRuleOf(Number(a.rule)),
    quorumBps: Number(a.quorumBps),
    budget: a.budget,
    royaltyBps: Number(a.royaltyBps),
    evaluationBps: Number(a.evaluationBps),
    createdBlock: event.blockNumber,
  };
}
