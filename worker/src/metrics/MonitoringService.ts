import type { Queue } from "bullmq";
import type { Provider } from "ethers";
import type { Redis } from "ioredis";
import type { AccountNonceManager } from "../chain/AccountNonceManager.js";
import type { Service } from "../lifecycle/Service.js";
import type { Logger } from "../logger.js";
import type { WorkerReadiness } from "../ops/WorkerReadiness.js";
import { createQueue } from "../queue/QueueFactory.js";
import { QueueNames } from "../queue/QueueNames.js";
import { createRedisConnection } from "../redis/RedisConnection.js";
import type { WorkerDaemon } from "../WorkerDaemon.js";
import { HealthServer } from "./HealthServer.js";
import { WorkerHealth } from "./WorkerHealth.js";
import { WorkerMetrics } from "./WorkerMetrics.js";

export interface MonitoringServiceOptions {
  readonly port: number;
  readonly host: string;
  readonly redisUrl: string;
  readonly queuePrefix: string;
  readonly provider: Provider;
  readonly chainId: number;
  readonly daemon: WorkerDaemon;
  readonly readiness: WorkerReadiness;
  readonly account: AccountNonceManager;
  readonly backend: string;
  readonly logger: Logger;
}

/** /healthz and /metrics for one worker process: its own Redis connection, read-only views of the queues. */
export class MonitoringService implements Service {
  readonly name = "monitoring";
  readonly #o: MonitoringServiceOptions;
  #redis: Redis | undefined;
  #queues: Queue[] = [];
  #server: HealthServer | undefined;

  constructor(options: MonitoringServiceOptions) {
    this.#o = options;
  }

  get server(): HealthServer | undefined {
    return this.#server;
  }

  async start(): Promise<void> {
    const o = this.#o;
    this.#redis = createRedisConnection(o.redisUrl, { connectionName: "tessera-monitoring" });
    this.#queues = Object.values(QueueNames).map((name) => createQueue(name, this.#redis!, { prefix: o.queuePrefix }));
    const listeners = () => o.daemon.listeners;
    const readiness = () => o.readiness.report;
    const metrics = new WorkerMetrics({
      listeners,
      outcomes: () => {
        const stats = o.daemon.stats;
        return { [QueueNames.chainEvents]: stats.outcomes, [QueueNames.dataEvents]: stats.validation, [QueueNames.trainingEvents]: stats.training };
      },
      queues: this.#queues,
      readiness,
      account: o.account,
      backend: o.backend,
      shards: () => o.daemon.shards,
    });
    const health = new WorkerHealth({
      provider: o.provider,
      chainId: o.chainId,
      redis: this.#redis,
      listeners,
      readiness,
      backend: o.backend,
      nonceResyncs: () => o.account.resyncs,
    });
    this.#server = new HealthServer({ port: o.port, host: o.host, health, metrics, logger: o.logger });
    await this.#server.start();
  }

  async stop(): Promise<void> {
    const steps: (() => Promise<unknown> | unknown)[] = [() => this.#server?.stop(), ...this.#queues.map((q) => () => q.close()), () => this.#redis?.disconnect()];
    for (const step of steps) {
      try {
        await step();
      } catch (err) {
        this.#o.logger.error({ err }, "monitoring: a stop step failed");
      }
    }
    this.#queues = [];
    this.#server = undefined;
    this.#redis = undefined;
  }
}
