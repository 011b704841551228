import {
  DelayedError,
  Queue,
  UnrecoverableError as BullmqUnrecoverableError,
  Worker,
  type DefaultJobOptions,
  type Job,
  type Processor,
} from "bullmq";
import type { Redis } from "ioredis";
import { classifyError, NotYetError } from "../errors.js";

/**
 * Retries with exponential backoff (BullMQ adds no jitter of its own to "exponential"; attempts
 * are spaced 1 s, 2 s, 4 s, 8 s). Finished jobs are kept long enough for the ChainListener's
 * deterministic job ids to turn a replayed block range into a no-op: BullMQ deduplicates a
 * custom jobId only while that job still exists.
 */
export const DEFAULT_JOB_OPTIONS: DefaultJobOptions = {
  attempts: 5,
  backoff: { type: "exponential", delay: 1_000 },
  removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
  removeOnFail: { age: 30 * 24 * 3600, count: 50_000 },
};

export interface QueueFactoryOptions {
  /** Prefix of every BullMQ key (config QUEUE_PREFIX). */
  readonly prefix: string;
  readonly defaultJobOptions?: DefaultJobOptions;
}

/** A producer-side queue; `connection` may be shared by every queue of the process. */
export function createQueue<Data = unknown, Result = unknown>(
  name: string,
  connection: Redis,
  options: QueueFactoryOptions,
): Queue<Data, Result> {
  return new Queue<Data, Result>(name, {
    connection,
    prefix: options.prefix,
    defaultJobOptions: { ...DEFAULT_JOB_OPTIONS, ...options.defaultJobOptions },
  });
}

export interface WorkerFactoryOptions {
  readonly prefix: string;
  readonly concurrency?: number;
  /** Start processing right away (default) or wait for `worker.run()`. */
  readonly autorun?: boolean;
  /**
   * How long a job's lock lives without renewal; a job whose process died is handed to another
   * worker within about this time (BullMQ's stalled-job check runs at the same interval).
   */
  readonly lockDurationMs?: number;
}

/**
 * A consumer whose processor's failures are classified: unrecoverable ones (reverts, bad input)
 * become BullMQ's UnrecoverableError so the job fails at once instead of burning its attempts.
 * `connection` must come from `createRedisConnection(url, { forWorker: true })`.
 */
export function createWorker<Data = unknown, Result = unknown>(
  name: string,
  processor: (job: Job<Data, Result>) => Promise<Result>,
  connection: Redis,
  options: WorkerFactoryOptions,
): Worker<Data, Result> {
  return new Worker<Data, Result>(name, withErrorClassification(processor), {
    connection,
    prefix: options.prefix,
    concurrency: options.concurrency ?? 1,
    autorun: options.autorun ?? true,
    ...(options.lockDurationMs === undefined
      ? {}
      : { lockDuration: options.lockDurationMs, stalledInterval: options.lockDurationMs }),
  });
}

/**
 * Wraps a processor so that unrecoverable errors skip BullMQ's remaining attempts, and a `NotYetError` puts the job
 * back as delayed without using up an attempt.
 */
export function withErrorClassification<Data, Result>(
  processor: (job: Job<Data, Result>) => Promise<Result>,
): Processor<Data, Result> {
  return async (job, token) => {
    try {
      return await processor(job);
    } catch (err) {
      if (err instanceof NotYetError && token !== undefined) {
        await job.moveToDelayed(Date.now() + err.retryInMs, token);
        throw new DelayedError(err.message);
      }
      if (err instanceof BullmqUnrecoverableError || classifyError(err) === "retryable") throw err;
      const message = err instanceof Error ? err.message : String(err);
      const unrecoverable = new BullmqUnrecoverableError(message);
      unrecoverable.cause = err;
      throw unrecoverable;
    }
  };
}
