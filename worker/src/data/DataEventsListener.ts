import type { Queue } from "bullmq";
import type { Provider } from "ethers";
import type { Redis } from "ioredis";
import { DataRegistry__factory } from "../../../typechain-types/index.js";
import { ChainListener, type ChainListenerStats } from "../chain/ChainListener.js";
import type { Service } from "../lifecycle/Service.js";
import { silentLogger, type Logger } from "../logger.js";
import { createQueue } from "../queue/QueueFactory.js";
import { QueueNames } from "../queue/QueueNames.js";
import { createRedisConnection } from "../redis/RedisConnection.js";
import { VALIDATION_EVENTS } from "./ValidationProcessor.js";
import { DATA_REGISTRY_SOURCE } from "./ValidationService.js";

export interface DataEventsListenerOptions {
  readonly provider: Provider;
  readonly dataRegistry: string;
  readonly chainId: number;
  readonly redisUrl: string;
  readonly queuePrefix: string;
  readonly startBlock: number;
  readonly confirmations: number;
  readonly blockRange: number;
  readonly pollIntervalMs: number;
  readonly logger?: Logger;
}

/**
 * A ChainListener for the DataRegistry's validation events, with a queue (`data-events`) and a
 * cursor of its own. It is separate from the InferenceMarket's listener because BullMQ hands each
 * job to exactly one consumer: on a shared queue the inference processor would take validator jobs.
 */
export class DataEventsListener implements Service {
  readonly name = "data-listener";
  readonly #o: DataEventsListenerOptions;
  #producer: Redis | undefined;
  #queue: Queue | undefined;
  #listener: ChainListener | undefined;

  constructor(options: DataEventsListenerOptions) {
    this.#o = options;
  }

  get stats(): ChainListenerStats | undefined {
    return this.#listener?.stats;
  }

  async start(): Promise<void> {
    if (this.#listener !== undefined) return;
    const o = this.#o;
    this.#producer = createRedisConnection(o.redisUrl, { connectionName: "tessera-data-producer" });
    this.#queue = createQueue(QueueNames.dataEvents, this.#producer, { prefix: o.queuePrefix });
    await this.#queue.waitUntilReady();
    this.#listener = new ChainListener({
      provider: o.provider,
      sources: [{ name: DATA_REGISTRY_SOURCE, contract: DataRegistry__factory.connect(o.dataRegistry, o.provider), events: VALIDATION_EVENTS }],
      queue: this.#queue,
      redis: this.#producer,
      cursorKey: `${o.queuePrefix}:cursor:${o.chainId}:${o.dataRegistry.toLowerCase()}`,
      startBlock: o.startBlock,
      confirmations: o.confirmations,
      blockRange: o.blockRange,
      pollIntervalMs: o.pollIntervalMs,
      logger: (o.logger ?? silentLogger).child({ service: "data-listener" }),
    });
    await this.#listener.start();
  }

  async stop(): Promise<void> {
    const logger = this.#o.logger ?? silentLogger;
    try {
      await this.#listener?.stop();
    } catch (err) {
      logger.error({ err }, "data listener: stopping the chain listener failed");
    }
    try {
      await this.#queue?.close();
    } catch (err) {
      logger.error({ err }, "data listener: closing the queue failed");
    }
    try {
      this.#producer?.disconnect();
    } catch (err) {
      logger.error({ err }, "data listener: closing the Redis connection failed");
    }
    this.#listener = undefined;
    this.#queue = undefined;
    this.#producer = undefined;
  }
}
