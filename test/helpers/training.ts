import type { HardhatEthers, HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import { AbiCoder, id, keccak256, type ContractTransactionReceipt } from "ethers";
import type { DataRegistry, TrainingJobs } from "../../typechain-types/index.js";
import type { Deployment } from "./tessera.js";

export const JobStatus = {
  None: 0n,
  Enrolling: 1n,
  Committing: 2n,
  Revealing: 3n,
  Voting: 4n,
  Evaluating: 5n,
  Finalized: 6n,
  Cancelled: 7n,
} as const;
export const AggregationRule = { FedAvg: 0, Median: 1, TrimmedMean: 2, ScreenedFedAvg: 3 } as const;
export const TrainingCreditReason = { Update: 0n, Evaluation: 1n, Refund: 2n } as const;

export const MANIFEST_CID = "0x01551220" + "a1".repeat(32);
export const WEIGHTS_CID = "0x01551220" + "b2".repeat(32);
export const EVAL_SET_CID = "0x01551220" + "c3".repeat(32);
export const LAPSE_SLASH = 10n * 10n ** 18n;
export const DURATIONS = { enroll: 3600, commit: 600, reveal: 300, vote: 300, evaluation: 900 };

export interface JobArgsInput {
  manifestCid: string;
  weightsCid: string;
  evalSetCid: string;
  modelName: string;
  datasetIds: bigint[];
  budget: bigint;
  rounds: number;
  workersPerRound: number;
  evaluators: number;
  localEpochs: number;
  batchSize: number;
  learningRate: number;
  rule: number;
  quorumBps: number;
  royaltyBps: number;
  evaluationBps: number;
  durations: typeof DURATIONS;
}

/** Default job terms over `datasetIds`: 2 rounds of 3 workers, 3 evaluators, 10 % royalties, 5 % evaluation. */
export function jobArgs(datasetIds: bigint[], overrides: Partial<JobArgsInput> = {}): JobArgsInput {
  return {
    manifestCid: MANIFEST_CID,
    weightsCid: WEIGHTS_CID,
    evalSetCid: EVAL_SET_CID,
    modelName: "mnist-mlp-federated",
    datasetIds,
    budget: 1_000n * 10n ** 18n,
    rounds: 2,
    workersPerRound: 3,
    evaluators: 3,
    localEpochs: 1,
    batchSize: 32,
    learningRate: 1_000, // 1e-3
    rule: AggregationRule.FedAvg,
    quorumBps: 6_666, // 2 of 3
    royaltyBps: 1_000,
    evaluationBps: 500,
    durations: DURATIONS,
    ...overrides,
  };
}

export const MIN_UPDATE_PAY = 10n ** 18n;

/** TrainingJobs' settings (`TrainingParams`). */
export interface TrainingParamsInput {
  treasury: string;
  lapseSlash: bigint;
  minUpdatePay: bigint;
}

/** A TrainingJobs factory linked to a freshly deployed TrainingRounds library. */
export async function trainingJobsFactory(ethers: HardhatEthers, signer: HardhatEthersSigner) {
  const rounds = await ethers.deployContract("TrainingRounds", [], signer);
  return ethers.getContractFactory("TrainingJobs", { signer, libraries: { TrainingRounds: await rounds.getAddress() } });
}

/**
 * Deploys TrainingJobs on `d` and `data` as the TesseraTraining Ignition module does: linked to TrainingRounds, with
 * the registry's SLASHER_ROLE and STAKE_LOCKER_ROLE and the data registry's ROYALTY_PAYER_ROLE. The treasury defaults
 * to `admin`.
 */
export async function deployTrainingJobs(
  ethers: HardhatEthers,
  d: Deployment,
  data: DataRegistry,
  admin: HardhatEthersSigner,
  params: Partial<TrainingParamsInput> = {}
): Promise<TrainingJobs> {
  const factory = await trainingJobsFactory(ethers, admin);
  const deployed = await factory.deploy(
    admin.address,
    await d.token.getAddress(),
    await d.workers.getAddress(),
    await data.getAddress(),
    await d.models.getAddress(),
    { treasury: admin.address, lapseSlash: LAPSE_SLASH, minUpdatePay: MIN_UPDATE_PAY, ...params }
  );
  await deployed.waitForDeployment();
  const jobs = deployed as unknown as TrainingJobs;
  await d.workers.grantRole(await d.workers.SLASHER_ROLE(), await jobs.getAddress());
  await d.workers.grantRole(await d.workers.STAKE_LOCKER_ROLE(), await jobs.getAddress());
  await data.grantRole(await data.ROYALTY_PAYER_ROLE(), await jobs.getAddress());
  return jobs;
}

/** An update a worker reveals: CID, hash, samples and salt derived from `seed`. */
export function update(seed: number, sampleCount = 500) {
  const hex = seed.toString(16).padStart(2, "0").slice(-2);
  return {
    updateCid: "0x01551220" + hex.repeat(32),
    updateHash: id(`update-${seed}`),
    sampleCount,
    salt: id(`salt-${seed}`),
  };
}

/** keccak256(abi.encode(updateCid, updateHash, sampleCount, salt, worker)), as `commitUpdate` expects. */
export function commitmentOf(u: ReturnType<typeof update>, worker: string): string {
  return keccak256(
    AbiCoder.defaultAbiCoder().encode(
      ["bytes", "bytes32", "uint32", "bytes32", "address"],
      [u.updateCid, u.updateHash, u.sampleCount, u.salt, worker]
    )
  );
}

/** The job id of the `JobCreated` log in `receipt`. */
export function jobIdOf(jobs: TrainingJobs, receipt: ContractTransactionReceipt | null): bigint {
  for (const log of receipt?.logs ?? []) {
    const parsed = jobs.interface.parseLog(log);
    if (parsed?.name === "JobCreated") return parsed.args.jobId;
  }
  throw new Error("no JobCreated log");
}
