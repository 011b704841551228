import type { Queue } from "bullmq";
import type { Interface, Provider } from "ethers";
import type { Redis } from "ioredis";
import type { Service } from "../lifecycle/Service.js";
import { silentLogger, type Logger } from "../logger.js";
import { createQueue } from "../queue/QueueFactory.js";
import type { QueueName } from "../queue/QueueNames.js";
import { createRedisConnection } from "../redis/RedisConnection.js";
import { ChainListener, type ChainListenerStats, type ReorgDetected } from "./ChainListener.js";

export interface QueuedEventsListenerOptions {
  readonly provider: Provider;
  /** The queue the events go to; its consumer is the role that handles them. */
  readonly queueName: QueueName;
  /** The source name each job carries (e.g. "DataRegistry"). */
  readonly source: string;
  readonly address: string;
  readonly contractInterface: Interface;
  readonly events: readonly string[];
  readonly chainId: number;
  readonly redisUrl: string;
  readonly queuePrefix: string;
  readonly startBlock: number;
  readonly confirmations: number;
  readonly blockRange: number;
  /** See `ChainListenerOptions.replayBlocks`. */
  readonly replayBlocks?: number;
  readonly pollIntervalMs: number;
  /** Called when the cursor was found off the chain (reorg or restart), e.g. to resync the key's nonce. */
  readonly onReorg?: (detected: ReorgDetected) => void;
  readonly logger?: Logger;
}

/**
 * A ChainListener for one contract's events with a queue and a cursor of its own. Each role has
 * its own queue because BullMQ hands each job to exactly one consumer: on a shared queue the
 * inference processor would take a validator's or a trainer's jobs.
 */
export class QueuedEventsListener implements Service {
  readonly name: string;
  readonly #o: QueuedEventsListenerOptions;
  #producer: Redis | undefined;
  #queue: Queue | undefined;
  #listener: ChainListener | undefined;

  constructor(options: QueuedEventsListenerOptions) {
    this.#o = options;
    this.name = `${options.queueName}-listener`;
  }

  get stats(): ChainListenerStats | undefined {
    return this.#listener?.stats;
  }

  async start(): Promise<void> {
    if (this.#listener !== undefined) return;
    const o = this.#o;
    this.#producer = createRedisConnection(o.redisUrl, { connectionName: `tessera-${o.queueName}-producer` });
    this.#queue = createQueue(o.queueName, this.#producer, { prefix: o.queuePrefix });
    await this.#queue.waitUntilReady();
    this.#listener = new ChainListener({
      provider: o.provider,
      sources: [{ name: o.source, contract: { address: o.address, interface: o.contractInterface }, events: o.events }],
      queue: this.#queue,
      redis: this.#producer,
      cursorKey: `${o.queuePrefix}:cursor:${o.chainId}:${o.address.toLowerCase()}`,
      startBlock: o.startBlock,
      confirmations: o.confirmations,
      blockRange: o.blockRange,
      replayBlocks: o.replayBlocks,
      pollIntervalMs: o.pollIntervalMs,
      logger: (o.logger ?? silentLogger).child({ service: this.name }),
    });
    if (this.#o.onReorg !== undefined) this.#listener.on("reorg", this.#o.onReorg);
    await this.#listener.start();
  }

  async stop(): Promise<void> {
    const logger = this.#o.logger ?? silentLogger;
    const steps: [string, () => Promise<unknown> | unknown][] = [
      ["stopping the chain listener", () => this.#listener?.stop()],
      ["closing the queue", () => this.#queue?.close()],
      ["closing the Redis connection", () => this.#producer?.disconnect()],
    ];
    for (const [what, step] of steps) {
      try {
        await step();
      } catch (err) {
        logger.error({ err }, `${this.name}: ${what} failed`);
      }
    }
    this.#listener = undefined;
    this.#queue = undefined;
    this.#producer = undefined;
  }
}
