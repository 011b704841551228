import type { HardhatEthers, HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import { id, type ContractTransactionReceipt } from "ethers";
import type { DataRegistry } from "../../typechain-types/index.js";
import { CAP_VALIDATE, MIN_STAKE, SAMPLE_PUBKEY, type Deployment } from "./tessera.js";

export const DatasetStatus = { None: 0n, Pending: 1n, Accepted: 2n, Rejected: 3n, Undecided: 4n, Withdrawn: 5n } as const;
export const CreditReason = { BondRefund: 0n, AcceptReward: 1n, ValidatorReward: 2n, DeferredAcceptReward: 3n } as const;
export const Reason = {
  Ok: 0,
  Schema: 1,
  SampleCount: 2,
  DuplicateSamples: 3,
  LabelNoise: 4,
  Decryption: 5,
  CommitmentMismatch: 6,
  Undecided: 255,
} as const;

export const TOKEN = 10n ** 18n;
export const DATASET_CID = "0x01551220" + "da".repeat(32);
export const ENVELOPES_CID = "0x01551220" + "ee".repeat(32);
export const MNIST_SCHEMA = id("mnist-784/labels-10");
export { NO_PERMIT } from "../../worker/src/chain/Permit.js";

export interface DataParamsInput {
  bond: bigint;
  acceptReward: bigint;
  validatorReward: bigint;
  dissentSlash: bigint;
  votingPeriod: number;
  quorum: number;
  committeeSize: number;
  upfrontRewardBps: number;
}

export const DEFAULT_DATA_PARAMS: DataParamsInput = {
  bond: 10n * TOKEN,
  acceptReward: 50n * TOKEN,
  validatorReward: 5n * TOKEN,
  dissentSlash: 10n * TOKEN,
  votingPeriod: 24 * 3600,
  quorum: 8,
  committeeSize: 15,
  upfrontRewardBps: 2_000,
};

/** Deploys a DataRegistry on `d` as the TesseraData Ignition module does (it holds SLASHER_ROLE). */
export async function deployDataRegistry(
  ethers: HardhatEthers,
  d: Deployment,
  admin: HardhatEthersSigner,
  params: DataParamsInput = DEFAULT_DATA_PARAMS,
): Promise<DataRegistry> {
  const registry = await ethers.deployContract(
    "DataRegistry",
    [admin.address, await d.token.getAddress(), await d.workers.getAddress(), params],
    admin,
  );
  await d.workers.grantRole(await d.workers.SLASHER_ROLE(), await registry.getAddress());
  return registry;
}

/** Mints stake to `worker` and registers it with `capabilities` (CAP_VALIDATE by default). */
export async function registerValidator(
  d: Deployment,
  worker: HardhatEthersSigner,
  capabilities: number = CAP_VALIDATE,
  stake: bigint = MIN_STAKE * 2n,
): Promise<void> {
  await d.token.mint(worker.address, stake);
  await d.token.connect(worker).approve(await d.workers.getAddress(), stake);
  await d.workers.connect(worker).register(stake, capabilities, SAMPLE_PUBKEY, "");
}

/** A contribution whose commitment is derived from `seed`. */
export function contribution(seed: number | bigint = 1, overrides: Record<string, unknown> = {}) {
  return {
    cid: DATASET_CID,
    commitment: "0x" + BigInt(seed).toString(16).padStart(64, "0"),
    sampleCount: 1_000,
    schemaId: MNIST_SCHEMA,
    licenseId: id("CC-BY-4.0"),
    keyEnvelopesCid: ENVELOPES_CID,
    ...overrides,
  };
}

/** The dataset id of the `DatasetContributed` log in `receipt`. */
export function datasetIdOf(registry: DataRegistry, receipt: ContractTransactionReceipt | null): bigint {
  for (const log of receipt?.logs ?? []) {
    const parsed = registry.interface.parseLog(log);
    if (parsed?.name === "DatasetContributed") return parsed.args.datasetId;
  }
  throw new Error("no DatasetContributed log");
}
