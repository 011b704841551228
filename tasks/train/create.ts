import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { basename, resolve } from "node:path";
import { CID } from "multiformats/cid";
import { signPermit } from "../../worker/src/chain/Permit.js";
import { DATASET_STATUS_NAMES, DatasetStatus } from "../../worker/src/data/OnChainDataset.js";
import { checkJobTerms, jobCreatedBy, jobCreationArgs, type JobTerms } from "../../client/src/JobCreation.js";
import { locateDataset } from "../../worker/src/data/KeyRecipients.js";
import { selectBackend } from "../../worker/src/ml/backend.js";
import { checkUint96, formatTsr, parseUnits18 } from "../lib/Amounts.js";
import { describeStore, openContentStore } from "../lib/ContentStores.js";
import { dataRegistryOf } from "../lib/DataRegistries.js";
import { MNIST_SPLIT } from "../lib/Defaults.js";
import { printFields } from "../lib/Printer.js";
import { Session } from "../lib/Session.js";
import { taskError } from "../lib/TaskError.js";
import { checkJobFits, disposeInitialModel, readEvaluationSet, readInitialModel, storeInitialModel, type EvaluationChoice } from "./JobInputs.js";
import { MICRO, RULE_NAMES, formatDuration, parseDuration, parseIdList, parseLearningRate, parseRule, trainingJobsOf, type RuleName } from "../lib/Training.js";

interface CreateArgs {
  deployment: string;
  dataDir: string;
  account: string;
  datasets: string | undefined;
  model: string;
  dir: string;
  seed: number;
  name: string;
  evalDigits: number;
  evalSet: string;
  evalFile: string;
  schema: string;
  labels: string;
  budget: string | undefined;
  rounds: number;
  workers: number;
  evaluators: number;
  epochs: number;
  batchSize: number;
  learningRate: string;
  rule: string;
  quorumBps: number;
  royaltyBps: number;
  evaluationBps: number;
  enrollTime: string;
  commitTime: string;
  revealTime: string;
  voteTime: string;
  evaluationTime: string;
}

/** The job created: its terms as the page's form has them (JobTerms), the learning rate as on chain. */
export interface CreateJobResult extends Omit<JobTerms, "learningRate"> {
  jobId: bigint;
  txHash: string;
  requester: string;
  /** The builder ("mlp" or "cnn") or "folder" (`--dir`). */
  model: "mlp" | "cnn" | "folder";
  modelName: string;
  manifestCid: string;
  weightsCid: string;
  contentHash: string;
  evalSetCid: string;
  /** Samples of the evaluation set when it was built here (--eval-digits, --eval-file) or found in the store. */
  evalSamples: number | undefined;
  datasets: { datasetId: bigint; samples: number }[];
  /** 1e-6 units, as on chain. */
  learningRate: number;
  enrollDeadline: number;
}

/** Limits of TrainingJobs (its constants), checked here so that a bad input costs no transaction. */
const LIMITS = { maxNameBytes: 64, maxDatasets: 16, maxRounds: 1_000, minWorkers: 2, maxWorkers: 32, minEvaluators: 3, maxEvaluators: 15, minPhase: 5 * 60, maxPhase: 30 * 86_400, maxCidBytes: 64 };
/** The learning rates the FedAvg benchmark uses (plain SGD, B = 10). */
const DEFAULT_LEARNING_RATE = { mlp: "0.2", cnn: "0.05" } as const;

/**
 * Creates a federated training job: takes the initial model (a fresh seeded MNIST 2NN or CNN, or any tfjs
 * LayersModel folder with `--dir`, fresh or pretrained), publishes it to IPFS as the initial weights, publishes (or
 * takes) the public evaluation set (held-out digits, a file of any schema, or a CID), and escrows the budget with
 * `createJob`, paid by ERC-2612 permit. Every input is checked before anything is published or sent, including what
 * the workers check before they enroll: the datasets and the evaluation set share one schema, and the model can
 * learn it (JobInputs.ts).
 */
export default async function create(args: CreateArgs, hre: HardhatRuntimeEnvironment): Promise<CreateJobResult> {
  const datasetIds = parseIdList(args.datasets, "--datasets");
  if (datasetIds.length > LIMITS.maxDatasets) throw taskError(`--datasets: ${datasetIds.length} ids, a job takes at most ${LIMITS.maxDatasets}`);
  const dir = args.dir.trim();
  const modelOption = args.model.trim().toLowerCase();
  if (dir !== "" && modelOption !== "") throw taskError("pass either --model (a fresh MNIST mlp or cnn) or --dir (a model folder), not both");
  const model = modelOption === "" ? "mlp" : modelOption;
  if (model !== "mlp" && model !== "cnn") throw taskError(`--model: ${JSON.stringify(args.model)} is neither mlp (784-200-200-10) nor cnn`);
  if (dir !== "" && args.learningRate.trim() === "") throw taskError("--learning-rate is required with --dir (plain SGD's step for this model, e.g. 0.05)");
  integer(args.seed, "--seed", 0, 2 ** 31 - 1);
  const evaluation = parseEvaluation(args);
  if (args.budget === undefined || args.budget.trim() === "") throw taskError("--budget is required (TSR in whole tokens, e.g. 1000)");
  const budget = checkUint96(parseUnits18(args.budget, "--budget"), "--budget");
  if (budget === 0n) throw taskError("--budget must be above 0");
  integer(args.rounds, "--rounds", 1, LIMITS.maxRounds);
  integer(args.workers, "--workers", LIMITS.minWorkers, LIMITS.maxWorkers);
  integer(args.evaluators, "--evaluators", LIMITS.minEvaluators, LIMITS.maxEvaluators);
  integer(args.epochs, "--epochs", 1, 0xffff);
  integer(args.batchSize, "--batch-size", 1, 0xffff_ffff);
  const learningRate = parseLearningRate(args.learningRate.trim() === "" ? DEFAULT_LEARNING_RATE[model] : args.learningRate, "--learning-rate");
  const rule = parseRule(args.rule, "--rule");
  integer(args.quorumBps, "--quorum-bps", 5_001, 10_000);
  if (args.workers * args.quorumBps > (args.workers - 1) * 10_000) {
    throw taskError(`--quorum-bps ${args.quorumBps} of ${args.workers} workers needs every worker's vote: one worker could block every round (at most ${Math.floor(((args.workers - 1) * 10_000) / args.workers)} bps, and at least 3 workers)`);
  }
  integer(args.royaltyBps, "--royalty-bps", 0, 9_999);
  integer(args.evaluationBps, "--evaluation-bps", 0, 9_999);
  if (args.royaltyBps + args.evaluationBps >= 10_000) {
    throw taskError(`--royalty-bps ${args.royaltyBps} + --evaluation-bps ${args.evaluationBps} must stay below 10000 (the rest pays the workers)`);
  }
  const durations = {
    enroll: phase(args.enrollTime, "--enroll-time"),
    commit: phase(args.commitTime, "--commit-time"),
    reveal: phase(args.revealTime, "--reveal-time"),
    vote: phase(args.voteTime, "--vote-time"),
    evaluation: phase(args.evaluationTime, "--evaluation-time"),
  };
  const workerPool = budget - (budget * BigInt(args.royaltyBps)) / 10_000n - (budget * BigInt(args.evaluationBps)) / 10_000n;

  const session = await Session.open(hre, args.deployment);
  const jobs = await trainingJobsOf(session);
  const { minUpdatePay } = await jobs.params();
  const leastPool = BigInt(args.rounds * args.workers) * (minUpdatePay === 0n ? 1n : minUpdatePay);
  if (workerPool < leastPool) {
    throw taskError(`--budget ${formatTsr(budget)} leaves ${formatTsr(workerPool)} for the workers, less than the contract's least pay of ${formatTsr(minUpdatePay)} per update of every round (${args.rounds} x ${args.workers})`);
  }
  const registry = await dataRegistryOf(session);
  const requester = await session.signer(args.account);
  const { token } = session.contracts;
  const datasetCount = await registry.datasetCount();
  const datasets: { datasetId: bigint; samples: number }[] = [];
  const schemas: { datasetId: bigint; schemaId: string }[] = [];
  for (const id of datasetIds) {
    if (id > datasetCount) throw taskError(`--datasets: unknown dataset ${id} (${datasetCount} contributed so far)`);
    const d = await registry.datasetOf(id);
    if (Number(d.status) !== DatasetStatus.Accepted) {
      throw taskError(`--datasets: dataset ${id} is ${DATASET_STATUS_NAMES[Number(d.status)]}, not Accepted: a job trains only on accepted data (see \`data status --id ${id}\`)`);
    }
    datasets.push({ datasetId: id, samples: Number(d.sampleCount) });
    schemas.push({ datasetId: id, schemaId: d.schemaId });
    // A dataset whose owner published no key envelopes cannot be shared with the job's workers: none would enroll.
    const location = await locateDataset(registry, id, session.deployment.startBlock).catch(() => undefined);
    if (location?.envelopesCid === undefined) {
      throw taskError(`--datasets: dataset ${id}'s owner published no key envelopes, so its key cannot be shared with the job's workers: no worker would enroll`);
    }
  }
  const balance = await token.balanceOf(requester.address);
  if (balance < budget) throw taskError(`${requester.address} holds ${formatTsr(balance)}, the budget is ${formatTsr(budget)}`);

  const backend = await selectBackend((process.env.TF_BACKEND as "auto" | undefined) ?? "auto");
  const initial = await readInitialModel({ dir, model, seed: args.seed });
  let store: Awaited<ReturnType<typeof openContentStore>>;
  let modelName: string;
  try {
    modelName = args.name.trim() !== "" ? args.name.trim() : initial.kind === "builtin" ? `mnist-${model}-federated` : `${initial.folder.metadata.name ?? basename(resolve(dir))}-federated`;
    // The name is registered at finalization within a fixed gas allowance: a long one would leave the trained model unregistered.
    if (new TextEncoder().encode(modelName).length > LIMITS.maxNameBytes) {
      throw taskError(`the model's name ${JSON.stringify(modelName.slice(0, 40))}… is over ${LIMITS.maxNameBytes} bytes: pass a shorter --name`);
    }
    store = await openContentStore(args.dataDir);
  } catch (err) {
    disposeInitialModel(initial);
    throw err;
  }
  let published;
  let evalSetCid: string;
  let evalSamples: number | undefined;
  let evalDescription: string;
  try {
    // Read and checked in memory first: a job the workers would refuse stores nothing and sends nothing.
    const evalSet = await readEvaluationSet(store, evaluation);
    evalSamples = await checkJobFits(store, initial, evalSet, schemas);
    evalDescription = evalSet.description;
    published = await storeInitialModel(store, initial, modelName);
    if (evalSet.cid === undefined) {
      evalSetCid = await store.add(evalSet.bytes!);
      await store.pin(evalSetCid);
    } else {
      evalSetCid = evalSet.cid;
    }
  } finally {
    disposeInitialModel(initial);
    await store.close();
  }

  const terms: JobTerms = {
    budget,
    rounds: args.rounds,
    workersPerRound: args.workers,
    evaluators: args.evaluators,
    localEpochs: args.epochs,
    batchSize: args.batchSize,
    learningRate: learningRate / MICRO,
    rule: RULE_NAMES[rule]!,
    quorumBps: args.quorumBps,
    royaltyBps: args.royaltyBps,
    evaluationBps: args.evaluationBps,
    durations,
  };
  const jobArgs = jobCreationArgs({ manifestCid: published.manifestCid, weightsCid: published.weightsCid, evalSetCid, modelName, datasetIds, terms });
  // The contract's own verdict before the permit is signed, as the page asks it (whatever the checks above missed).
  await checkJobTerms(jobs, token, requester.address, requester.provider!, jobArgs).catch((err: Error) => {
    throw taskError(err.message, err);
  });
  const permit = await signPermit(token, requester, await jobs.getAddress(), budget, BigInt((await session.now()) + 3600));
  const receipt = await session.send(requester, jobs, "createJob", [jobArgs, permit]);
  const { jobId, enrollDeadline } = jobCreatedBy(jobs, receipt);

  const result: CreateJobResult = {
    jobId,
    txHash: receipt.hash,
    requester: requester.address,
    model: initial.kind === "builtin" ? model : "folder",
    modelName,
    ...published,
    evalSetCid,
    evalSamples,
    datasets,
    ...terms,
    // As on chain: 1e-6 units.
    learningRate,
    enrollDeadline,
  };
  printFields(`Created training job ${jobId} "${modelName}"`, [
    ["requester", requester.address],
    ["transaction", receipt.hash],
    ["datasets", datasets.map((d) => `${d.datasetId} (${d.samples} samples)`).join(", ")],
    ["model", initial.kind === "builtin" ? `${model}, seed ${args.seed} (${backend.name})` : `${dir} (codecs ${initial.folder.codecs.inputCodec.name} -> ${initial.folder.codecs.outputCodec.name})`],
    ["manifest CID", published.manifestCid],
    ["weights CID", `${published.weightsCid} (initial, sha256 ${published.contentHash})`],
    ["eval set CID", `${evalSetCid} (public${evalSamples === undefined ? "" : `: ${evalDescription}`})`],
    ["rounds x workers", `${args.rounds} x ${args.workers}, ${args.evaluators} evaluator(s), quorum ${args.quorumBps} bps`],
    ["local training", `E = ${args.epochs}, B = ${args.batchSize}, learning rate ${learningRate / 1e6}, ${RULE_NAMES[rule]}`],
    ["budget", `${formatTsr(budget)} (by permit): royalties ${args.royaltyBps} bps, evaluation ${args.evaluationBps} bps, the rest to the workers`],
    ["phases", `enroll ${formatDuration(durations.enroll)}, commit ${formatDuration(durations.commit)}, reveal ${formatDuration(durations.reveal)}, vote ${formatDuration(durations.vote)}, evaluation ${formatDuration(durations.evaluation)}`],
    ["enroll deadline", new Date(enrollDeadline * 1000).toISOString()],
    ["store", describeStore(store, args.dataDir)],
  ]);
  return result;
}

function parseEvaluation(args: CreateArgs): EvaluationChoice {
  const cid = args.evalSet.trim();
  const file = args.evalFile.trim();
  const given = [cid !== "", file !== "", args.evalDigits !== 0].filter(Boolean).length;
  if (given > 1) throw taskError("pass one of --eval-digits, --eval-set or --eval-file, not several");
  if (given === 0) {
    throw taskError("an evaluation set is required: --eval-digits N (N held-out MNIST digits, published in plaintext), --eval-file <file> --schema <name|id|CID> (a file of that schema), or --eval-set <cid>");
  }
  if (file === "" && (args.schema.trim() !== "" || args.labels.trim() !== "")) throw taskError("--schema and --labels describe an --eval-file");
  if (file !== "") {
    if (args.schema.trim() === "") throw taskError("--eval-file needs --schema (the schema's name, id or CID; see `data schema list`)");
    return { kind: "file", path: file, schema: args.schema.trim(), labels: args.labels.trim() === "" ? undefined : args.labels.trim() };
  }
  if (cid !== "") {
    let parsed: CID;
    try {
      parsed = CID.parse(cid);
    } catch (err) {
      throw taskError(`--eval-set: ${JSON.stringify(cid)} is not a CID`, err);
    }
    if (parsed.bytes.length > LIMITS.maxCidBytes) throw taskError(`--eval-set: the CID is ${parsed.bytes.length} bytes, the contract takes at most ${LIMITS.maxCidBytes}`);
    return { kind: "cid", cid: parsed.toString() };
  }
  integer(args.evalDigits, "--eval-digits", 1, MNIST_SPLIT.testCount);
  return { kind: "digits", count: args.evalDigits };
}

function integer(value: number, option: string, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) throw taskError(`${option} must be an integer in ${min}..${max}, got ${value}`);
}

function phase(value: string, option: string): number {
  const seconds = parseDuration(value, option);
  if (seconds < LIMITS.minPhase || seconds > LIMITS.maxPhase) {
    throw taskError(`${option} ${value} is outside ${formatDuration(LIMITS.minPhase)}..${formatDuration(LIMITS.maxPhase)}, the phase lengths the contract accepts`);
  }
  return seconds;
}
