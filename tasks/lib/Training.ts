import { ZeroHash } from "ethers";
import { TrainingJobs__factory, type TrainingJobs } from "../../typechain-types/index.js";
import { cidToString } from "./Cids.js";
import type { Session } from "./Session.js";
import { taskError } from "./TaskError.js";

import { JOB_STATUS_NAMES, type JobStatusName } from "../../worker/src/training/TrainingJobSpec.js";
export { JOB_STATUS_NAMES, type JobStatusName };
export { CAP_INFER, CAP_TRAIN, CAP_VALIDATE } from "../../worker/src/chain/Capabilities.js";
/** TrainingJobs' AggregationRule, by value, as the tasks spell it. */
export const RULE_NAMES = ["fedavg", "median", "trimmed-mean", "screened-fedavg"] as const;
export type RuleName = (typeof RULE_NAMES)[number];
/** Learning rates go on chain in 1e-6 units; metrics too. */
export const MICRO = 1_000_000;

/** The session's TrainingJobs (read-only), or a task error when the deployment has none. */
export async function trainingJobsOf(session: Session): Promise<TrainingJobs> {
  const address = session.deployment.contracts.TrainingJobs;
  if (address === undefined) {
    throw taskError(`the deployment file ${session.deploymentPath} has no TrainingJobs; deploy the training module with \`npx hardhat tessera deploy\``);
  }
  if ((await session.ethers.provider.getCode(address)) === "0x") {
    throw taskError(`no contract at TrainingJobs ${address} on network "${session.connection.networkName}"`);
  }
  return TrainingJobs__factory.connect(address, session.ethers.provider);
}

/** Fails with a task error unless job `jobId` exists. */
export async function checkJobExists(jobs: TrainingJobs, jobId: bigint): Promise<void> {
  const count = await jobs.jobCount();
  if (jobId > count) throw taskError(`unknown training job ${jobId} (${count} created so far)`);
}

/** "1,2,3" to distinct positive ids. */
export function parseIdList(value: string | undefined, option: string): bigint[] {
  if (value === undefined || value.trim() === "") throw taskError(`${option} is required (comma-separated ids, e.g. 1,2)`);
  const ids = value.split(",").map((part) => {
    const p = part.trim();
    if (!/^\d+$/.test(p) || BigInt(p) === 0n) throw taskError(`${option}: ${JSON.stringify(p)} is not an id (expected e.g. 1,2)`);
    return BigInt(p);
  });
  const repeated = ids.find((id, i) => ids.indexOf(id) !== i);
  if (repeated !== undefined) throw taskError(`${option}: ${repeated} is listed twice`);
  return ids;
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** "90s", "30m", "1h", "2d" or plain seconds, to seconds. */
export function parseDuration(value: string, option: string): number {
  const match = /^\s*(\d+)\s*([smhd]?)\s*$/i.exec(value);
  if (match === null) throw taskError(`${option}: ${JSON.stringify(value)} is not a duration (e.g. 600, 90s, 30m, 1h, 2d)`);
  return Number(match[1]) * UNIT_SECONDS[(match[2] || "s").toLowerCase()];
}

/** Seconds as "1h 30m", "45s", "2d 3h". */
export function formatDuration(seconds: number): string {
  const s = Math.abs(Math.trunc(seconds));
  const parts: string[] = [];
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  if (d > 0) parts.push(`${d}d`);
  if (h > 0) parts.push(`${h}h`);
  if (m > 0) parts.push(`${m}m`);
  if (rest > 0 || parts.length === 0) parts.push(`${rest}s`);
  return parts.join(" ");
}

/** A learning rate ("0.05", "1e-3") to the contract's 1e-6 units; it must be a positive multiple of 1e-6 that fits a uint32. */
export function parseLearningRate(value: string, option: string): number {
  const v = value.trim();
  const rate = v === "" ? Number.NaN : Number(v);
  if (!Number.isFinite(rate) || rate <= 0) throw taskError(`${option}: ${JSON.stringify(value)} is not a positive number (e.g. 0.05 or 1e-3)`);
  const units = Math.round(rate * MICRO);
  if (units < 1) throw taskError(`${option}: ${v} is below 0.000001, the smallest learning rate the contract records (1e-6 units)`);
  if (Math.abs(units - rate * MICRO) > 1e-6 * Math.max(1, units)) {
    throw taskError(`${option}: ${v} is not a multiple of 0.000001 (the contract records learning rates in 1e-6 units)`);
  }
  if (units > 0xffff_ffff) throw taskError(`${option}: ${v} is above ${0xffff_ffff / MICRO}, the largest learning rate the contract records`);
  return units;
}

export function parseRule(value: string, option: string): number {
  const index = (RULE_NAMES as readonly string[]).indexOf(value.trim().toLowerCase());
  if (index < 0) throw taskError(`${option}: ${JSON.stringify(value)} is not an aggregation rule (${RULE_NAMES.join(", ")})`);
  return index;
}

/** A metric in 1e-6 units as a plain number (0.912345). */
export const fromMicro = (units: bigint | number): number => Number(units) / MICRO;
export const formatAccuracy = (fraction: number): string => `${(fraction * 100).toFixed(2)} %`;

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
  paid: bigint;
}

/** Reads everything about job `jobId` (which must exist). */
export async function readJob(session: Session, jobs: TrainingJobs, jobId: bigint): Promise<JobView> {
  await checkJobExists(jobs, jobId);
  const fromBlock = session.deployment.startBlock;
  const [job, [ids, samples], addresses, evaluations, created, now] = await Promise.all([
    jobs.jobOf(jobId),
    jobs.datasetsOf(jobId),
    jobs.workersOf(jobId),
    jobs.evaluationsOf(jobId),
    jobs.queryFilter(jobs.filters.JobCreated(jobId), fromBlock),
    session.now(),
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
  };
}

/** One line per completed round. */
export function formatRound(r: RoundView): string {
  const excluded = r.excluded.length === 0 ? "" : `, excluded partition(s) ${r.excluded.join(", ")}`;
  return `aggregate ${r.aggregateHash} at ${r.aggregateCid}, ${r.updates} updates, ${r.votes} votes${excluded}`;
}

/** One line per evaluation. */
export function formatEvaluation(e: EvaluationView): string {
  return `${e.validator} accuracy ${formatAccuracy(e.accuracy)}, loss ${e.loss.toFixed(4)}`;
}

/** The set bits of an exclusion mask: the partition indexes of the excluded workers. */
function maskIndexes(mask: bigint): number[] {
  const indexes: number[] = [];
  for (let i = 0; mask >> BigInt(i) !== 0n; ++i) if ((mask >> BigInt(i)) & 1n) indexes.push(i);
  return indexes;
}
