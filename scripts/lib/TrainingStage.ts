import type { io, LayersModel } from "@tensorflow/tfjs";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import { HDNodeWallet, formatEther } from "ethers";
import { signPermit } from "../../worker/src/chain/Permit.js";
import { encodeSamples, type Samples } from "../../worker/src/data/schema/DatasetEncoding.js";
import { jobKeyRecipients } from "../../worker/src/data/KeyRecipients.js";
import { shareDatasetKey } from "../../worker/src/data/KeySharing.js";
import { cidFromBytes } from "../../worker/src/data/OnChainDataset.js";
import { jobCreatedBy, jobCreationArgs, type JobTerms } from "../../client/src/JobCreation.js";
import { QueueNames } from "../../worker/src/queue/QueueNames.js";
import { createQueue } from "../../worker/src/queue/QueueFactory.js";
import { removeQueueData } from "../../worker/src/queue/removeQueueData.js";
import { createRedisConnection } from "../../worker/src/redis/RedisConnection.js";
import { deserializeModel, publishModel, readManifest, sha256Hex, type PublishedModel } from "../../worker/src/ml/ModelArtifacts.js";
import { versionInputOf } from "../../worker/src/ml/VersionInput.js";
import { evaluate, type Evaluation } from "../../worker/src/ml/models.js";
import { objectiveOf } from "../../worker/src/ml/TrainingObjective.js";
import { trainingSetOf } from "../../worker/src/ml/TrainingSet.js";
import { versionShapesOf } from "../../worker/src/ml/ModelManifest.js";
import { startTrainers } from "./EmbeddedTrainers.js";
import { mnistTask } from "./seedTasks/MnistTask.js";
import type { SeedTask } from "./seedTasks/SeedTask.js";
import { partitionOf } from "../../worker/src/training/Partition.js";
import { JOB_STATUS_NAMES, JobStatus } from "../../worker/src/training/TrainingJobSpec.js";
import { type TrainingProgress } from "../../worker/src/training/TrainingProcessor.js";
import type { AcceptedDataset } from "./DataStage.js";
import { startEvaluator, type EmbeddedEvaluator } from "./EmbeddedEvaluator.js";
import type { EmbeddedValidator } from "./EmbeddedValidators.js";
import { PRICE_TOKEN, PRICE_WEI, ROYALTY_BPS, type EmbeddedStack } from "./EmbeddedStack.js";
import type { Report } from "./Report.js";
import type { WorkerProcess } from "./WorkerProcess.js";

const TOKEN = 10n ** 18n;
/** Hardhat's development mnemonic: the keys of its well-known test accounts, never real ones. */
const HARDHAT_MNEMONIC = "test test test test test test test test test test test junk";
const DURATIONS = { enroll: 3_600, commit: 600, reveal: 300, vote: 300, evaluation: 900 };

export interface TrainingStageOptions {
  /** The chain's JSON-RPC URL (the worker processes connect to it). */
  readonly rpcUrl: string;
  readonly accepted: readonly AcceptedDataset[];
  /** Staked CAP_VALIDATE workers: they evaluate the final model (in this process). */
  readonly validators: readonly EmbeddedValidator[];
  /** Three accounts (of the connection's signers) that become the training workers. */
  readonly trainers: readonly HardhatEthersSigner[];
  /** Pays for the job, then owns the trained model. */
  readonly requester: HardhatEthersSigner;
  readonly rounds?: number;
  readonly localEpochs?: number;
  readonly batchSize?: number;
  readonly learningRate?: number;
  /** The round in which the third worker is SIGKILLed while it trains (0: nobody is killed). */
  readonly killRound?: number;
  /** What is trained (default: the MNIST task; its evaluation set holds `evalDigits` held-out digits, default all 2,000). */
  readonly task?: SeedTask;
  readonly evalDigits?: number;
  readonly budget?: bigint;
  readonly timeoutMs?: number;
  readonly report?: Report;
}

/** The trained model as its owner published it, scored locally on the job's evaluation set. */
export interface TrainedVersion {
  readonly model: LayersModel;
  /** The evaluation's score (accuracy, AUC or 1/(1+MAE)) on the evaluation set. */
  readonly testAccuracy: number;
  readonly evaluation: Evaluation;
  readonly evalSet: Samples;
  readonly published: PublishedModel;
  readonly modelId: bigint;
  readonly versionId: bigint;
}

export interface TrainingStageResult {
  readonly jobId: bigint;
  /** The job's own (free) version and the requester's priced version of the same weights. */
  readonly jobVersionId: bigint;
  readonly trained: TrainedVersion;
  readonly medianAccuracy: number;
  readonly medianLoss: number;
  /** Every round's agreed aggregate; `excludedMask` is the agreed exclusions (bit i: partition i, not paid). */
  readonly rounds: readonly { round: number; aggregateHash: string; aggregateCid: string; updates: number; votes: number; excludedMask: bigint }[];
  readonly dropped: readonly string[];
  readonly killed: string | undefined;
  /** The progress trainer-1's BullMQ job for round 1 ended with (epoch, loss, accuracy, samples/s). */
  readonly round1Progress: TrainingProgress | undefined;
  /** Local training throughput each worker logged (samples/s, mean over its epochs). */
  readonly samplesPerSecond: readonly number[];
  readonly seconds: number;
}

/**
 * Federated training in the embedded demo: three worker daemons, each its own OS process with the
 * trainer role, enroll in a job over the accepted datasets; the datasets' owners share their keys
 * with the workers that train on them; the workers train, commit, reveal and agree on each round's
 * FedAvg aggregate; one worker is killed mid-round and the job goes on without it (its deadline
 * passes, it is dropped and slashed); the validators evaluate the final model, and it is registered
 * with its provenance. The requester then takes ownership and publishes it as a priced version.
 */
export async function runTrainingStage(stack: EmbeddedStack, o: TrainingStageOptions): Promise<TrainingStageResult> {
  const started = Date.now();
  const { token, workerRegistry, trainingJobs, modelRegistry, dataRegistry } = stack.contracts;
  const { ethers, networkHelpers } = stack.connection;
  const report = o.report;
  const line = (s: string) => report?.line(s);
  const task = o.task ?? mnistTask(o.evalDigits === undefined ? {} : { evalDigits: o.evalDigits });
  const rounds = o.rounds ?? task.training.rounds;
  const killRound = o.killRound ?? 2;
  const timeoutMs = o.timeoutMs ?? 600_000;
  // Each stage's workers and evaluators get queues of their own (a later stage of the same demo trains another task).
  const prefix = o.task === undefined ? stack.options.queuePrefix : `${stack.options.queuePrefix}-${o.task.name}`;

  // 1. Three staked CAP_TRAIN workers, each with a fresh encryption key, as separate processes.
  const trainers = await startTrainers(stack, o.trainers.map((signer) => ({ signer, key: devKeyOf(signer.address) })), { rpcUrl: o.rpcUrl, queuePrefix: prefix });
  const processes = trainers.map((t) => t.process);
  const stake = (await workerRegistry.minStake()) * 2n;
  const evaluators: EmbeddedEvaluator[] = [];
  let createdJob: bigint | undefined;
  let victim: WorkerProcess | undefined;
  try {
    line(`trainers         ${trainers.map((t) => t.signer.address.slice(0, 10) + "…").join(", ")}: 3 worker daemons, each its own OS process (WORKER_ROLES=listener,trainer), staked ${formatEther(stake)} TSR, CAP_TRAIN`);

    // 2. The validators score the final model: each its own listener + TrainingService (evaluator role).
    for (const [i, v] of o.validators.entries()) {
      evaluators.push(
        await startEvaluator(stack, v.signer, {
          queuePrefix: `${prefix}-e${i + 1}`,
          keeperIntervalMs: 300,
          ...(stack.options.logger === undefined ? {} : { logger: stack.options.logger.child({ evaluator: v.signer.address }) }),
        }),
      );
    }

    // 3. The requester's job: the task's fresh model, its held-out samples as the public evaluation set, the budget by permit.
    const initial = task.initialModel();
    const published = await publishModel(stack.store, initial, { name: task.name, description: task.description }, task.codecs, task.tokenizer);
    initial.dispose();
    const evalSamples = await task.evalSet();
    const evalCount = evalSamples.count;
    const evalSetCid = await stack.store.add(encodeSamples(task.schema, evalSamples));
    const budget = o.budget ?? 300n * TOKEN;
    await (await token.mint(o.requester.address, budget)).wait();
    const jobsAddress = await trainingJobs.getAddress();
    const latest = (await stack.connection.ethers.provider.getBlock("latest"))!;
    const permit = await signPermit(token, o.requester, jobsAddress, budget, BigInt(latest.timestamp + 3_600));
    const terms: JobTerms = {
      budget,
      rounds,
      workersPerRound: trainers.length,
      evaluators: o.validators.length,
      localEpochs: o.localEpochs ?? task.training.localEpochs,
      batchSize: o.batchSize ?? task.training.batchSize,
      learningRate: o.learningRate ?? task.training.learningRate,
      rule: "screened-fedavg", // the default for jobs of untrusted workers
      quorumBps: 6_666,
      royaltyBps: 1_000,
      evaluationBps: 500,
      durations: DURATIONS,
    };
    const args = jobCreationArgs({ manifestCid: published.manifestCid, weightsCid: published.weightsCid, evalSetCid, modelName: task.name, datasetIds: o.accepted.map((d) => d.datasetId), terms });
    const created = (await (await trainingJobs.connect(o.requester).createJob(args, permit)).wait())!;
    const { jobId } = jobCreatedBy(trainingJobs, created);
    createdJob = jobId;
    line(`job ${jobId}            ${rounds} rounds x ${trainers.length} workers, E=${terms.localEpochs} B=${terms.batchSize} lr=${terms.learningRate}, FedAvg, quorum 2/3, budget ${formatEther(budget)} TSR by permit (10 % royalties, 5 % evaluation); gas ${created.gasUsed}`);
    line(`  model          ${published.manifestCid} (initial weights ${published.weightsCid})`);
    line(`  evaluation set ${evalSetCid} (${evalCount} held-out samples of ${task.schema.document.name}, public)`);

    // 4. The workers enroll on their own (auto-enroll); each owner shares its key with the workers reading its dataset.
    await until(async () => Number((await trainingJobs.jobOf(jobId)).status) === JobStatus.Committing, 120_000, "three enrollments");
    const workers = await trainingJobs.workersOf(jobId);
    const spec = { datasets: o.accepted.map((d) => ({ datasetId: d.datasetId, samples: d.samples })), k: trainers.length };
    for (const [p, w] of workers.entries()) {
      const slices = partitionOf(spec.datasets, spec.k, p).map((s) => `dataset ${s.datasetId} [${s.start}, ${s.end})`);
      line(`  enrolled       ${w.slice(0, 10)}… partition ${p}: ${slices.join(", ")}`);
    }
    for (const d of o.accepted) {
      const { recipients } = await jobKeyRecipients({ trainingJobs, workerRegistry, jobId, datasetId: d.datasetId, fromBlock: stack.deployment.startBlock });
      const shared = await shareDatasetKey({ registry: dataRegistry.connect(d.contributor), store: stack.store, datasetId: d.datasetId, datasetKey: d.datasetKey, recipients });
      line(`  key shared     dataset ${d.datasetId} by its owner with ${shared.added.map((a) => a.slice(0, 10) + "…").join(", ")} (envelopes ${shared.envelopesCid})`);
    }

    // 5. One worker dies mid-round: the last to enroll, so that the data lost with it (its partition)
    //    is the same from run to run whatever the enrollment race. Once the others committed, the
    //    commit deadline passes (the chain's clock is moved forward, as waiting would) and the keepers drop it.
    let killed: string | undefined;
    if (killRound > 0) {
      const last = trainers.findIndex((t) => t.signer.address === workers[workers.length - 1]);
      victim = processes[last];
      await victim.waitFor((r) => r.msg === "training the round's update" && r.round === killRound && r.jobId === jobId.toString(), timeoutMs, `its training of round ${killRound}`);
      victim.kill("SIGKILL");
      killed = trainers[last].signer.address;
      line(`  killed         ${victim.options.name} (${killed.slice(0, 10)}…, partition ${workers.length - 1}) with SIGKILL while it trained round ${killRound}`);
      await until(async () => {
        const job = await trainingJobs.jobOf(jobId);
        return Number(job.round) === killRound && Number(job.status) === JobStatus.Committing && Number(job.committed) === trainers.length - 1;
      }, timeoutMs, "the survivors' commits");
      await networkHelpers.time.increase(DURATIONS.commit + 1);
      line(`  deadline       commit deadline of round ${killRound} passed (chain clock +${DURATIONS.commit + 1} s): the keepers call advance`);
    }

    await until(async () => {
      const status = Number((await trainingJobs.jobOf(jobId)).status);
      if (status === JobStatus.Cancelled) throw new Error(`job ${jobId} was cancelled`);
      return status === JobStatus.Finalized;
    }, timeoutMs, "finalization");

    // 6. What the chain says, and the trained model.
    const job = await trainingJobs.jobOf(jobId);
    const roundResults = [];
    for (let r = 1; r <= rounds; r++) {
      const res = await trainingJobs.roundResultOf(jobId, r);
      roundResults.push({ round: r, aggregateHash: res.aggregateHash, aggregateCid: cidFromBytes(res.aggregateCid), updates: Number(res.updates), votes: Number(res.votes), excludedMask: res.excludedMask });
    }
    const dropped = (await trainingJobs.queryFilter(trainingJobs.filters.WorkerDropped(jobId))).map((e) => e.args.worker);
    const finalRound = roundResults[roundResults.length - 1];
    const manifest = await readManifest(stack.store, published.manifestCid);
    const weightData = await stack.store.get(finalRound.aggregateCid);
    if (sha256Hex(weightData) !== finalRound.aggregateHash) throw new Error("the final aggregate does not match its agreed hash");
    const model: LayersModel = await deserializeModel({ modelTopology: manifest.modelTopology, weightSpecs: manifest.weightSpecs as io.WeightsManifestEntry[], weightData });
    const evaluation = await evaluate(model, trainingSetOf(manifest, task.schema.document, evalSamples), { objective: objectiveOf(manifest) });

    // 7. The requester accepts the model and publishes the trained weights as a priced version.
    const jobVersion = await modelRegistry.getVersion(job.versionId);
    const modelId = jobVersion.modelId;
    await (await modelRegistry.connect(o.requester).acceptModelOwnership(modelId)).wait();
    const priced: PublishedModel = await publishModel(stack.store, model, { name: task.name, description: `${task.description}; FedAvg, training job ${jobId}` }, task.codecs, task.tokenizer);
    const input = versionInputOf(priced, { priceWei: PRICE_WEI, priceToken: PRICE_TOKEN, royaltyBps: ROYALTY_BPS, ...versionShapesOf(manifest) });
    const versionId = await modelRegistry.connect(o.requester).publishVersion.staticCall(modelId, input);
    await (await modelRegistry.connect(o.requester).publishVersion(modelId, input)).wait();

    const round1Progress = await progressOf(stack.redis.url, processes[0].options.queuePrefix, jobId, 1);
    const samplesPerSecond = processes.map((p) => {
      const epochs = p.records((r) => r.msg === "epoch done" && typeof r.samplesPerSecond === "number");
      return epochs.length === 0 ? 0 : epochs.reduce((s, r) => s + (r.samplesPerSecond as number), 0) / epochs.length;
    });
    return {
      jobId,
      jobVersionId: job.versionId,
      trained: { model, testAccuracy: evaluation.score, evaluation, evalSet: evalSamples, published: priced, modelId, versionId },
      medianAccuracy: Number(job.accuracy) / 1e6,
      medianLoss: Number(job.loss) / 1e6,
      rounds: roundResults,
      dropped,
      killed,
      round1Progress,
      samplesPerSecond,
      seconds: (Date.now() - started) / 1000,
    };
  } catch (err) {
    for (const p of processes) if (!p.alive && p !== victim) report?.line(`${p.options.name} log tail:\n${p.log().slice(-2_000)}`);
    const job = createdJob === undefined ? undefined : await trainingJobs.jobOf(createdJob).catch(() => undefined);
    if (job !== undefined) report?.line(`job state at failure: ${JOB_STATUS_NAMES[Number(job.status)]}, round ${job.round}, committed ${job.committed}, revealed ${job.revealed}`);
    throw err;
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
    for (const e of evaluators) await e.listener.stop().catch(() => undefined);
    for (const e of evaluators) await e.service.stop().catch(() => undefined);
    await removeQueueData(stack.redis.url, [...processes.map((p) => p.options.queuePrefix), ...evaluators.map((e) => e.queuePrefix)]);
  }
}

/** The development private key of a Hardhat test account (checked against its address). */
function devKeyOf(address: string): string {
  for (let i = 0; i < 40; i++) {
    const wallet = HDNodeWallet.fromPhrase(HARDHAT_MNEMONIC, undefined, `m/44'/60'/0'/0/${i}`);
    if (wallet.address === address) return wallet.privateKey;
  }
  throw new Error(`${address} is not one of Hardhat's development accounts`);
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The progress a trainer's BullMQ job for `round` of `jobId` finished with (read from its operator's queue). */
async function progressOf(redisUrl: string, prefix: string, jobId: bigint, round: number): Promise<TrainingProgress | undefined> {
  const redis = createRedisConnection(redisUrl);
  const queue = createQueue(QueueNames.trainingEvents, redis, { prefix });
  try {
    for (const job of await queue.getJobs(["completed"])) {
      const p = job.progress as Partial<TrainingProgress> | number;
      if (typeof p === "object" && p.jobId === jobId.toString() && p.round === round) return p as TrainingProgress;
    }
    return undefined;
  } finally {
    await queue.close();
    await redis.quit();
  }
}
