import { VoidSigner, type Log, type Provider, type Signer } from "ethers";
import type { DataRegistry, ModelRegistry, TesseraToken, TrainingJobs } from "../../typechain-types/index.js";
import type { JobArgsStruct } from "../../typechain-types/training/TrainingJobs.js";
import { NO_PERMIT, signPermit } from "../../worker/src/chain/Permit.js";
import { cidToBytes, DATASET_STATUS_NAMES } from "../../worker/src/data/OnChainDataset.js";
import { decodeRevert, revertDataOf } from "../../worker/src/errors.js";
import type { BuiltinSchema } from "../../worker/src/data/schema/BuiltinSchemas.js";
import { encodeSamples, type Samples } from "../../worker/src/data/schema/DatasetEncoding.js";
import { formatTsr } from "./Amounts.js";
import { nextBlockTime } from "./ChainTime.js";
import { cidOfBytes } from "./Cids.js";
import { explainError } from "./ErrorSentences.js";
import { addAndReadBack, unixfsCidOf } from "./IpfsUpload.js";
import { RULE_NAMES, type RuleName } from "./TrainingJobView.js";

/** A job's terms as a form fills them (amounts in TSR wei, durations in seconds, the learning rate as a number). */
export interface JobTerms {
  rounds: number;
  workersPerRound: number;
  evaluators: number;
  localEpochs: number;
  batchSize: number;
  learningRate: number;
  rule: RuleName;
  quorumBps: number;
  royaltyBps: number;
  evaluationBps: number;
  budget: bigint;
  durations: { enroll: number; commit: number; reveal: number; vote: number; evaluation: number };
}

/**
 * Sensible defaults, as `train create` has them: three rounds of three workers scored by three validators, screened
 * FedAvg (the rule for untrusted workers), a two-thirds quorum, 10 % royalties to the datasets and 5 % to the
 * validators, an hour to enrol and minutes per phase.
 */
export const DEFAULT_JOB_TERMS: JobTerms = {
  rounds: 3,
  workersPerRound: 3,
  evaluators: 3,
  localEpochs: 5,
  batchSize: 8,
  learningRate: 0.05,
  rule: "screened-fedavg",
  quorumBps: 6_666,
  royaltyBps: 1_000,
  evaluationBps: 500,
  budget: 100n * 10n ** 18n,
  durations: { enroll: 3_600, commit: 600, reveal: 300, vote: 300, evaluation: 900 },
};

/** An accepted dataset a job may train on. */
export interface TrainableDataset {
  readonly datasetId: bigint;
  readonly samples: number;
  readonly contributor: string;
}

/** The Accepted datasets of `schema` (DatasetContributed events since `fromBlock`, read now), oldest first. */
export async function acceptedDatasetsOf(registry: DataRegistry, schema: BuiltinSchema, fromBlock: number): Promise<TrainableDataset[]> {
  const events = await registry.queryFilter(registry.filters.DatasetContributed(), fromBlock);
  const datasets = await Promise.all(events.map((e) => registry.datasetOf(e.args.datasetId)));
  return events
    .map((e, i) => ({ event: e, d: datasets[i]! }))
    .filter(({ d }) => DATASET_STATUS_NAMES[Number(d.status)] === "Accepted" && d.schemaId.toLowerCase() === schema.id.toLowerCase())
    .map(({ event, d }) => ({ datasetId: event.args.datasetId, samples: Number(d.sampleCount), contributor: d.contributor }));
}

/** The model a job starts from: a registered version (its manifest and weights), fine-tuned by the job. */
export async function startingPointOf(models: ModelRegistry, versionId: bigint): Promise<{ manifestCid: string; weightsCid: string }> {
  const v = await models.getVersion(versionId);
  return { manifestCid: cidOfBytes(v.manifestCid), weightsCid: cidOfBytes(v.weightsCid) };
}

export interface CreateJobOptions {
  readonly trainingJobs: TrainingJobs;
  readonly token: TesseraToken;
  readonly signer: Signer;
  readonly modelName: string;
  readonly start: { manifestCid: string; weightsCid: string };
  /** The public evaluation set (samples of the datasets' schema), uploaded here and encoded as the validators read it. */
  readonly evaluation: { schema: BuiltinSchema; samples: Samples };
  readonly datasetIds: readonly bigint[];
  readonly terms: JobTerms;
  /** Kubo RPC API the evaluation set is uploaded through. */
  readonly ipfsApi: string;
  /** The gateway the evaluation set is read back through before anything is signed (the evaluators read it). */
  readonly gateway: string;
  readonly onStep?: (step: "checking" | "uploading" | "signing-permit" | "sending", detail?: string) => void;
}

/** What a job is created with: its starting model, its public evaluation set, its datasets and its terms. */
export interface JobSpec {
  readonly manifestCid: string;
  readonly weightsCid: string;
  readonly evalSetCid: string;
  readonly modelName: string;
  readonly datasetIds: readonly bigint[];
  readonly terms: JobTerms;
}

/** `createJob`'s arguments for `spec`, as the page, the tasks and the demo send them (the learning rate in 1e-6 units). */
export function jobCreationArgs(spec: JobSpec): JobArgsStruct {
  const t = spec.terms;
  return {
    manifestCid: cidToBytes(spec.manifestCid),
    weightsCid: cidToBytes(spec.weightsCid),
    evalSetCid: cidToBytes(spec.evalSetCid),
    modelName: spec.modelName,
    datasetIds: [...spec.datasetIds],
    budget: t.budget,
    rounds: t.rounds,
    workersPerRound: t.workersPerRound,
    evaluators: t.evaluators,
    localEpochs: t.localEpochs,
    batchSize: t.batchSize,
    learningRate: Math.round(t.learningRate * 1e6),
    rule: RULE_NAMES.indexOf(t.rule),
    quorumBps: t.quorumBps,
    royaltyBps: t.royaltyBps,
    evaluationBps: t.evaluationBps,
    durations: t.durations,
  };
}

/**
 * The contract's own verdict on a job's arguments before anything is uploaded or signed: a static call of `createJob`
 * from `account` without a permit, which can then fail only at pulling the budget (the token's allowance error) once
 * every term and dataset passed. Any other refusal is thrown as its sentence (ErrorSentences).
 */
export async function checkJobTerms(trainingJobs: TrainingJobs, token: TesseraToken, account: string, provider: Provider, args: JobArgsStruct): Promise<void> {
  try {
    await trainingJobs.connect(new VoidSigner(account, provider)).createJob.staticCall(args, NO_PERMIT);
  } catch (err) {
    if (decodeRevert(revertDataOf(err), [token.interface])?.name !== "ERC20InsufficientAllowance") {
      throw new Error(explainError(err, [trainingJobs.interface, token.interface]), { cause: err });
    }
  }
}

/** The job a `createJob` transaction created, from its JobCreated event. */
export function jobCreatedBy(trainingJobs: TrainingJobs, receipt: { readonly logs: readonly Log[] } | null): { jobId: bigint; enrollDeadline: number } {
  const created = receipt?.logs.map((l) => trainingJobs.interface.parseLog(l)).find((p) => p?.name === "JobCreated");
  if (created == null) throw new Error("The transaction went through without a JobCreated event.");
  return { jobId: created.args.jobId as bigint, enrollDeadline: Number(created.args.enrollDeadline) };
}

/**
 * A training job from a page, as `train create` makes it: the terms checked by the contract itself before anything
 * is uploaded or signed (a static call of `createJob` without a permit: a bad term is its custom error as a sentence;
 * only the missing allowance may remain), the budget checked against the wallet, the evaluation set uploaded (its CID
 * checked), the budget paid by a permit the wallet signs, then `createJob`.
 */
export async function createTrainingJob(o: CreateJobOptions): Promise<{ jobId: bigint; txHash: string; evalSetCid: string }> {
  const step = o.onStep ?? (() => undefined);
  const name = o.modelName.trim();
  if (name === "" || name.length > 64) throw new Error("Name the model the job registers (1 to 64 characters).");
  const account = await o.signer.getAddress();
  const encoded = encodeSamples(o.evaluation.schema, o.evaluation.samples);
  const evalSetCid = await unixfsCidOf(encoded);
  const args = jobCreationArgs({ ...o.start, evalSetCid, modelName: name, datasetIds: o.datasetIds, terms: o.terms });
  step("checking");
  const balance = await o.token.balanceOf(account);
  if (balance < o.terms.budget) throw new Error(`The budget is ${formatTsr(o.terms.budget)} and this account holds ${formatTsr(balance)}.`);
  await checkJobTerms(o.trainingJobs, o.token, account, o.signer.provider!, args);
  step("uploading", "the evaluation set");
  // addToIpfs checks the node's CID against the one computed here (evalSetCid); the bytes are read back too.
  await addAndReadBack(o.ipfsApi, o.gateway, encoded, "evaluation-set.bin", "the evaluation set");
  step("signing-permit", formatTsr(o.terms.budget));
  const permit = await signPermit(o.token, o.signer, await o.trainingJobs.getAddress(), o.terms.budget, BigInt((await nextBlockTime(o.signer.provider!)) + 3_600));
  step("sending");
  const tx = await o.trainingJobs.connect(o.signer).createJob(args, permit);
  const { jobId } = jobCreatedBy(o.trainingJobs, await tx.wait());
  return { jobId, txHash: tx.hash, evalSetCid };
}
