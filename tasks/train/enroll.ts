import { getBytes } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { validEncryptionKey } from "../../worker/src/data/KeyRecipients.js";
import { partitionOf, samplesIn, type PartitionSlice } from "../../worker/src/training/Partition.js";
import { formatTsr } from "../lib/Amounts.js";
import { parseId } from "../lib/Ids.js";
import { printFields } from "../lib/Printer.js";
import { Session } from "../lib/Session.js";
import { taskError } from "../lib/TaskError.js";
import { CAP_INFER, CAP_TRAIN, CAP_VALIDATE, JOB_STATUS_NAMES, checkJobExists, formatDuration, trainingJobsOf } from "../lib/Training.js";

interface EnrollArgs {
  deployment: string;
  account: string;
  job: string | undefined;
}

export interface EnrollResult {
  jobId: bigint;
  worker: string;
  txHash: string;
  /** Enrollment order from 0: which data the worker trains on. */
  partitionIndex: number;
  slices: PartitionSlice[];
  /** Samples in those slices (the FedAvg weight it will reveal). */
  samples: number;
  enrolled: number;
  workersPerRound: number;
  /** This enrollment was the K-th: round 1's commit phase started. */
  roundStarted: boolean;
}

/**
 * Enrolls the account in a training job after checking, before any transaction, that it can
 * (enrollment open, not the requester, not enrolled yet, a staked CAP_TRAIN worker); prints the
 * partition it got and the dataset sample ranges that partition trains on.
 */
export default async function enroll(args: EnrollArgs, hre: HardhatRuntimeEnvironment): Promise<EnrollResult> {
  const jobId = parseId(args.job, "--job");
  const session = await Session.open(hre, args.deployment);
  const jobs = await trainingJobsOf(session);
  const worker = await session.signer(args.account);
  const { workerRegistry } = session.contracts;
  await checkJobExists(jobs, jobId);
  const job = await jobs.jobOf(jobId);
  const status = JOB_STATUS_NAMES[Number(job.status)];
  const k = Number(job.workersPerRound);
  const participant = await jobs.participantOf(jobId, worker.address);
  if (participant.index !== 0n) throw taskError(`${worker.address} is already enrolled in job ${jobId} (partition ${Number(participant.index) - 1})`);
  if (status !== "Enrolling") throw taskError(`job ${jobId} is ${status}: enrollment is closed (${job.enrolled} of ${k} workers enrolled)`);
  const now = await session.now();
  if (now > Number(job.deadline)) {
    throw taskError(`enrollment in job ${jobId} closed ${formatDuration(now - Number(job.deadline))} ago (${new Date(Number(job.deadline) * 1000).toISOString()})`);
  }
  if (worker.address === job.requester) throw taskError(`${worker.address} requested job ${jobId}: a requester cannot train its own job`);
  if (!(await workerRegistry.isEligible(worker.address, CAP_TRAIN))) throw taskError(await whyNotTrainer(session, worker.address));

  const receipt = await session.send(worker, jobs, "enroll", [jobId]);
  const parsed = receipt.logs.map((l) => jobs.interface.parseLog(l));
  const enrolled = parsed.find((e) => e?.name === "WorkerEnrolled");
  const partitionIndex = Number(enrolled!.args.partitionIndex);
  const roundStarted = parsed.some((e) => e?.name === "RoundStarted");
  const [ids, samplesUsed] = await jobs.datasetsOf(jobId);
  const slices = partitionOf(ids.map((id, i) => ({ datasetId: id, samples: Number(samplesUsed[i]) })), k, partitionIndex);
  const samples = samplesIn(slices);
  const info = await workerRegistry.workerOf(worker.address);
  const keyOk = validEncryptionKey(getBytes(info.encryptionPublicKey)) !== undefined;

  printFields(`Enrolled ${worker.address} in job ${jobId}: partition ${partitionIndex} of ${k}`, [
    ["transaction", receipt.hash],
    ...slices.map((s) => [`  dataset ${s.datasetId}`, `samples ${s.start}..${s.end - 1} (${s.end - s.start})`] as const),
    ["samples", `${samples} in all`],
    ["enrolled", `${partitionIndex + 1} of ${k}${roundStarted ? ": round 1 started (commit phase)" : ""}`],
    [
      "dataset keys",
      keyOk
        ? `each dataset's contributor shares its key with your encryption key ${info.encryptionPublicKey} (\`data share --dataset N --job ${jobId}\`)`
        : `your registered encryption key ${info.encryptionPublicKey} is not a secp256k1 point: no contributor can share a dataset key with you`,
    ],
  ]);
  return { jobId, worker: worker.address, txHash: receipt.hash, partitionIndex, slices, samples, enrolled: partitionIndex + 1, workersPerRound: k, roundStarted };
}

async function whyNotTrainer(session: Session, address: string): Promise<string> {
  const { workerRegistry } = session.contracts;
  const info = await workerRegistry.workerOf(address);
  const prefix = `${address} is not eligible to train (TrainingJobs needs a registered, staked, non-unstaking worker with CAP_TRAIN)`;
  if (!info.registered) return `${prefix}: it is not a registered worker`;
  const caps = Number(info.capabilities);
  if ((caps & CAP_TRAIN) === 0) {
    const names = [caps & CAP_INFER ? "infer" : "", caps & CAP_VALIDATE ? "validate" : ""].filter((n) => n !== "").join(", ");
    return `${prefix}: it registered without CAP_TRAIN (capabilities: ${names || "none"})`;
  }
  if (info.unstakeRequestedAt !== 0n) return `${prefix}: it asked to unstake at ${new Date(Number(info.unstakeRequestedAt) * 1000).toISOString()}`;
  const minStake = await workerRegistry.minStake();
  return `${prefix}: its stake ${formatTsr(info.stake)} is below the minimum ${formatTsr(minStake)}`;
}
