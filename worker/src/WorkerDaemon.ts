import { join } from "node:path";
import { FileDatasetKeyring } from "./data/DatasetKeyring.js";
import type { Queue } from "bullmq";
import type { Provider, Signer } from "ethers";
import type { Redis } from "ioredis";
import { InferenceMarket__factory, TrainingJobs__factory } from "../../typechain-types/index.js";
import { ChainListener, type ChainListenerStats, type ReorgDetected } from "./chain/ChainListener.js";
import { AccountNonceManager } from "./chain/AccountNonceManager.js";
import { defaultConfirmations } from "./chain/ConfirmationDepth.js";
import { QueuedEventsListener } from "./chain/QueuedEventsListener.js";
import type { Config } from "./config.js";
import { DataEventsListener } from "./data/DataEventsListener.js";
import { ValidationService } from "./data/ValidationService.js";
import type { Deployment } from "./Deployment.js";
import { TesseraError } from "./errors.js";
import { InferenceService } from "./inference/InferenceService.js";
import type { ContentStore } from "./ipfs/ContentStore.js";
import { ServiceGroup } from "./lifecycle/ServiceGroup.js";
import type { Service } from "./lifecycle/Service.js";
import { silentLogger, type Logger } from "./logger.js";
import { createQueue } from "./queue/QueueFactory.js";
import { QueueNames } from "./queue/QueueNames.js";
import { createRedisConnection } from "./redis/RedisConnection.js";
import { nonceLockKey, RedisNonceLock } from "./chain/RedisNonceLock.js";
import type { ShardRouterStats } from "./shards/ShardRouter.js";
import { shardHostService, type ShardHostStats } from "./shards/ShardServices.js";
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
  #listener: ChainListener | undefined;
  #dataListener: DataEventsListener | undefined;
  #validation: ValidationService | undefined;
  #trainingListener: QueuedEventsListener | undefined;
  #training: TrainingService | undefined;
  #shardHost: { readonly stats: ShardHostStats | undefined } | undefined;
  #inference: InferenceService | undefined;
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
      outcomes: this.#inference?.outcomes ?? {},
      batches: this.#inference?.batches ?? 0,
      dataListener: this.#dataListener?.stats,
      validation: this.#validation?.outcomes,
      trainingListener: this.#trainingListener?.stats,
      training: this.#training?.outcomes,
    };
  }

  /** The shard host's counts (shard-host role) and the shard router's (processor), for metrics. */
  get shards(): { host?: ShardHostStats; router?: ShardRouterStats } {
    const host = this.#shardHost?.stats;
    const router = this.#inference?.shardRouter;
    return { ...(host === undefined ? {} : { host }), ...(router === undefined ? {} : { router: router.stats }) };
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
      this.#shardHost = shardHost;
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
      this.#inference = new InferenceService({ config, deployment, provider, signer, redisUrl, store, market, localShardRunner: () => shardHost?.runner, logger });
      services.push(this.#inference);
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
