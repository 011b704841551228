import { ZeroHash } from "ethers";
import type { TrainingJobs } from "../../typechain-types/index.js";
import { cidToString } from "./Cids.js";

/** The JobStatus enum of contracts/types/TrainingTypes.sol, by value. */
export const JOB_STATUS_NAMES = ["None", "Enrolling", "Committing", "Revealing", "Voting", "Evaluating", "Finalized", "Cancelled"] as const;
export type JobStatusName = (typeof JOB_STATUS_NAMES)[number];
/** TrainingJobs' AggregationRule, by value, as the tasks and the page spell it. */
export const RULE_NAMES = ["fedavg", "median", "trimmed-mean", "screened-fedavg"] as const;
export type RuleName = (typeof RULE_NAMES)[number];
/** TrainingCreditReason.Refund (contracts/types/TrainingTypes.sol). */
const REFUND = 2n;
/** Learning rates go on chain in 1e-6 units; metrics too. */
export const MICRO = 1_000_000;
/** A metric in 1e-6 units as a plain number (0.912345). */
export const fromMicro = (units: bigint | number): number => Number(units) / MICRO;

/** The terms of a job that only its `JobCreated` event carries (the contract keeps no copy of them). */
export interface JobTerms {
  modelName: string;
  manifestCid: string;
  weightsCid: string;
  evalSetCid: string;
  localEpochs: number;
  batchSize: number;
  /** As a number (the on-chain value / 1e6). */
  learningRate: number;
  rule: RuleName;
  enrollDeadline: number;
  createdTx: string;
}

export interface JobWorkerView {
  address: string;
  partitionIndex: number;
  dropped: boolean;
  earned: bigint;
  committedRound: number;
  revealedRound: number;
  votedRound: number;
}

export interface RoundView {
  round: number;
  aggregateHash: string;
  aggregateCid: string;
  updates: number;
  votes: number;
  /** Partition indexes of the workers whose updates the agreed aggregation left out (not paid). */
  excluded: number[];
}

export interface EvaluationView {
  validator: string;
  accuracy: number;
  loss: number;
}

/** A job as the chain records it: state, terms, workers, completed rounds, evaluations and money. */
export interface JobView {
  jobId: bigint;
  status: JobStatusName;
  requester: string;
  round: number;
  rounds: number;
  /** End of the current phase (seconds since the epoch) and what is left of it at the latest block (negative: passed). */
  deadline: number;
  secondsLeft: number;
  workersPerRound: number;
  enrolled: number;
  active: number;
  committed: number;
  revealed: number;
  evaluators: number;
  quorumBps: number;
  royaltyBps: number;
  evaluationBps: number;
  rule: RuleName;
  durations: { enroll: number; commit: number; reveal: number; vote: number; evaluation: number };
  /** Undefined when the `JobCreated` event is not found from the deployment's start block. */
  terms: JobTerms | undefined;
  datasets: { datasetId: bigint; samples: number }[];
  workers: JobWorkerView[];
  /** Completed rounds, in order. */
  roundResults: RoundView[];
  evaluations: EvaluationView[];
  /** Medians, set at finalization. */
  accuracy: number | undefined;
  loss: number | undefined;
  versionId: bigint | undefined;
  budget: bigint;
  /** What left the escrow: paid to workers, validators and datasets, or credited back to the requester (`refunded`). */
  paid: bigint;
  /** Credited back to the requester: on cancellation, and the shares of updates an agreed aggregation left out. */
  refunded: bigint;
}

/** Where to read: the deployment's first block (events before it are not the deployment's) and "now" (the next block's time). */
export interface JobReadOptions {
  readonly fromBlock: number;
  readonly now: number;
}

/** Reads everything about job `jobId` (which must exist: `jobCount` says). */
export async function readJob(jobs: TrainingJobs, jobId: bigint, { fromBlock, now }: JobReadOptions): Promise<JobView> {
  const [job, [ids, samples], addresses, evaluations, created, credited] = await Promise.all([
    jobs.jobOf(jobId),
    jobs.datasetsOf(jobId),
    jobs.workersOf(jobId),
    jobs.evaluationsOf(jobId),
    jobs.queryFilter(jobs.filters.JobCreated(jobId), fromBlock),
    jobs.queryFilter(jobs.filters.Credited(undefined, jobId), fromBlock),
  ]);
  const workers = await Promise.all(
    addresses.map(async (address) => {
      const p = await jobs.participantOf(jobId, address);
      return {
        address,
        partitionIndex: Number(p.index) - 1,
        dropped: p.dropped,
        earned: p.earned,
        committedRound: Number(p.committedRound),
        revealedRound: Number(p.revealedRound),
        votedRound: Number(p.votedRound),
      };
    }),
  );
  const roundResults: RoundView[] = [];
  for (let r = 1; r <= Number(job.rounds); r++) {
    const result = await jobs.roundResultOf(jobId, r);
    if (result.aggregateHash === ZeroHash) break;
    roundResults.push({
      round: r,
      aggregateHash: result.aggregateHash,
      aggregateCid: cidToString(result.aggregateCid),
      updates: Number(result.updates),
      votes: Number(result.votes),
      excluded: maskIndexes(result.excludedMask),
    });
  }
  const event = created[0];
  const terms: JobTerms | undefined =
    event === undefined
      ? undefined
      : {
          modelName: event.args.args.modelName,
          manifestCid: cidToString(event.args.args.manifestCid),
          weightsCid: cidToString(event.args.args.weightsCid),
          evalSetCid: cidToString(event.args.args.evalSetCid),
          localEpochs: Number(event.args.args.localEpochs),
          batchSize: Number(event.args.args.batchSize),
          learningRate: fromMicro(event.args.args.learningRate),
          rule: RULE_NAMES[Number(event.args.args.rule)],
          enrollDeadline: Number(event.args.enrollDeadline),
          createdTx: event.transactionHash,
        };
  const status = JOB_STATUS_NAMES[Number(job.status)];
  const finalized = status === "Finalized";
  return {
    jobId,
    status,
    requester: job.requester,
    round: Number(job.round),
    rounds: Number(job.rounds),
    deadline: Number(job.deadline),
    secondsLeft: Number(job.deadline) - now,
    workersPerRound: Number(job.workersPerRound),
    enrolled: Number(job.enrolled),
    active: Number(job.active),
    committed: Number(job.committed),
    revealed: Number(job.revealed),
    evaluators: Number(job.evaluators),
    quorumBps: Number(job.quorumBps),
    royaltyBps: Number(job.royaltyBps),
    evaluationBps: Number(job.evaluationBps),
    rule: RULE_NAMES[Number(job.rule)],
    durations: {
      enroll: Number(job.durations.enroll),
      commit: Number(job.durations.commit),
      reveal: Number(job.durations.reveal),
      vote: Number(job.durations.vote),
      evaluation: Number(job.durations.evaluation),
    },
    terms,
    datasets: ids.map((id, i) => ({ datasetId: id, samples: Number(samples[i]) })),
    workers,
    roundResults,
    evaluations: evaluations.map((e) => ({ validator: e.validator, accuracy: fromMicro(e.accuracy), loss: fromMicro(e.loss) })),
    accuracy: finalized ? fromMicro(job.accuracy) : undefined,
    loss: finalized ? fromMicro(job.loss) : undefined,
    versionId: finalized ? job.versionId : undefined,
    budget: job.budget,
    paid: job.paid,
    refunded: credited.filter((e) => e.args.reason === REFUND && e.args.account === job.requester).reduce((sum, e) => sum + e.args.amount, 0n),
  };
}

/** How a version trained by a federated job came to be: everything TrainingJobs and its events record. */
export interface TrainingProvenance {
  trainingJobs: string;
  jobId: bigint;
  requester: string;
  terms: JobTerms | undefined;
  datasets: { datasetId: bigint; samplesUsed: number }[];
  workers: string[];
  /** Each round with its revealed updates; `includedSamples`: the samples the updates its aggregate kept claim to hold. */
  rounds: (RoundView & { updateCids: { worker: string; cid: string; updateHash: string; sampleCount: number }[]; includedSamples: number })[];
  evaluations: EvaluationView[];
  accuracy: number;
  loss: number;
}

/**
 * The samples a round's aggregate holds, as its updates claim them: the agreed exclusions name partitions, and the
 * updates of excluded partitions are not in the aggregate (nor paid). `partitionOf`: a worker's (lower-case address)
 * partition index.
 */
export function samplesAggregated(updates: readonly { worker: string; sampleCount: number }[], excluded: readonly number[], partitionOf: ReadonlyMap<string, number>): number {
  return updates.filter((u) => !excluded.includes(partitionOf.get(u.worker.toLowerCase()) ?? -1)).reduce((n, u) => n + u.sampleCount, 0);
}

/** The provenance of `versionId` if this TrainingJobs trained it (undefined otherwise). */
export async function provenanceOf(jobs: TrainingJobs, versionId: bigint, options: JobReadOptions): Promise<TrainingProvenance | undefined> {
  const jobId = await jobs.jobOfVersion(versionId);
  if (jobId === 0n) return undefined;
  const job = await readJob(jobs, jobId, options);
  const revealed = await jobs.queryFilter(jobs.filters.UpdateRevealed(jobId), options.fromBlock);
  // A round aggregates the updates revealed in it (one per worker: the contract refuses a second reveal).
  const partitionOf = new Map(job.workers.map((w) => [w.address.toLowerCase(), w.partitionIndex]));
  const rounds = job.roundResults.map((r) => {
    const updateCids = revealed
      .filter((e) => Number(e.args.round) === r.round)
      .map((e) => ({ worker: e.args.worker, cid: cidToString(e.args.updateCid), updateHash: e.args.updateHash, sampleCount: Number(e.args.sampleCount) }));
    return { ...r, updateCids, includedSamples: samplesAggregated(updateCids, r.excluded, partitionOf) };
  });
  return {
    trainingJobs: await jobs.getAddress(),
    jobId,
    requester: job.requester,
    terms: job.terms,
    datasets: job.datasets.map((d) => ({ datasetId: d.datasetId, samplesUsed: d.samples })),
    workers: job.workers.map((w) => w.address),
    rounds,
    evaluations: job.evaluations,
    accuracy: job.accuracy ?? 0,
    loss: job.loss ?? 0,
  };
}

/** The set bits of an exclusion mask: the partition indexes of the excluded workers. */
function maskIndexes(mask: bigint): number[] {
  const indexes: number[] = [];
  for (let i = 0; mask >> BigInt(i) !== 0n; ++i) if ((mask >> BigInt(i)) & 1n) indexes.push(i);
  return indexes;
}
