import { VoidSigner, type Signer } from "ethers";
import type { DataRegistry, ModelRegistry, TesseraToken, TrainingJobs } from "../../typechain-types/index.js";
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
  const args = (evalSetCid: string) => ({
    manifestCid: cidToBytes(o.start.manifestCid),
    weightsCid: cidToBytes(o.start.weightsCid),
    evalSetCid: cidToBytes(evalSetCid),
    modelName: name,
    datasetIds: [...o.datasetIds],
    budget: o.terms.budget,
    rounds: o.terms.rounds,
    workersPerRound: o.terms.workersPerRound,
    evaluators: o.terms.evaluators,
    localEpochs: o.terms.localEpochs,
    batchSize: o.terms.batchSize,
    learningRate: Math.round(o.terms.learningRate * 1e6),
    rule: RULE_NAMES.indexOf(o.terms.rule),
    quorumBps: o.terms.quorumBps,
    royaltyBps: o.terms.royaltyBps,
    evaluationBps: o.terms.evaluationBps,
    durations: o.terms.durations,
  });
  step("checking");
  const balance = await o.token.balanceOf(account);
  if (balance < o.terms.budget) throw new Error(`The budget is ${formatTsr(o.terms.budget)} and this account holds ${formatTsr(balance)}.`);
  // The terms as the contract checks them, before any upload or signature: without a permit the call can only fail
  // later, at pulling the budget (the token's allowance error), once every term and dataset passed.
  const evalSetCid = await unixfsCidOf(encoded);
  try {
    await o.trainingJobs.connect(new VoidSigner(account, o.signer.provider)).createJob.staticCall(args(evalSetCid), NO_PERMIT);
  } catch (err) {
    if (decodeRevert(revertDataOf(err), [o.token.interface])?.name !== "ERC20InsufficientAllowance") {
      throw new Error(explainError(err, [o.trainingJobs.interface, o.token.interface]), { cause: err });
    }
  }
  step("uploading", "the evaluation set");
  // addToIpfs checks the node's CID against the one computed here (evalSetCid); the bytes are read back too.
  await addAndReadBack(o.ipfsApi, o.gateway, encoded, "evaluation-set.bin", "the evaluation set");
  step("signing-permit", formatTsr(o.terms.budget));
  const permit = await signPermit(o.token, o.signer, await o.trainingJobs.getAddress(), o.terms.budget, BigInt((await nextBlockTime(o.signer.provider!)) + 3_600));
  step("sending");
  const tx = await o.trainingJobs.connect(o.signer).createJob(args(evalSetCid), permit);
  const receipt = await tx.wait();
  const created = receipt?.logs.map((l) => o.trainingJobs.interface.parseLog(l)).find((p) => p?.name === "JobCreated");
  if (created == null) throw new Error("The transaction went through without a JobCreated event.");
  return { jobId: created.args.jobId as bigint, txHash: tx.hash, evalSetCid };
}
