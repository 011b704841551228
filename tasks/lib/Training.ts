import { TrainingJobs__factory, type TrainingJobs } from "../../typechain-types/index.js";
import { MICRO, RULE_NAMES, readJob as readJobView, type EvaluationView, type JobView, type RoundView } from "../../client/src/TrainingJobView.js";
import type { Session } from "./Session.js";
import { taskError } from "./TaskError.js";

export { JOB_STATUS_NAMES, MICRO, RULE_NAMES, fromMicro, type JobStatusName, type RuleName } from "../../client/src/TrainingJobView.js";
export { CAP_INFER, CAP_TRAIN, CAP_VALIDATE } from "../../worker/src/chain/Capabilities.js";

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

export const formatAccuracy = (fraction: number): string => `${(fraction * 100).toFixed(2)} %`;

export type { EvaluationView, JobTerms, JobView, JobWorkerView, RoundView } from "../../client/src/TrainingJobView.js";

/** Reads everything about job `jobId`, or a task error when it does not exist. */
export async function readJob(session: Session, jobs: TrainingJobs, jobId: bigint): Promise<JobView> {
  await checkJobExists(jobs, jobId);
  return readJobView(jobs, jobId, { fromBlock: session.deployment.startBlock, now: await session.now() });
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

