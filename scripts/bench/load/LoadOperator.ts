import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { QueueNames } from "../../../worker/src/queue/QueueNames.js";
import { PrivateRedisServer } from "../../../worker/src/redis/PrivateRedisServer.js";
import { WorkerProcess } from "../../lib/WorkerProcess.js";

const QUEUE_PREFIX = "tessera-load";

export interface LoadOperatorOptions {
  /** Names the processes' log files `<dataDir>/<name>-<i>.log`. */
  readonly name: string;
  readonly rpcUrl: string;
  /** The operator's signing key (a development key: never a real one). */
  readonly workerKey: string;
  readonly dataDir: string;
  /** The deployment file the processes read (its startBlock is where their listener starts). */
  readonly deploymentFile: string;
  /** Worker processes: the first runs `listener,processor`, the others `processor`. */
  readonly processes: number;
  /** Worker settings (BATCH_MAX_SIZE, ...). */
  readonly env: Readonly<Record<string, string>>;
}

/**
 * One operator as the README's "Running a worker" describes it: a private redis-server of its own,
 * one worker process with the listener role and the rest with the processor role only, all real
 * worker daemons (`worker/src/main.ts`) in their own OS processes sharing that Redis.
 */
export class LoadOperator {
  private constructor(
    readonly options: LoadOperatorOptions,
    readonly redis: PrivateRedisServer,
    readonly processes: readonly WorkerProcess[],
  ) {}

  static async start(options: LoadOperatorOptions): Promise<LoadOperator> {
    const redis = await PrivateRedisServer.start();
    const processes = Array.from(
      { length: options.processes },
      (_, i) =>
        new WorkerProcess({
          name: `${options.name}-${i}`,
          rpcUrl: options.rpcUrl,
          workerKey: options.workerKey,
          dataDir: options.dataDir,
          redisUrl: redis.url,
          queuePrefix: QUEUE_PREFIX,
          roles: i === 0 ? "listener,processor" : "processor",
          env: { TESSERA_DEPLOYMENT: options.deploymentFile, POLL_INTERVAL_MS: "50", ...options.env },
        }),
    );
    const operator = new LoadOperator(options, redis, processes);
    try {
      await Promise.all(
        processes.map((p) => p.waitFor((r) => r.msg === "service started" && r.service === "worker-daemon", 300_000, "the daemon started")),
      );
    } catch (err) {
      await operator.stop();
      throw err;
    }
    return operator;
  }

  /** The operator's event queue (BullMQ), for pausing and counting; closed by the caller. */
  queue(): Queue {
    return new Queue(QueueNames.chainEvents, { connection: { url: this.redis.url, maxRetriesPerRequest: null }, prefix: QUEUE_PREFIX });
  }

  /** `used_memory_peak` of the operator's Redis (INFO memory), in bytes. */
  async redisPeakBytes(): Promise<number> {
    const client = new Redis(this.redis.url, { maxRetriesPerRequest: 1 });
    try {
      const info = await client.info("memory");
      const match = /^used_memory_peak:(\d+)/m.exec(info);
      if (match === null) throw new Error(`no used_memory_peak in INFO memory of ${this.redis.url}`);
      return Number(match[1]);
    } finally {
      client.disconnect();
    }
  }

  /**
   * Warnings and errors the processes logged (pino level >= 40), counted by message, method and
   * reason: a healthy run has none; retried transactions and failed jobs show up here.
   */
  problems(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const p of this.processes) {
      for (const r of p.records((rec) => typeof rec.level === "number" && rec.level >= 40)) {
        const err = r.err as { shortMessage?: string; message?: string } | string | undefined;
        const text = typeof err === "string" ? err : (err?.shortMessage ?? err?.message ?? "");
        const reason = text.replace(/\s*\(.*$/s, "").slice(0, 80);
        const key = [r.msg, r.method, reason].filter((x) => typeof x === "string" && x !== "").join(": ");
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
    return counts;
  }

  /** Processes that died on their own (a healthy run has none). */
  get deadProcesses(): string[] {
    return this.processes.filter((p) => !p.alive).map((p) => `${p.options.name} (${p.child.exitCode ?? p.child.signalCode})`);
  }

  /** SIGTERM to every process (each drains and exits), then the Redis. */
  async stop(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop()));
    await this.redis.stop();
  }
}
