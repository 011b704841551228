import type { Job, Worker } from "bullmq";
import type { Redis } from "ioredis";
import { ModelRegistry__factory, WorkerRegistry__factory, type InferenceMarket } from "../../../typechain-types/index.js";
import type { EventPayload } from "../chain/EventPayload.js";
import { TxSender } from "../chain/TxSender.js";
import { batchesInFlight } from "../config.js";
import { NotYetError } from "../errors.js";
import type { Service } from "../lifecycle/Service.js";
import type { Logger } from "../logger.js";
import { ModelCache } from "../ml/ModelCache.js";
import { createWorker } from "../queue/QueueFactory.js";
import { QueueNames } from "../queue/QueueNames.js";
import { createRedisConnection } from "../redis/RedisConnection.js";
import type { ShardRouter } from "../shards/ShardRouter.js";
import { shardRouterFor } from "../shards/ShardServices.js";
import type { StageRunner } from "../shards/transport/StageAdmission.js";
import type { WorkerDaemonOptions } from "../WorkerDaemon.js";
import { traceStages, type BatchTrace } from "./BatchTrace.js";
import { InferenceProcessor, type InferenceOutcome } from "./InferenceProcessor.js";
import { MicroBatcher } from "./MicroBatcher.js";
import { parsePendingInference, type PendingInference } from "./PendingInference.js";

/** The daemon's chain, key, Redis, store and config, and: */
export interface InferenceServiceOptions extends Pick<WorkerDaemonOptions, "config" | "deployment" | "provider" | "signer" | "redisUrl" | "store"> {
  /** The market, connected to `signer`. */
  readonly market: InferenceMarket;
  /** This daemon's own shard host's runner, while it serves (its stages run here with no hop). */
  readonly localShardRunner: () => StageRunner | undefined;
  readonly logger: Logger;
}

/** A request as the batcher holds it: the event, and when it was enqueued (listener) and taken (this process). */
interface QueuedInference {
  readonly pending: PendingInference;
  readonly enqueuedAt: number;
  readonly pickedAt: number;
}

/**
 * The processor role: takes InferenceRequested jobs from the chain-events queue (BullMQ), gathers them into batches
 * (MicroBatcher: BATCH_MAX_SIZE, BATCH_MAX_WAIT_MS, batches in flight), and has the InferenceProcessor claim, run and
 * fulfil each batch; sharded versions' requests go through the shard router. A request held by another worker until
 * before its deadline is looked at again then (NotYetError). Stop: no new job, the jobs taken finish, then the batches.
 */
export class InferenceService implements Service {
  readonly name = "inference-processor";
  readonly #o: InferenceServiceOptions;
  readonly #models: ModelCache;
  readonly #outcomes: Record<string, number> = {};
  #batches = 0;
  #consumer: Redis | undefined;
  #worker: Worker | undefined;
  #batcher: MicroBatcher<QueuedInference, InferenceOutcome> | undefined;
  #shardRouting: ReturnType<typeof shardRouterFor>;

  constructor(options: InferenceServiceOptions) {
    this.#o = options;
    this.#models = new ModelCache(options.store);
  }

  /** Requests by outcome (fulfilled, skipped:<reason>) since start. */
  get outcomes(): Readonly<Record<string, number>> {
    return { ...this.#outcomes };
  }

  /** Batches handled since start. */
  get batches(): number {
    return this.#batches;
  }

  /** The router of sharded requests, once started (undefined for a deployment without a ShardRegistry). */
  get shardRouter(): ShardRouter | undefined {
    return this.#shardRouting?.router;
  }

  async start(): Promise<void> {
    const { config, deployment, provider, signer, store, market, redisUrl, logger } = this.#o;
    const workerAddress = await signer.getAddress();
    // A worker that also hosts shards runs their stages itself, with no hop (LocalFirstStages).
    this.#shardRouting = shardRouterFor({ deployment, provider, signer, logger, config, self: workerAddress, localRunner: this.#o.localShardRunner });
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
      models: this.#models,
      workerAddress,
      claimMode: config.claimMode,
      ...(this.#shardRouting === undefined ? {} : { shardRouter: this.#shardRouting.router }),
      logger: logger.child({ service: "inference" }),
    });
    const batchLog = logger.child({ service: "inference" });
    const maxInFlight = batchesInFlight(config);
    const batcher = new MicroBatcher<QueuedInference, InferenceOutcome>({
      maxSize: config.batchMaxSize,
      maxWaitMs: config.batchMaxWaitMs,
      idleWaitMs: config.batchIdleWaitMs,
      maxInFlight,
      handle: async (items) => {
        this.#batches += 1;
        const trace: BatchTrace = { formedAt: Date.now() };
        // The pipeline as this batch found it: other batches in flight, and requests left waiting.
        const pipeline = { inFlight: batcher.inFlight, waiting: batcher.waiting };
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
    this.#batcher = batcher;
    this.#consumer = createRedisConnection(redisUrl, { forWorker: true, connectionName: "tessera-consumer" });
    this.#worker = createWorker<EventPayload, InferenceOutcome>(
      QueueNames.chainEvents,
      async (job: Job<EventPayload, InferenceOutcome>) => {
        const pickedAt = Date.now();
        const pending = parsePendingInference(job.data, market.interface);
        const outcome = await batcher.submit({ pending, enqueuedAt: job.timestamp, pickedAt });
        if (outcome.status === "skipped" && outcome.recheckInMs !== undefined) {
          // Held by another worker until before its deadline (if that claim lapses, the request still gets served), or
          // a sharded request whose shard's hosts were all busy: looked at again then.
          const busy = outcome.reason === "shard-hosts-busy";
          const why = busy ? "waits for a shard host with room" : "is held by another worker";
          throw new NotYetError(`request ${outcome.requestId} ${why} (${outcome.reason}): looking again in ${outcome.recheckInMs} ms`, outcome.recheckInMs, {
            code: busy ? "SHARD_HOSTS_BUSY" : "HELD_BY_OTHER",
          });
        }
        logger.debug({ jobId: job.id, requestId: outcome.requestId, outcome: outcome.status }, "job done");
        return outcome;
      },
      this.#consumer,
      {
        prefix: config.queuePrefix,
        // Jobs wait in the batcher while it fills: room for every batch in flight, full.
        concurrency: Math.max(config.workerConcurrency, config.batchMaxSize * maxInFlight),
        lockDurationMs: config.jobLockMs,
      },
    );
    this.#worker.on("failed", (job, err) => logger.error({ jobId: job?.id, err: err.message }, "job failed"));
    await this.#worker.waitUntilReady();
  }

  async stop(): Promise<void> {
    try {
      await this.#worker?.close(); // stops taking jobs, waits for the active ones
    } finally {
      try {
        await this.#batcher?.drain();
      } finally {
        this.#models.clear();
        this.#shardRouting?.close();
        this.#consumer?.disconnect();
      }
    }
  }
}
