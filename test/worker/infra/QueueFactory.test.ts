import { randomUUID } from "node:crypto";
import { expect } from "chai";
import type { DefaultJobOptions, Job, Queue, Worker } from "bullmq";
import { NotYetError, RetryableError, UnrecoverableError } from "../../../worker/src/errors.js";
import { createQueue, createWorker } from "../../../worker/src/queue/QueueFactory.js";
import { createRedisConnection } from "../../../worker/src/redis/RedisConnection.js";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/** A queue and a worker on a fresh prefix, closed and removed after `body` whatever it does. */
async function withQueue<Data, Result>(
  defaultJobOptions: DefaultJobOptions,
  processor: (job: Job<Data, Result>) => Promise<Result>,
  body: (queue: Queue<Data, Result>, worker: Worker<Data, Result>) => Promise<void>,
): Promise<void> {
  const prefix = `tessera-test-${randomUUID()}`;
  const producer = createRedisConnection(REDIS_URL);
  const consumer = createRedisConnection(REDIS_URL, { forWorker: true });
  const queue = createQueue<Data, Result>("jobs", producer, { prefix, defaultJobOptions });
  const worker = createWorker<Data, Result>("jobs", processor, consumer, { prefix });
  try {
    await body(queue, worker);
  } finally {
    await worker.close();
    await queue.obliterate({ force: true });
    await queue.close();
    await producer.quit();
    await consumer.quit();
  }
}

describe("QueueFactory", () => {
  it("fails unrecoverable errors at once and retries retryable ones", async () => {
    const processor = async (job: Job<{ kind: string }, undefined>) => {
      if (job.data.kind === "revert") throw new UnrecoverableError("InferenceMarketRequestExpired(1, 2)");
      if (job.data.kind === "bug") throw new TypeError("x is undefined");
      if (job.attemptsMade < 2) throw new RetryableError("rpc timeout");
      return undefined;
    };
    await withQueue({ attempts: 3, backoff: { type: "fixed", delay: 10 } }, processor, async (queue, worker) => {
      const failed = new Map<string, Job>();
      const completed = new Map<string, Job>();
      worker.on("failed", (job) => job && failed.set(job.id!, job));
      worker.on("completed", (job) => completed.set(job.id!, job));
      await queue.add("t", { kind: "revert" }, { jobId: "revert" });
      await queue.add("t", { kind: "bug" }, { jobId: "bug" });
      await queue.add("t", { kind: "flaky" }, { jobId: "flaky" });
      const deadline = Date.now() + 10_000;
      while (completed.size + [...failed.keys()].filter((k) => k !== "flaky").length < 3 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      expect((await queue.getJob("revert"))!.attemptsMade).to.equal(1);
      expect(await (await queue.getJob("revert"))!.isFailed()).to.equal(true);
      expect((await queue.getJob("bug"))!.attemptsMade).to.equal(1);
      expect(await (await queue.getJob("flaky"))!.isCompleted()).to.equal(true);
      expect((await queue.getJob("flaky"))!.attemptsMade).to.equal(3);
    });
  });

  it("runs a job that is not ready yet (NotYetError) again after its delay without using up attempts, past the attempt budget", async () => {
    const runs: number[] = [];
    const processor = async (job: Job<{ readyAfter: number }, string>) => {
      runs.push(Date.now());
      if (runs.length <= job.data.readyAfter) throw new NotYetError(`the key is not shared yet (run ${runs.length})`, 50, { code: "KEY_NOT_SHARED" });
      return "trained";
    };
    await withQueue({ attempts: 2, backoff: { type: "fixed", delay: 10 } }, processor, async (queue, worker) => {
      const failed: string[] = [];
      worker.on("failed", (job, err) => failed.push(`${job?.id}: ${err.message}`));
      await queue.add("t", { readyAfter: 5 }, { jobId: "waits" });
      const deadline = Date.now() + 10_000;
      let job = await queue.getJob("waits");
      while (!(await job!.isCompleted()) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        job = await queue.getJob("waits");
      }
      // Six runs (five not-yet, then done) with 2 attempts allowed: the waits used none of them.
      expect(runs).to.have.length(6);
      expect(job!.returnvalue).to.equal("trained");
      expect(job!.attemptsMade).to.be.lessThan(2);
      expect(failed).to.deep.equal([]);
      for (let i = 1; i < runs.length; i++) expect(runs[i] - runs[i - 1], `run ${i + 1} waited its delay`).to.be.at.least(45);
    });
  });
});
