import type { Job, Worker } from "bullmq";
import type { Provider, Signer } from "ethers";
import type { Redis } from "ioredis";
import { DataRegistry__factory, WorkerRegistry__factory } from "../../../typechain-types/index.js";
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
import { AcceptedSamples } from "./AcceptedSamples.js";
import { DatasetValidator } from "./DatasetValidator.js";
import { sharedReferenceClassifier } from "./ReferenceClassifier.js";
import { VALIDATION_EVENTS, ValidationProcessor, type FinalizeOutcome, type ValidationOutcome } from "./ValidationProcessor.js";


/** The listener source name the validator's jobs carry. */
export const DATA_REGISTRY_SOURCE = "DataRegistry";

export interface ValidationServiceOptions {
  readonly dataRegistry: string;
  readonly chainId: number;
  /** The validator's key, connected to `provider`. */
  readonly signer: Signer;
  readonly provider: Provider;
  /** The validator's encryption private key (TESSERA_ENCRYPTION_KEY). */
  readonly encryptionPrivateKey: string;
  readonly store: ContentStore;
  readonly redisUrl: string;
  /** BullMQ prefix of the operator whose listener fills the data-events queue. */
  readonly queuePrefix: string;
  /** Where to look for a dataset's `DatasetContributed` event (the deployment block). */
  readonly fromBlock?: number;
  /** Default: one trained on MNIST once per process, with the library's thresholds. */
  readonly validator?: DatasetValidator;
  /** Validations run one at a time by default, so the duplicate check sees every earlier accept. */
  readonly concurrency?: number;
  readonly lockDurationMs?: number;
  /** How often the keeper finalizes the datasets this validator voted on whose voting window ended (default 30 s). */
  readonly keeperIntervalMs?: number;
  readonly logger?: Logger;
}

/**
 * The validator role: consumes the data-events queue (DataRegistry events enqueued by the
 * operator's ChainListener) and hands each validation event to the ValidationProcessor. Jobs of
 * any other source or event fail as unrecoverable, so a misrouted job is visible rather than lost.
 * A keeper timer finalizes the datasets it voted on once their voting window ended.
 */
export class ValidationService implements Service {
  readonly name = "validation-service";
  readonly #o: ValidationServiceOptions;
  readonly #logger: Logger;
  readonly #log = new OutcomeLog<ValidationOutcome | FinalizeOutcome>();
  #redis: Redis | undefined;
  #consumer: Redis | undefined;
  #worker: Worker<EventPayload, ValidationOutcome> | undefined;
  #processor: ValidationProcessor | undefined;
  #keeper: NodeJS.Timeout | undefined;
  #keeping: Promise<void> = Promise.resolve();

  constructor(options: ValidationServiceOptions) {
    this.#o = options;
    this.#logger = (options.logger ?? silentLogger).child({ service: "validation" });
  }

  /** Counts by outcome (`voted:accept`, `voted:reject:4`, `skipped:not-drawn`, `keeper:finalized`…). */
  get outcomes(): Readonly<Record<string, number>> {
    return this.#log.counts;
  }

  /** The latest outcomes (up to 1,000), in completion order. */
  get results(): readonly (ValidationOutcome | FinalizeOutcome)[] {
    return this.#log.results;
  }

  /** Jobs that failed (each attempt), with the error. */
  get failures(): readonly { jobId: string | undefined; error: string }[] {
    return this.#log.failures;
  }

  /** The processor (after `start()`), for one-off runs outside the queue. */
  get processor(): ValidationProcessor {
    if (this.#processor === undefined) throw new Error("ValidationService: not started");
    return this.#processor;
  }

  async start(): Promise<void> {
    if (this.#worker !== undefined) return;
    const o = this.#o;
    const workerAddress = await o.signer.getAddress();
    const registry = DataRegistry__factory.connect(o.dataRegistry, o.provider);
    this.#redis = createRedisConnection(o.redisUrl, { connectionName: "tessera-validator" });
    const validator = o.validator ?? new DatasetValidator({ reference: await sharedReferenceClassifier(), store: o.store });
    this.#processor = new ValidationProcessor({
      registry,
      txSender: new TxSender({
        signer: o.signer,
        interfaces: [registry.interface, WorkerRegistry__factory.createInterface()],
        logger: this.#logger.child({ component: "tx-sender" }),
      }),
      provider: o.provider,
      store: o.store,
      validator,
      acceptedSamples: new AcceptedSamples(this.#redis, `${o.queuePrefix}:data:${o.chainId}:${o.dataRegistry.toLowerCase()}:${workerAddress.toLowerCase()}`),
      workerAddress,
      encryptionPrivateKey: o.encryptionPrivateKey,
      ...(o.fromBlock === undefined ? {} : { fromBlock: o.fromBlock }),
      logger: this.#logger,
    });
    this.#consumer = createRedisConnection(o.redisUrl, { forWorker: true, connectionName: "tessera-validator-consumer" });
    const processor = this.#processor;
    this.#worker = createWorker<EventPayload, ValidationOutcome>(
      QueueNames.dataEvents,
      async (job: Job<EventPayload, ValidationOutcome>) => {
        const payload = job.data;
        if (payload.source !== DATA_REGISTRY_SOURCE || !(VALIDATION_EVENTS as readonly string[]).includes(payload.event)) {
          throw new UnrecoverableError(`job ${job.id}: ${payload.source}.${payload.event} is not a validation job`);
        }
        const outcome = await processor.process(payload);
        const key = outcome.status === "voted" ? `voted:${outcome.accept ? "accept" : `reject:${outcome.reasonCode}`}` : `skipped:${outcome.reason}`;
        this.#log.record(key, outcome);
        return outcome;
      },
      this.#consumer,
      { prefix: o.queuePrefix, concurrency: o.concurrency ?? 1, ...(o.lockDurationMs === undefined ? {} : { lockDurationMs: o.lockDurationMs }) },
    );
    this.#worker.on("failed", (job, err) => {
      this.#log.fail(job?.id, err.message);
      this.#logger.error({ jobId: job?.id, err: err.message }, "validation job failed");
    });
    await this.#worker.waitUntilReady();
    this.#keeper = setInterval(() => {
      this.#keeping = this.#keeping.then(() => this.finalizeDue());
    }, o.keeperIntervalMs ?? 30_000);
    this.#logger.info({ validator: workerAddress }, "validation service started");
  }

  /** Runs the keeper once: finalizes the datasets this validator voted on whose voting window ended. Never throws. */
  async finalizeDue(): Promise<void> {
    const processor = this.#processor;
    if (processor === undefined) return;
    try {
      for (const outcome of await processor.finalizeDue()) this.#log.record(`keeper:${outcome.status}`, outcome);
    } catch (err) {
      this.#log.fail(undefined, (err as Error).message);
      this.#logger.error({ err: (err as Error).message }, "finalizing after the voting window failed");
    }
  }

  async stop(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    clearInterval(this.#keeper);
    this.#keeper = undefined;
    await this.#keeping;
    try {
      await worker?.close(); // stops taking jobs, waits for the active ones
    } catch (err) {
      this.#logger.error({ err }, "closing the validation worker failed");
    }
    try {
      this.#consumer?.disconnect();
    } catch (err) {
      this.#logger.error({ err }, "closing the consumer connection failed");
    }
    try {
      this.#redis?.disconnect();
    } catch (err) {
      this.#logger.error({ err }, "closing the Redis connection failed");
    }
    this.#consumer = undefined;
    this.#redis = undefined;
  }
}
