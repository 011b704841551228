import type { DatasetKeyring } from "../data/DatasetKeyring.js";
import type { Job, Worker } from "bullmq";
import type { Provider, Signer } from "ethers";
import type { Redis } from "ioredis";
import {
  DataRegistry__factory,
  ModelRegistry__factory,
  TrainingJobs__factory,
  WorkerRegistry__factory,
} from "../../../typechain-types/index.js";
import type { EventPayload } from "../chain/EventPayload.js";
import { TxSender } from "../chain/TxSender.js";
import { UnrecoverableError } from "../errors.js";
import type { ContentStore } from "../ipfs/ContentStore.js";
import { OutcomeLog } from "../lifecycle/OutcomeLog.js";
import type { Service } from "../lifecycle/Service.js";
import { silentLogger, type Logger } from "../logger.js";
import { createWorker } from "../queue/QueueFactory.js";
import { QueueNames } from "../queue/QueueNames.js";
import { createRedisConnection } from "../redis/RedisConnection.js";
import { JobStatus } from "./TrainingJobSpec.js";
import { TRAINING_EVENTS, TrainingProcessor, type TrainingOutcome } from "./TrainingProcessor.js";

/** TrainingJobs.MIN_EVALUATORS: fewer evaluations cannot be finalized (a median one evaluator could move); the job is cancelled. */
const MIN_EVALUATIONS = 3;


/** The listener source name the training jobs carry. */
export const TRAINING_JOBS_SOURCE = "TrainingJobs";

export interface TrainingServiceOptions {
  readonly trainingJobs: string;
  readonly dataRegistry: string;
  readonly workerRegistry: string;
  readonly modelRegistry: string;
  readonly chainId: number;
  /** The worker's key, connected to `provider`. */
  readonly signer: Signer;
  readonly provider: Provider;
  readonly encryptionPrivateKey?: string;
  /** Keeps the dataset keys the trainer opened, across restarts (DatasetKeyring.ts). */
  readonly datasetKeyring?: DatasetKeyring;
  readonly store: ContentStore;
  readonly redisUrl: string;
  readonly queuePrefix: string;
  readonly roles: { readonly trainer: boolean; readonly evaluator: boolean };
  readonly autoEnroll: boolean;
  /** Least pay (wei) per round's update for a job to be worth enrolling in; default 0 (any job that pays). */
  readonly minPayPerRound?: bigint;
  readonly fromBlock?: number;
  /** Jobs handled at once (a training round holds its job for minutes). Default 2. */
  readonly concurrency?: number;
  readonly lockDurationMs?: number;
  /** How often the keeper checks the deadlines of this worker's jobs. 0 turns it off. Default 15 s. */
  readonly keeperIntervalMs?: number;
  readonly logger?: Logger;
}

/**
 * The trainer and evaluator roles: consumes the `training-events` queue (TrainingJobs events
 * enqueued by the operator's listener) through the TrainingProcessor, with the training progress
 * on each BullMQ job. A keeper moves this worker's jobs past deadlines others let pass: it drops
 * laggards (`advance`), closes evaluations (`finalize`) and cancels jobs that cannot go on.
 */
export class TrainingService implements Service {
  readonly name = "training-service";
  readonly #o: TrainingServiceOptions;
  readonly #logger: Logger;
  readonly #log = new OutcomeLog<TrainingOutcome>();
  #redis: Redis | undefined;
  #consumer: Redis | undefined;
  #worker: Worker<EventPayload, TrainingOutcome> | undefined;
  #processor: TrainingProcessor | undefined;
  #keeper: NodeJS.Timeout | undefined;
  #keeping = false;

  constructor(options: TrainingServiceOptions) {
    this.#o = options;
    this.#logger = (options.logger ?? silentLogger).child({ service: "training" });
  }

  /** Counts by outcome (`committed`, `voted`, `skipped:phase-over`, `keeper:advanced`…). */
  get outcomes(): Readonly<Record<string, number>> {
    return this.#log.counts;
  }

  get results(): readonly TrainingOutcome[] {
    return this.#log.results;
  }

  get failures(): readonly { jobId: string | undefined; error: string }[] {
    return this.#log.failures;
  }

  get processor(): TrainingProcessor {
    if (this.#processor === undefined) throw new Error("TrainingService: not started");
    return this.#processor;
  }

  async start(): Promise<void> {
    if (this.#worker !== undefined) return;
    const o = this.#o;
    const workerAddress = await o.signer.getAddress();
    const jobs = TrainingJobs__factory.connect(o.trainingJobs, o.provider);
    this.#redis = createRedisConnection(o.redisUrl, { connectionName: "tessera-trainer" });
    this.#processor = new TrainingProcessor({
      jobs,
      workerRegistry: WorkerRegistry__factory.connect(o.workerRegistry, o.provider),
      dataRegistry: DataRegistry__factory.connect(o.dataRegistry, o.provider),
      txSender: new TxSender({
        signer: o.signer,
        interfaces: [
          jobs.interface,
          WorkerRegistry__factory.createInterface(),
          DataRegistry__factory.createInterface(),
          ModelRegistry__factory.createInterface(),
        ],
        logger: this.#logger.child({ component: "tx-sender" }),
      }),
      provider: o.provider,
      store: o.store,
      redis: this.#redis,
      keyPrefix: `${o.queuePrefix}:train:${o.chainId}:${o.trainingJobs.toLowerCase()}`,
      workerAddress,
      ...(o.encryptionPrivateKey === undefined ? {} : { encryptionPrivateKey: o.encryptionPrivateKey }),
      ...(o.datasetKeyring === undefined ? {} : { datasetKeyring: o.datasetKeyring }),
      roles: o.roles,
      autoEnroll: o.autoEnroll,
      ...(o.minPayPerRound === undefined ? {} : { minPayPerRound: o.minPayPerRound }),
      ...(o.fromBlock === undefined ? {} : { fromBlock: o.fromBlock }),
      logger: this.#logger,
    });
    this.#consumer = createRedisConnection(o.redisUrl, { forWorker: true, connectionName: "tessera-trainer-consumer" });
    const processor = this.#processor;
    this.#worker = createWorker<EventPayload, TrainingOutcome>(
      QueueNames.trainingEvents,
      async (job: Job<EventPayload, TrainingOutcome>) => {
        const payload = job.data;
        if (payload.source !== TRAINING_JOBS_SOURCE || !(TRAINING_EVENTS as readonly string[]).includes(payload.event)) {
          throw new UnrecoverableError(`job ${job.id}: ${payload.source}.${payload.event} is not a training job`);
        }
        const outcome = await processor.process(payload, (progress) => job.updateProgress({ ...progress }));
        const key = outcome.status === "skipped" ? `skipped:${outcome.reason}` : outcome.status;
        if (outcome.status === "noted") this.#log.count(key);
        else this.#log.record(key, outcome);
        return outcome;
      },
      this.#consumer,
      {
        prefix: o.queuePrefix,
        concurrency: o.concurrency ?? 2,
        ...(o.lockDurationMs === undefined ? {} : { lockDurationMs: o.lockDurationMs }),
      },
    );
    this.#worker.on("failed", (job, err) => {
      this.#log.fail(job?.id, err.message);
      this.#logger.warn({ jobId: job?.id, attempt: job?.attemptsMade, err: err.message }, "training job failed");
    });
    await this.#worker.waitUntilReady();
    const interval = o.keeperIntervalMs ?? 15_000;
    if (interval > 0) {
      this.#keeper = setInterval(() => void this.#keep(), interval);
      this.#keeper.unref();
    }
    this.#logger.info({ worker: workerAddress, roles: o.roles, autoEnroll: o.autoEnroll }, "training service started");
  }

  async stop(): Promise<void> {
    if (this.#keeper !== undefined) clearInterval(this.#keeper);
    this.#keeper = undefined;
    const worker = this.#worker;
    this.#worker = undefined;
    try {
      await worker?.close(); // stops taking jobs, waits for the active ones
    } catch (err) {
      this.#logger.error({ err }, "closing the training worker failed");
    }
    this.#consumer?.disconnect();
    this.#redis?.disconnect();
    this.#consumer = undefined;
    this.#redis = undefined;
  }

  /** One keeper pass over the watched jobs (also callable directly, e.g. by tests). */
  async keep(): Promise<void> {
    await this.#keep();
  }

  async #keep(): Promise<void> {
    const processor = this.#processor;
    if (this.#keeping || processor === undefined) return;
    this.#keeping = true;
    try {
      const latest = await this.#o.provider.getBlock("latest");
      const now = BigInt(latest?.timestamp ?? 0);
      const jobs = TrainingJobs__factory.connect(this.#o.trainingJobs, this.#o.provider);
      for (const jobId of [...processor.watched]) {
        const job = await jobs.jobOf(jobId);
        const status = Number(job.status);
        if (status === JobStatus.Finalized || status === JobStatus.Cancelled) {
          processor.watched.delete(jobId);
          continue;
        }
        if (now <= job.deadline) continue;
        const round = Number(job.round);
        const log = this.#logger.child({ jobId: jobId.toString(), round, keeper: true });
        let outcome: TrainingOutcome;
        if (status === JobStatus.Committing || status === JobStatus.Revealing) {
          const done = Number(status === JobStatus.Committing ? job.committed : job.revealed);
          outcome = done >= 2 ? await processor.advance(jobId, round, log) : await processor.cancel(jobId, round, log);
        } else if (status === JobStatus.Evaluating && Number(job.evaluations) >= MIN_EVALUATIONS) {
          outcome = await processor.finalize(jobId, log);
        } else {
          outcome = await processor.cancel(jobId, round, log);
        }
        this.#log.record(`keeper:${outcome.status === "skipped" ? `skipped:${outcome.reason}` : outcome.status}`, outcome);
      }
    } catch (err) {
      this.#log.count("keeper:failed");
      this.#logger.warn({ err: (err as Error).message }, "keeper pass failed; the next one retries");
    } finally {
      this.#keeping = false;
    }
  }
}
