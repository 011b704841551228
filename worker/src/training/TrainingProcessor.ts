import type { DatasetKeyring } from "../data/DatasetKeyring.js";
import { randomBytes } from "node:crypto";
import { AbiCoder, hexlify, keccak256, type Provider } from "ethers";
import type { Redis } from "ioredis";
import type { DataRegistry, TrainingJobs, WorkerRegistry } from "../../../typechain-types/index.js";
import { payloadArgs, type EventPayload } from "../chain/EventPayload.js";
import type { TxSender } from "../chain/TxSender.js";
import { cidFromBytes, cidToBytes } from "../data/OnChainDataset.js";
import { ContractRevertError, UnrecoverableError } from "../errors.js";
import type { ContentStore } from "../ipfs/ContentStore.js";
import { silentLogger, type Logger } from "../logger.js";
import { evaluate, trainModel, type EpochMetrics, type Evaluation } from "../ml/models.js";
import { objectiveOf } from "../ml/TrainingObjective.js";
import type { ClientUpdate } from "./FedAvgAggregator.js";
import { JobMaterials } from "./JobMaterials.js";
import { screenRevealedUpdate } from "./RevealedUpdate.js";
import { aggregateRound, exclusionMask, partitionSamples } from "./RoundAggregation.js";
import { flattenWeights, sizeOf, weightsFromBytes, weightsHash, weightsToBytes } from "./ModelWeights.js";
import { partitionOf } from "./Partition.js";
import { CAP_TRAIN, CAP_VALIDATE } from "../chain/Capabilities.js";
import { JobStatus, type TrainingJobSpec } from "./TrainingJobSpec.js";
import { admissionRefusal } from "./JobAdmission.js";

/** The TrainingJobs events the trainer and evaluator roles act on. */
export const TRAINING_EVENTS = [
  "JobCreated",
  "WorkerEnrolled",
  "RoundStarted",
  "PhaseStarted",
  "RoundCompleted",
  "UpdateExcluded",
  "WorkerDropped",
  "JobFinalized",
  "JobCancelled",
] as const;

/** Progress reported on the BullMQ job while a worker trains its update. */
export interface TrainingProgress {
  readonly jobId: string;
  readonly round: number;
  readonly epoch: number;
  readonly epochs: number;
  readonly loss: number;
  readonly accuracy: number;
  readonly samples: number;
  readonly samplesPerSecond: number;
}

export type TrainingAction = "enrolled" | "committed" | "revealed" | "voted" | "evaluated" | "finalized" | "advanced" | "cancelled";

/** What became of one event; the queue job's return value. */
export type TrainingOutcome =
  | {
      readonly jobId: string;
      readonly round: number;
      readonly status: TrainingAction;
      readonly txHash: string;
      readonly gasUsed: string;
      readonly detail?: string;
    }
  | { readonly jobId: string; readonly round: number; readonly status: "skipped"; readonly reason: string }
  | { readonly jobId: string; readonly round: number; readonly status: "noted"; readonly event: string };

/** What a worker must remember between its commit and its reveal (kept in Redis, so a restarted process can reveal). */
interface CommitRecord {
  updateCid: string;
  updateHash: string;
  samples: number;
  salt: string;
  /** Local training figures, for the logs and the outcome. */
  loss: number;
  accuracy: number;
  samplesPerSecond: number;
}

export interface TrainingProcessorOptions {
  readonly jobs: TrainingJobs;
  readonly workerRegistry: WorkerRegistry;
  readonly dataRegistry: DataRegistry;
  readonly txSender: TxSender;
  readonly provider: Provider;
  readonly store: ContentStore;
  /** Holds the commit records; keys start with `keyPrefix`. */
  readonly redis: Redis;
  readonly keyPrefix: string;
  /** The worker's account. */
  readonly workerAddress: string;
  /** Needed to train (to open the dataset keys shared with this worker). */
  readonly encryptionPrivateKey?: string;
  /** Keeps the dataset keys the trainer opened (JobMaterials, PartitionData). */
  readonly datasetKeyring?: DatasetKeyring;
  /** trainer: enroll, train, commit, reveal, vote. evaluator: score final models as a validator. */
  readonly roles: { readonly trainer: boolean; readonly evaluator: boolean };
  /** Enroll in every new job this worker is eligible for (the trainer role) that passes `admissionRefusal`. */
  readonly autoEnroll: boolean;
  /** Least pay (wei) per round's update for a job to be worth enrolling in (TRAINING_MIN_PAY_PER_ROUND). */
  readonly minPayPerRound?: bigint;
  /** Where to look for the jobs' and datasets' events (the deployment block). */
  readonly fromBlock?: number;
  readonly logger?: Logger;
}

/**
 * Gas limits, set rather than estimated: several workers send to the same job at once, and an
 * estimate taken before another worker's transaction is wrong after it (the last commit, reveal
 * or vote also starts the next phase and costs more), which would run the transaction out of gas.
 * Unused gas is not charged. The deciding vote credits every revealer and starts the next round.
 */
const DEFAULT_GAS_LIMIT = 400_000n;
const VOTE_GAS_LIMIT = 1_500_000n;
const FINALIZE_GAS_LIMIT = 3_000_000n;

/** Reverts that mean another transaction got there first: the work is done, not failed. */
const LOST_RACE = new Set([
  "TrainingJobsWrongStatus",
  "TrainingJobsAlreadyDone",
  "TrainingJobsAlreadyEnrolled",
  "TrainingJobsWrongRound",
  "TrainingJobsDeadlinePassed",
  "TrainingJobsAlreadyEvaluated",
  "TrainingJobsEvaluationsComplete",
  "TrainingJobsPhaseOpen",
  "TrainingJobsNotStalled",
  "TrainingJobsNotCancellable",
  "TrainingJobsTooFewEvaluations",
]);

const abi = AbiCoder.defaultAbiCoder();

/** The commitment `commitUpdate` takes: binds the update to this worker, so a copied reveal fails. */
export function updateCommitment(updateCid: string, updateHash: string, samples: number, salt: string, worker: string): string {
  return keccak256(
    abi.encode(["bytes", "bytes32", "uint32", "bytes32", "address"], [cidToBytes(updateCid), updateHash, samples, salt, worker]),
  );
}

/**
 * A worker's side of a federated training job, one contract event at a time:
 * - `JobCreated`: enroll when eligible (trainer role, auto-enroll on).
 * - `RoundStarted`: download the global model (verified against the agreed hash), decrypt this
 *   worker's partition, train E local epochs with plain SGD (progress on the BullMQ job), pin the
 *   update, and commit to it (the opening is kept in Redis first).
 * - `PhaseStarted(Revealing)`: reveal the update.
 * - `PhaseStarted(Voting)`: fetch every revealed update, check each against its revealed hash,
 *   aggregate deterministically (FedAvg or the job's robust rule), pin the aggregate and vote its hash.
 * - `PhaseStarted(Evaluating)` (evaluator role): score the final model on the public evaluation set,
 *   post accuracy and loss, and finalize once the last evaluation is in.
 * Every step first reads the job's state, so replayed or late events are skipped, never repeated.
 */
export class TrainingProcessor {
  readonly #o: TrainingProcessorOptions;
  readonly #logger: Logger;
  readonly #me: string;
  readonly #materials: JobMaterials;
  /** Jobs this worker takes part in (as trainer or evaluator): the keeper watches their deadlines. */
  readonly watched = new Set<bigint>();

  constructor(options: TrainingProcessorOptions) {
    this.#o = options;
    this.#logger = options.logger ?? silentLogger;
    this.#me = options.workerAddress;
    this.#materials = new JobMaterials({
      jobs: options.jobs,
      dataRegistry: options.dataRegistry,
      store: options.store,
      ...(options.encryptionPrivateKey === undefined ? {} : { encryptionPrivateKey: options.encryptionPrivateKey }),
      ...(options.datasetKeyring === undefined ? {} : { datasetKeyring: options.datasetKeyring }),
      ...(options.fromBlock === undefined ? {} : { fromBlock: options.fromBlock }),
    });
    if (options.roles.trainer && options.encryptionPrivateKey === undefined) {
      throw new UnrecoverableError("the trainer role needs the worker's encryption key (TESSERA_ENCRYPTION_KEY) to open the dataset keys");
    }
  }

  /** A job's terms, read from its `JobCreated` event once per process. */
  spec(jobId: bigint): Promise<TrainingJobSpec> {
    return this.#materials.spec(jobId);
  }

  async process(payload: EventPayload, onProgress?: (p: TrainingProgress) => Promise<void>): Promise<TrainingOutcome> {
    const { jobs } = this.#o;
    if (!(TRAINING_EVENTS as readonly string[]).includes(payload.event)) {
      throw new UnrecoverableError(`TrainingProcessor: ${payload.source}.${payload.event} is not a training event`);
    }
    const args = payloadArgs(payload, jobs.interface);
    const jobId = args.jobId as bigint;
    const round = Number(args.round ?? 0);
    const log = this.#logger.child({ jobId: jobId.toString(), round, event: payload.event });
    const noted = (): TrainingOutcome => ({ jobId: jobId.toString(), round, status: "noted", event: payload.event });
    switch (payload.event) {
      case "JobCreated":
        return this.#enroll(jobId, log);
      case "RoundStarted":
        return this.#trainAndCommit(jobId, round, args.modelHash as string, args.modelCid as string, log, onProgress);
      case "PhaseStarted": {
        const status = Number(args.status);
        if (status === JobStatus.Revealing) return this.#reveal(jobId, round, log);
        if (status === JobStatus.Voting) return this.#aggregateAndVote(jobId, round, log);
        if (status === JobStatus.Evaluating) return this.#evaluate(jobId, round, log);
        return noted();
      }
      case "WorkerEnrolled":
        if ((args.worker as string).toLowerCase() === this.#me.toLowerCase()) this.watched.add(jobId);
        return noted();
      case "JobFinalized":
      case "JobCancelled":
        this.#forget(jobId);
        log.info("job closed");
        return noted();
      default:
        return noted();
    }
  }

  #forget(jobId: bigint): void {
    this.watched.delete(jobId);
    this.#materials.forget(jobId);
  }

  #skip(jobId: bigint, round: number, reason: string, log: Logger): TrainingOutcome {
    log.debug({ reason }, "skipped");
    return { jobId: jobId.toString(), round, status: "skipped", reason };
  }

  async #enroll(jobId: bigint, log: Logger): Promise<TrainingOutcome> {
    const { jobs, workerRegistry } = this.#o;
    if (!this.#o.roles.trainer) return this.#skip(jobId, 0, "not-trainer", log);
    if (!this.#o.autoEnroll) return this.#skip(jobId, 0, "auto-enroll-off", log);
    const [job, me, eligible] = await Promise.all([jobs.jobOf(jobId), jobs.participantOf(jobId, this.#me), workerRegistry.isEligible(this.#me, CAP_TRAIN)]);
    if (me.index !== 0n) {
      this.watched.add(jobId);
      return this.#skip(jobId, 0, "already-enrolled", log);
    }
    if (Number(job.status) !== JobStatus.Enrolling) return this.#skip(jobId, 0, "enrollment-closed", log);
    if (!eligible) return this.#skip(jobId, 0, "not-eligible", log);
    if (job.requester.toLowerCase() === this.#me.toLowerCase()) return this.#skip(jobId, 0, "own-job", log);
    // Enrolling bonds the stake to the job's deadlines: only for a job that pays for the work and whose inputs exist.
    const refusal = await admissionRefusal(await this.spec(jobId), {
      store: this.#o.store,
      dataRegistry: this.#o.dataRegistry,
      minPayPerRound: this.#o.minPayPerRound ?? 0n,
      fromBlock: this.#o.fromBlock ?? 0,
    });
    if (refusal !== undefined) {
      log.warn({ refusal }, "not enrolling: the job cannot pay for the work or its inputs cannot be obtained");
      return this.#skip(jobId, 0, `refused:${refusal}`, log);
    }
    return this.#send(jobId, 0, "enrolled", "enroll", [jobId], log, undefined, () => this.watched.add(jobId));
  }

  async #trainAndCommit(
    jobId: bigint,
    round: number,
    modelHash: string,
    modelCidBytes: string,
    log: Logger,
    onProgress?: (p: TrainingProgress) => Promise<void>,
  ): Promise<TrainingOutcome> {
    if (!this.#o.roles.trainer) return this.#skip(jobId, round, "not-trainer", log);
    const { jobs } = this.#o;
    const [job, me] = await Promise.all([jobs.jobOf(jobId), jobs.participantOf(jobId, this.#me)]);
    if (me.index === 0n) return this.#skip(jobId, round, "not-participant", log);
    if (me.dropped) return this.#skip(jobId, round, "dropped", log);
    this.watched.add(jobId);
    if (Number(job.status) !== JobStatus.Committing || Number(job.round) !== round) return this.#skip(jobId, round, "phase-over", log);
    if (Number(me.committedRound) >= round) return this.#skip(jobId, round, "already-committed", log);

    const key = this.#recordKey(jobId, round);
    let record = await this.#readRecord(key);
    if (record === undefined) {
      const spec = await this.spec(jobId);
      const slices = partitionOf(spec.datasets, spec.workersPerRound, Number(me.index) - 1);
      const data = await this.#materials.partition(spec, slices);
      if (data.count === 0) throw new UnrecoverableError(`job ${jobId}: partition ${Number(me.index) - 1} holds no samples`);
      const objective = objectiveOf(await this.#materials.manifest(spec.manifestCid));
      const model = await this.#materials.globalModel(spec, round, modelHash, modelCidBytes);
      try {
        log.info({ samples: data.count, epochs: spec.localEpochs, batchSize: spec.batchSize, learningRate: spec.learningRate }, "training the round's update");
        const result = await trainModel(model, data, {
          epochs: spec.localEpochs,
          batchSize: spec.batchSize,
          learningRate: spec.learningRate,
          optimizer: "sgd",
          objective,
          seed: round * 7_919 + Number(me.index),
          onEpoch: async (epoch, m: EpochMetrics) => {
            log.info({ epoch: epoch + 1, loss: m.loss, accuracy: m.accuracy, samplesPerSecond: Math.round(m.samplesPerSecond) }, "epoch done");
            await onProgress?.({
              jobId: jobId.toString(),
              round,
              epoch: epoch + 1,
              epochs: spec.localEpochs,
              loss: m.loss,
              accuracy: m.accuracy,
              samples: data.count,
              samplesPerSecond: m.samplesPerSecond,
            });
          },
        });
        const values = flattenWeights(model).values;
        const bytes = weightsToBytes(values);
        const last = result.history[result.history.length - 1];
        record = {
          updateCid: await this.#o.store.add(bytes),
          updateHash: weightsHash(values),
          samples: data.count,
          salt: hexlify(randomBytes(32)),
          loss: last?.loss ?? Number.NaN,
          accuracy: last?.accuracy ?? Number.NaN,
          samplesPerSecond: result.samplesPerSecond,
        };
      } finally {
        model.dispose();
      }
      // The opening is stored before the commitment is sent: a process that dies after the send can still reveal.
      await this.#o.redis.set(key, JSON.stringify(record), "EX", 30 * 24 * 3600);
    }
    const commitment = updateCommitment(record.updateCid, record.updateHash, record.samples, record.salt, this.#me);
    return this.#send(jobId, round, "committed", "commitUpdate", [jobId, commitment], log, {
      detail: `update ${record.updateCid}, ${record.samples} samples, loss ${record.loss.toFixed(4)}, accuracy ${record.accuracy.toFixed(4)}, ${Math.round(record.samplesPerSecond)} samples/s`,
    });
  }

  async #reveal(jobId: bigint, round: number, log: Logger): Promise<TrainingOutcome> {
    if (!this.#o.roles.trainer) return this.#skip(jobId, round, "not-trainer", log);
    const { jobs } = this.#o;
    const [job, me] = await Promise.all([jobs.jobOf(jobId), jobs.participantOf(jobId, this.#me)]);
    if (me.index === 0n || me.dropped) return this.#skip(jobId, round, me.index === 0n ? "not-participant" : "dropped", log);
    if (Number(job.status) !== JobStatus.Revealing || Number(job.round) !== round) return this.#skip(jobId, round, "phase-over", log);
    if (Number(me.committedRound) < round) return this.#skip(jobId, round, "not-committed", log);
    if (Number(me.revealedRound) >= round) return this.#skip(jobId, round, "already-revealed", log);
    const record = await this.#readRecord(this.#recordKey(jobId, round));
    if (record === undefined) throw new UnrecoverableError(`job ${jobId} round ${round}: committed, but the opening is not in Redis (lost data)`);
    return this.#send(jobId, round, "revealed", "revealUpdate", [jobId, cidToBytes(record.updateCid), record.updateHash, record.samples, record.salt], log);
  }

  async #aggregateAndVote(jobId: bigint, round: number, log: Logger): Promise<TrainingOutcome> {
    if (!this.#o.roles.trainer) return this.#skip(jobId, round, "not-trainer", log);
    const { jobs, store } = this.#o;
    const [job, me] = await Promise.all([jobs.jobOf(jobId), jobs.participantOf(jobId, this.#me)]);
    if (me.index === 0n || me.dropped) return this.#skip(jobId, round, me.index === 0n ? "not-participant" : "dropped", log);
    if (Number(job.status) !== JobStatus.Voting || Number(job.round) !== round) return this.#skip(jobId, round, "phase-over", log);
    if (Number(me.revealedRound) < round) return this.#skip(jobId, round, "not-revealed", log);
    if (Number(me.votedRound) >= round) return this.#skip(jobId, round, "already-voted", log);
    const spec = await this.spec(jobId);
    const [revealed, workers] = await Promise.all([
      jobs.queryFilter(jobs.filters.UpdateRevealed(jobId, round), spec.createdBlock),
      jobs.workersOf(jobId),
    ]);
    const partitionOfWorker = new Map(workers.map((w, i) => [w.toLowerCase(), i]));
    const cidsOf = new Map<string, number>();
    const unreadable = new Set<string>();
    const updates: ClientUpdate[] = [];
    const manifest = await this.#materials.manifest(spec.manifestCid);
    const modelValues = manifest.weightSpecs.reduce((sum, w) => sum + sizeOf(w.shape), 0);
    for (const event of revealed) {
      const cid = cidFromBytes(event.args.updateCid);
      cidsOf.set(cid, partitionOfWorker.get(event.args.worker.toLowerCase())!);
      const verdict = screenRevealedUpdate({
        bytes: await store.get(cid),
        revealedHash: event.args.updateHash,
        claimedSamples: Number(event.args.sampleCount),
        expectedSamples: partitionSamples(spec, cidsOf.get(cid)!),
        modelValues,
      });
      if (!verdict.ok) {
        // Every honest worker reaches the same verdict: the update is excluded (and so not paid) by all alike.
        log.warn({ worker: event.args.worker, cid, why: verdict.why }, "revealed update excluded");
        unreadable.add(cid);
        continue;
      }
      updates.push({ key: cid, weights: verdict.weights, samples: partitionSamples(spec, cidsOf.get(cid)!) });
    }
    const global = spec.rule.kind === "screened-fedavg" ? weightsFromBytes(await this.#materials.globalWeightData(spec, round)) : undefined;
    const { weights: aggregate, excludedCids } = aggregateRound(updates, spec, global);
    const excludedMask = exclusionMask([...unreadable, ...excludedCids], cidsOf);
    const aggregateHash = weightsHash(aggregate);
    const aggregateCid = await store.add(weightsToBytes(aggregate));
    log.info(
      { updates: updates.length, excluded: excludedMask.toString(2), aggregateHash, aggregateCid, rule: spec.rule.kind },
      "aggregated the round's updates",
    );
    return this.#send(jobId, round, "voted", "voteAggregate", [jobId, round, aggregateHash, cidToBytes(aggregateCid), excludedMask], log, {
      gasLimit: VOTE_GAS_LIMIT,
      detail: `${updates.length} updates -> ${aggregateCid}${excludedMask === 0n ? "" : `, excluded mask 0b${excludedMask.toString(2)}`}`,
    });
  }

  async #evaluate(jobId: bigint, round: number, log: Logger): Promise<TrainingOutcome> {
    if (!this.#o.roles.evaluator) return this.#skip(jobId, round, "not-evaluator", log);
    const { jobs, workerRegistry } = this.#o;
    const [job, me, eligible, evaluations] = await Promise.all([
      jobs.jobOf(jobId),
      jobs.participantOf(jobId, this.#me),
      workerRegistry.isEligible(this.#me, CAP_VALIDATE),
      jobs.evaluationsOf(jobId),
    ]);
    if (Number(job.status) !== JobStatus.Evaluating) return this.#skip(jobId, round, "phase-over", log);
    if (!eligible) return this.#skip(jobId, round, "not-validator", log);
    if (me.index !== 0n || job.requester.toLowerCase() === this.#me.toLowerCase()) return this.#skip(jobId, round, "conflict-of-interest", log);
    if (evaluations.some((e) => e.validator.toLowerCase() === this.#me.toLowerCase())) return this.#skip(jobId, round, "already-evaluated", log);
    if (Number(job.evaluations) >= Number(job.evaluators)) return this.#skip(jobId, round, "evaluations-complete", log);
    this.watched.add(jobId);
    const spec = await this.spec(jobId);
    const result = await jobs.roundResultOf(jobId, spec.rounds);
    const model = await this.#materials.globalModel(spec, spec.rounds + 1, result.aggregateHash, result.aggregateCid);
    let scored: Evaluation;
    try {
      scored = await evaluate(model, await this.#materials.evalSet(spec), { objective: objectiveOf(await this.#materials.manifest(spec.manifestCid)) });
    } finally {
      model.dispose();
    }
    // The on-chain "accuracy" is the job's score (accuracy, AUC, or 1/(1+MAE)); the contract refuses one above 100 %,
    // and an unscorable model (NaN) scores 0.
    const accuracy = Number.isFinite(scored.score) ? Math.min(1_000_000, toMicros(scored.score)) : 0;
    const loss = toMicros(scored.loss);
    log.info({ metric: scored.metric, value: scored.value, score: scored.score, loss: scored.loss }, "scored the final model");
    const outcome = await this.#send(jobId, round, "evaluated", "postEvaluation", [jobId, accuracy, loss], log, {
      detail: `${scored.metric} ${scored.value.toFixed(4)}, loss ${scored.loss.toFixed(4)}`,
    });
    if (outcome.status === "evaluated") {
      const after = await jobs.jobOf(jobId);
      if (Number(after.status) === JobStatus.Evaluating && Number(after.evaluations) >= Number(after.evaluators)) {
        const finalized = await this.finalize(jobId, log);
        if (finalized.status === "finalized") return { ...outcome, detail: `${outcome.detail}; finalized in ${finalized.txHash}` };
      }
    }
    return outcome;
  }

  /** Closes the evaluation (anyone may, once all evaluations are in or the deadline passed with at least three). */
  finalize(jobId: bigint, log: Logger = this.#logger): Promise<TrainingOutcome> {
    return this.#send(jobId, 0, "finalized", "finalize", [jobId], log, { gasLimit: FINALIZE_GAS_LIMIT });
  }

  /** Drops the laggards of a phase whose deadline passed (anyone may; see TrainingJobs.advance). */
  advance(jobId: bigint, round: number, log: Logger = this.#logger): Promise<TrainingOutcome> {
    return this.#send(jobId, round, "advanced", "advance", [jobId], log, { gasLimit: VOTE_GAS_LIMIT });
  }

  /** Cancels a job that cannot go on (see TrainingJobs.cancel). */
  cancel(jobId: bigint, round: number, log: Logger = this.#logger): Promise<TrainingOutcome> {
    return this.#send(jobId, round, "cancelled", "cancel", [jobId], log, { gasLimit: FINALIZE_GAS_LIMIT });
  }

  async #send(
    jobId: bigint,
    round: number,
    status: TrainingAction,
    method: string,
    args: readonly unknown[],
    log: Logger,
    extra: { gasLimit?: bigint; detail?: string } = {},
    onSent?: () => void,
  ): Promise<TrainingOutcome> {
    try {
      const sent = await this.#o.txSender.send(this.#o.jobs, method, args, { gasLimit: extra.gasLimit ?? DEFAULT_GAS_LIMIT });
      onSent?.();
      log.info({ method, txHash: sent.hash, gasUsed: sent.gasUsed.toString(), detail: extra.detail }, `${method} sent`);
      return {
        jobId: jobId.toString(),
        round,
        status,
        txHash: sent.hash,
        gasUsed: sent.gasUsed.toString(),
        ...(extra.detail === undefined ? {} : { detail: extra.detail }),
      };
    } catch (err) {
      const name = err instanceof ContractRevertError ? err.revert?.name : undefined;
      if (name !== undefined && LOST_RACE.has(name)) return this.#skip(jobId, round, `lost-race:${name}`, log);
      throw err;
    }
  }

  #recordKey(jobId: bigint, round: number): string {
    return `${this.#o.keyPrefix}:${this.#me.toLowerCase()}:${jobId}:${round}`;
  }

  async #readRecord(key: string): Promise<CommitRecord | undefined> {
    const raw = await this.#o.redis.get(key);
    return raw === null ? undefined : (JSON.parse(raw) as CommitRecord);
  }

}

/** A metric in the contract's 1e-6 units, clamped to uint32. */
function toMicros(value: number): number {
  if (!Number.isFinite(value) || value < 0) return 0xffff_ffff;
  return Math.min(0xffff_ffff, Math.round(value * 1e6));
}
