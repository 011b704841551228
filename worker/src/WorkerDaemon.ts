import { join } from "node:path";
import { FileDatasetKeyring } from "./data/DatasetKeyring.js";
import type { Job, Queue, Worker } from "bullmq";
import type { Provider, Signer } from "ethers";
import type { Redis } from "ioredis";
import {
  InferenceMarket__factory,
  ModelRegistry__factory,
  TrainingJobs__factory,
  WorkerRegistry__factory,
} from "../../typechain-types/index.js";
import { ChainListener, type ChainListenerStats, type ReorgDetected } from "./chain/ChainListener.js";
import { AccountNonceManager } from "./chain/AccountNonceManager.js";
import { defaultConfirmations } from "./chain/ConfirmationDepth.js";
import { QueuedEventsListener } from "./chain/QueuedEventsListener.js";
import type { EventPayload } from "./chain/EventPayload.js";
import { TxSender } from "./chain/TxSender.js";
import { batchesInFlight, type Config } from "./config.js";
import { DataEventsListener } from "./data/DataEventsListener.js";
import { ValidationService } from "./data/ValidationService.js";
import type { Deployment } from "./Deployment.js";
import { NotYetError, TesseraError } from "./errors.js";
import { traceStages, type BatchTrace } from "./inference/BatchTrace.js";
import { InferenceProcessor, type InferenceOutcome } from "./inference/InferenceProcessor.js";
import { parsePendingInference, type PendingInference } from "./inference/PendingInference.js";
import { MicroBatcher } from "./inference/MicroBatcher.js";
import type { ContentStore } from "./ipfs/ContentStore.js";
import { ServiceGroup } from "./lifecycle/ServiceGroup.js";
import type { Service } from "./lifecycle/Service.js";
import { silentLogger, type Logger } from "./logger.js";
import { ModelCache } from "./ml/ModelCache.js";
import { createQueue, createWorker } from "./queue/QueueFactory.js";
import { QueueNames } from "./queue/QueueNames.js";
import { createRedisConnection } from "./redis/RedisConnection.js";
import { nonceLockKey, RedisNonceLock } from "./chain/RedisNonceLock.js";
import { shardHostService, shardRouterFor } from "./shards/ShardServices.js";
import { TRAINING_EVENTS } from "./training/TrainingProcessor.js";
import { TRAINING_JOBS_SOURCE, TrainingService } from "./training/TrainingService.js";

export interface WorkerDaemonOptions {
  readonly config: Config;
  readonly deployment: Deployment;
  readonly provider: Provider;
  /** The worker's key, connected to `provider`. */
  readonly signer: Signer;
  readonly redisUrl: string;
  readonly store: ContentStore;
  /**
   * One operator runs one listener and any number of processors (on any hosts) sharing one
   * Redis. Both are on by default.
   */
  readonly roles?: {
    readonly listener?: boolean;
    readonly processor?: boolean;
    readonly validator?: boolean;
    readonly trainer?: boolean;
    readonly evaluator?: boolean;
    /** Serves the shards this worker announced (SHARD_HOST_PORT). */
    readonly shardHost?: boolean;
  };
  /** The encryption private key (TESSERA_ENCRYPTION_KEY); required with the validator and trainer roles. */
  readonly encryptionPrivateKey?: string;
  readonly logger?: Logger;
}

/** A request as the batcher holds it: the event, and when it was enqueued (listener) and taken (this process). */
interface QueuedInference {
  readonly pending: PendingInference;
  readonly enqueuedAt: number;
  readonly pickedAt: number;
}

export interface WorkerDaemonStats {
  readonly listener: ChainListener["stats"] | undefined;
  readonly outcomes: Readonly<Record<string, number>>;
  readonly batches: number;
  readonly dataListener: ChainListener["stats"] | undefined;
  readonly validation: Readonly<Record<string, number>> | undefined;
  readonly trainingListener: ChainListener["stats"] | undefined;
  readonly training: Readonly<Record<string, number>> | undefined;
}

/**
 * The worker daemon: ChainListener (contract events -> BullMQ) and the inference processor
 * (BullMQ -> claimBatch -> tfjs -> fulfillBatch), built from one config. `start()` / `stop()`
 * follow the Service contract, in dependency order: stop halts intake first (every chain
 * listener), then drains the consumers (their in-flight jobs finish, transactions included), then
 * closes the producer queue and its Redis connection, each in its own try/catch.
 */
export class WorkerDaemon implements Service {
  readonly name = "worker-daemon";
  readonly #o: WorkerDaemonOptions;
  readonly #logger: Logger;
  readonly #group: ServiceGroup;
  readonly #outcomes: Record<string, number> = {};
  #batches = 0;
  #listener: ChainListener | undefined;
  #dataListener: DataEventsListener | undefined;
  #validation: ValidationService | undefined;
  #trainingListener: QueuedEventsListener | undefined;
  #training: TrainingService | undefined;
  /** Blocks behind the head for the listeners, and depth of the worker's own transactions before a job is done. */
  readonly confirmations: number;

  constructor(options: WorkerDaemonOptions) {
    this.#o = options;
    this.#logger = options.logger ?? silentLogger;
    this.confirmations = options.config.confirmations ?? defaultConfirmations(options.deployment.chainId);
    this.#group = new ServiceGroup("worker-daemon", this.#buildServices(), { logger: this.#logger });
  }

  get stats(): WorkerDaemonStats {
    return {
      listener: this.#listener?.stats,
      outcomes: { ...this.#outcomes },
      batches: this.#batches,
      dataListener: this.#dataListener?.stats,
      validation: this.#validation?.outcomes,
      trainingListener: this.#trainingListener?.stats,
      training: this.#training?.outcomes,
    };
  }

  /** Every chain listener of this daemon with its stats (cursor, lag, reorgs), for health and metrics. */
  get listeners(): { readonly name: string; readonly stats: ChainListenerStats | undefined }[] {
    const out: { name: string; stats: ChainListenerStats | undefined }[] = [];
    if (this.#o.roles?.listener !== false) out.push({ name: "chain-listener", stats: this.#listener?.stats });
    if (this.#dataListener !== undefined) out.push({ name: this.#dataListener.name, stats: this.#dataListener.stats });
    if (this.#trainingListener !== undefined) out.push({ name: this.#trainingListener.name, stats: this.#trainingListener.stats });
    return out;
  }

  /** The trainer/evaluator service, when this daemon runs one. */
  get training(): TrainingService | undefined {
    return this.#training;
  }

  async start(): Promise<void> {
    // Every role's transactions (votes, commits, claims, fulfilments) are done only once this deep.
    const account = await AccountNonceManager.of(this.#o.signer);
    account.configure({ confirmations: this.confirmations, replaceAfterMs: this.#o.config.txReplaceAfterMs });
    return this.#group.start();
  }

  stop(): Promise<void> {
    return this.#group.stop();
  }

  #buildServices(): Service[] {
    const { config, deployment, provider, signer, redisUrl, store } = this.#o;
    const logger = this.#logger;
    const roles = { listener: true, processor: true, ...this.#o.roles };
    const market = InferenceMarket__factory.connect(deployment.contracts.InferenceMarket, signer);
    const services: Service[] = [];
    /** Listeners: stopped first (no new jobs), started last. */
    const intake: Service[] = [];

    // A shard host serves stages to other workers' pipelines: started first, stopped last (their stages finish).
    let shardHost: ReturnType<typeof shardHostService> = undefined;
    if (roles.shardHost === true) {
      if (config.shardHostPort === undefined) throw new TesseraError("the shard-host role needs SHARD_HOST_PORT (the port its announced endpoint reaches)", { code: "CONFIG" });
      shardHost = shardHostService({ config, deployment, provider, signer, store, logger });
      if (shardHost === undefined) throw new TesseraError("the shard-host role needs a deployment with a ShardRegistry (redeploy with `npx hardhat tessera deploy`)", { code: "CONFIG" });
      services.push(shardHost);
    }

    // Processor processes of one operator on other hosts sign with the same key: one nonce at a time across them.
    let nonceRedis: Redis | undefined;
    let nonceLock: RedisNonceLock | undefined;
    services.push({
      name: "nonce-lock",
      start: async () => {
        nonceRedis = createRedisConnection(redisUrl, { connectionName: "tessera-nonce-lock" });
        const account = await AccountNonceManager.of(signer);
        const genesis = await provider.getBlock(0);
        if (genesis?.hash == null) throw new Error("the chain's genesis block is not available (needed to name its nonce lock)");
        nonceLock = new RedisNonceLock(nonceRedis, nonceLockKey(config.queuePrefix, deployment.chainId, genesis.hash, account.address));
        account.shareAcrossProcesses(nonceLock);
      },
      stop: async () => {
        if (nonceLock !== undefined) (await AccountNonceManager.of(signer)).unshare(nonceLock);
        nonceRedis?.disconnect();
      },
    });

    let producer: Redis | undefined;
    let queue: Queue | undefined;
    services.push({
      name: "queue",
      start: async () => {
        producer = createRedisConnection(redisUrl, { connectionName: "tessera-producer" });
        queue = createQueue(QueueNames.chainEvents, producer, { prefix: config.queuePrefix });
        await queue.waitUntilReady();
      },
      stop: async () => {
        try {
          await queue?.close();
        } finally {
          producer?.disconnect();
        }
      },
    });

    if (roles.listener) {
      intake.push({
        name: "chain-listener",
        start: async () => {
          this.#listener = new ChainListener({
            provider,
            sources: [{ name: "InferenceMarket", contract: market, events: ["InferenceRequested"] }],
            queue: queue!,
            redis: producer!,
            cursorKey: `${config.queuePrefix}:cursor:${deployment.chainId}:${deployment.contracts.InferenceMarket.toLowerCase()}`,
            startBlock: deployment.startBlock,
            confirmations: this.confirmations,
            blockRange: config.blockRange,
            replayBlocks: config.reorgReplayBlocks,
            pollIntervalMs: config.pollIntervalMs,
            logger: logger.child({ service: "chain-listener" }),
          });
          this.#listener.on("reorg", this.#resyncNonceOnReorg);
          await this.#listener.start();
        },
        stop: async () => this.#listener?.stop(),
      });
    }

    services.push(...this.#dataServices(roles, intake));
    services.push(...this.#trainingServices(roles, intake));

    if (roles.processor) {
      let consumer: Redis | undefined;
      let worker: Worker | undefined;
      let batcher: MicroBatcher<QueuedInference, InferenceOutcome> | undefined;
      const models = new ModelCache(store);
      const batchLog = logger.child({ service: "inference" });
      let shardRouting: ReturnType<typeof shardRouterFor>;
      services.push({
        name: "inference-processor",
        start: async () => {
          const workerAddress = await signer.getAddress();
          // A worker that also hosts shards runs their stages itself, with no hop (LocalFirstStages).
          shardRouting = shardRouterFor({ deployment, provider, signer, logger, config, self: workerAddress, localRunner: () => shardHost?.runner });
          const processor = new InferenceProcessor({
            market,
            modelRegistry: ModelRegistry__factory.connect(deployment.contracts.ModelRegistry, provider),
            workerRegistry: WorkerRegistry__factory.connect(deployment.contracts.WorkerRegistry, provider),
            txSender: new TxSender({
              signer,
              interfaces: [market.interface, WorkerRegistry__factory.createInterface(), ModelRegistry__factory.createInterface()],
              logger: logger.child({ service: "tx-sender" }),
            }),
            provider,
            store,
            models,
            workerAddress,
            claimMode: config.claimMode,
            ...(shardRouting === undefined ? {} : { shardRouter: shardRouting.router }),
            logger: logger.child({ service: "inference" }),
          });
          const maxInFlight = batchesInFlight(config);
          batcher = new MicroBatcher({
            maxSize: config.batchMaxSize,
            maxWaitMs: config.batchMaxWaitMs,
            idleWaitMs: config.batchIdleWaitMs,
            maxInFlight,
            handle: async (items) => {
              this.#batches += 1;
              const trace: BatchTrace = { formedAt: Date.now() };
              // The pipeline as this batch found it: other batches in flight, and requests left waiting.
              const pipeline = { inFlight: batcher!.inFlight, waiting: batcher!.waiting };
              const outcomes = await processor.processBatch(items.map((i) => i.pending), trace);
              for (const o of outcomes) {
                const key = o.status === "fulfilled" ? o.status : `skipped:${o.reason}`;
                this.#outcomes[key] = (this.#outcomes[key] ?? 0) + 1;
              }
              batchLog.info(
                {
                  size: items.length,
                  fulfilled: outcomes.filter((o) => o.status === "fulfilled").length,
                  ...pipeline,
                  ...traceStages(trace),
                  // Per request, for end-to-end traces: its id, when the listener enqueued it and when this process took it.
                  requestIds: items.map((i) => i.pending.requestId.toString()),
                  enqueuedAt: items.map((i) => i.enqueuedAt),
                  pickedAt: items.map((i) => i.pickedAt),
                  trace,
                },
                "batch timings",
              );
              return outcomes;
            },
          });
          consumer = createRedisConnection(redisUrl, { forWorker: true, connectionName: "tessera-consumer" });
          worker = createWorker<EventPayload, InferenceOutcome>(
            QueueNames.chainEvents,
            async (job: Job<EventPayload, InferenceOutcome>) => {
              const pickedAt = Date.now();
              const pending = parsePendingInference(job.data, market.interface);
              const outcome = await batcher!.submit({ pending, enqueuedAt: job.timestamp, pickedAt });
              if (outcome.status === "skipped" && outcome.recheckInMs !== undefined) {
                // Held by another worker until before its deadline: if that claim lapses, the request still gets served.
                throw new NotYetError(`request ${outcome.requestId} is held by another worker (${outcome.reason}): looking again in ${outcome.recheckInMs} ms`, outcome.recheckInMs, {
                  code: "HELD_BY_OTHER",
                });
              }
              logger.debug({ jobId: job.id, requestId: outcome.requestId, outcome: outcome.status }, "job done");
              return outcome;
            },
            consumer,
            {
              prefix: config.queuePrefix,
              // Jobs wait in the batcher while it fills: room for every batch in flight, full.
              concurrency: Math.max(config.workerConcurrency, config.batchMaxSize * maxInFlight),
              lockDurationMs: config.jobLockMs,
            },
          );
          worker.on("failed", (job, err) => logger.error({ jobId: job?.id, err: err.message }, "job failed"));
          await worker.waitUntilReady();
        },
        stop: async () => {
          try {
            await worker?.close(); // stops taking jobs, waits for the active ones
          } finally {
            try {
              await batcher?.drain();
            } finally {
              models.clear();
              shardRouting?.close();
              consumer?.disconnect();
            }
          }
        },
      });
    }
    // Stopped in reverse: the listeners, then the consumers drain, then the producer queue.
    return [...services, ...intake];
  }

  /** What every queued-events listener of this operator shares: chain, Redis, prefix, scanning settings. */
  #listenerOptions() {
    const { config, deployment, provider, redisUrl } = this.#o;
    return {
      provider,
      chainId: deployment.chainId,
      redisUrl,
      queuePrefix: config.queuePrefix,
      startBlock: deployment.startBlock,
      confirmations: this.confirmations,
      blockRange: config.blockRange,
      replayBlocks: config.reorgReplayBlocks,
      pollIntervalMs: config.pollIntervalMs,
      onReorg: this.#resyncNonceOnReorg,
      logger: this.#logger,
    };
  }

  /**
   * A reorg or a node rolled back may have taken this key's transactions with it: the nonce carried with the
   * cross-process lock would then sit above the chain's, and every send would wait in the pool behind the gap.
   * Every listener of the daemon calls this when it finds its cursor off the chain.
   */
  readonly #resyncNonceOnReorg = (d: ReorgDetected): void => {
    void AccountNonceManager.of(this.#o.signer).then((account) =>
      account.resync(`the chain changed under a listener (${d.kind}, back to block ${d.rewoundTo})`),
    );
  };

  /**
   * The TrainingJobs side, when the deployment has one: its listener (`training-events` queue)
   * with the listener role, and the TrainingService with the trainer and/or evaluator roles.
   */
  #trainingServices(roles: { listener?: boolean; trainer?: boolean; evaluator?: boolean }, intake: Service[]): Service[] {
    const { config, deployment, provider, signer, redisUrl, store } = this.#o;
    const address = deployment.contracts.TrainingJobs;
    const wantsTraining = roles.trainer === true || roles.evaluator === true;
    if (wantsTraining && (address === undefined || deployment.contracts.DataRegistry === undefined)) {
      throw new TesseraError("the trainer and evaluator roles need a deployment with TrainingJobs (ignition/modules/TesseraTraining.ts)", { code: "CONFIG" });
    }
    if (roles.trainer === true && this.#o.encryptionPrivateKey === undefined) {
      throw new TesseraError("the trainer role needs TESSERA_ENCRYPTION_KEY (dataset keys are shared to it)", { code: "CONFIG" });
    }
    if (address === undefined) return [];
    const services: Service[] = [];
    if (roles.listener) {
      this.#trainingListener = new QueuedEventsListener({
        queueName: QueueNames.trainingEvents,
        source: TRAINING_JOBS_SOURCE,
        address,
        contractInterface: TrainingJobs__factory.createInterface(),
        events: TRAINING_EVENTS,
        ...this.#listenerOptions(),
      });
      intake.push(this.#trainingListener);
    }
    if (wantsTraining) {
      this.#training = new TrainingService({
        trainingJobs: address,
        dataRegistry: deployment.contracts.DataRegistry!,
        workerRegistry: deployment.contracts.WorkerRegistry,
        modelRegistry: deployment.contracts.ModelRegistry,
        chainId: deployment.chainId,
        signer,
        provider,
        ...(this.#o.encryptionPrivateKey === undefined ? {} : { encryptionPrivateKey: this.#o.encryptionPrivateKey }),
        // The dataset keys a trainer opened, kept (sealed to it) in its data directory for this deployment.
        ...(this.#o.encryptionPrivateKey === undefined
          ? {}
          : { datasetKeyring: new FileDatasetKeyring(join(config.dataDir, "dataset-keys", `${deployment.chainId}-${deployment.contracts.DataRegistry!.toLowerCase()}`), this.#o.encryptionPrivateKey) }),
        store,
        redisUrl,
        queuePrefix: config.queuePrefix,
        roles: { trainer: roles.trainer === true, evaluator: roles.evaluator === true },
        autoEnroll: config.trainingAutoEnroll,
        minPayPerRound: config.trainingMinPayPerRound,
        fromBlock: deployment.startBlock,
        concurrency: config.trainingConcurrency,
        lockDurationMs: config.jobLockMs,
        keeperIntervalMs: config.keeperIntervalMs,
        logger: this.#logger,
      });
      services.push(this.#training);
    }
    return services;
  }

  /**
   * The DataRegistry's side, when the deployment has one: its listener (queue and cursor of its
   * own) with the listener role, and the validator consuming that queue with the validator role.
   */
  #dataServices(roles: { listener?: boolean; validator?: boolean }, intake: Service[]): Service[] {
    const { config, deployment, provider, signer, redisUrl, store } = this.#o;
    const registryAddress = deployment.contracts.DataRegistry;
    const logger = this.#logger;
    const services: Service[] = [];
    if (roles.validator && (registryAddress === undefined || this.#o.encryptionPrivateKey === undefined)) {
      throw new TesseraError(
        registryAddress === undefined ? "the validator role needs a deployment with a DataRegistry" : "the validator role needs TESSERA_ENCRYPTION_KEY",
        { code: "CONFIG" },
      );
    }
    if (registryAddress === undefined) return services;
    if (roles.listener) {
      this.#dataListener = new DataEventsListener({
        dataRegistry: registryAddress,
        ...this.#listenerOptions(),
      });
      intake.push(this.#dataListener);
    }
    if (roles.validator) {
      this.#validation = new ValidationService({
        dataRegistry: registryAddress,
        chainId: deployment.chainId,
        signer,
        provider,
        encryptionPrivateKey: this.#o.encryptionPrivateKey!,
        store,
        redisUrl,
        queuePrefix: config.queuePrefix,
        fromBlock: deployment.startBlock,
        lockDurationMs: config.jobLockMs,
        logger,
      });
      services.push(this.#validation);
    }
    return services;
  }
}
