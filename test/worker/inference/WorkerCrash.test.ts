import type { ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { EmbeddedStack } from "../../../scripts/lib/EmbeddedStack.js";
import { waitForFulfilments } from "../../../scripts/lib/InferenceClient.js";
import { serveChain, type RpcChain } from "../../../scripts/lib/RpcChain.js";
import { WorkerProcess } from "../../../scripts/lib/WorkerProcess.js";
import { createQueue } from "../../../worker/src/queue/QueueFactory.js";
import { QueueNames } from "../../../worker/src/queue/QueueNames.js";
import { createRedisConnection } from "../../../worker/src/redis/RedisConnection.js";
import { digitRequester } from "../../helpers/digitRequests.js";
import { removeQueueData } from "../../helpers/queue.js";

/** Hardhat's well-known development key of account #1 (the stack's worker); never a real key. */
const WORKER_DEV_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

/**
 * A real crash: the worker daemon runs as its own OS process (`worker/src/main.ts`, as on a GPU
 * host) against a JSON-RPC chain, is SIGKILLed while it holds jobs, and a new process takes over.
 */
describe("Worker daemon killed mid-batch and restarted", function () {
  this.timeout(240_000);
  let stack: EmbeddedStack;
  let chain: RpcChain;
  let dataDir: string;
  const prefix = `tessera-test-${randomUUID()}`;
  const workers: WorkerProcess[] = [];

  function startWorkerProcess(name: string): ChildProcess {
    const worker = new WorkerProcess({
      name,
      rpcUrl: chain.rpcUrl,
      workerKey: WORKER_DEV_KEY,
      dataDir,
      redisUrl: stack.redis.url,
      queuePrefix: prefix,
      roles: "listener,processor",
      env: {
        POLL_INTERVAL_MS: "50",
        BATCH_MAX_SIZE: "8",
        BATCH_MAX_WAIT_MS: "1500",
        BATCH_IDLE_WAIT_MS: "1500", // jobs sit in the batcher (active, locked) long enough to be killed there
        JOB_LOCK_MS: "1000",
      },
    });
    workers.push(worker);
    return worker.child;
  }

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tessera-crash-"));
    chain = await serveChain();
    stack = await EmbeddedStack.start(chain.connection, { dataDir, queuePrefix: prefix, trainEpochs: 1 });
    await stack.trainAndPublish();
    await stack.stakeWorker(stack.trained!.versionId);
  });

  after(async () => {
    for (const w of workers) w.kill("SIGKILL");
    await removeQueueData(stack.redis.url, prefix);
    await stack.stop();
    await chain.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("fulfils every request exactly once: none twice, none missed", async () => {
    const { ethers } = stack.connection;
    const { market, token } = stack.contracts;
    const send = digitRequester(stack);
    const fromBlock = await ethers.provider.getBlockNumber();
    const redis = createRedisConnection(stack.redis.url);
    const queue = createQueue(QueueNames.chainEvents, redis, { prefix });
    try {
      const first = startWorkerProcess("worker-a");
      const warmup = await send(0);
      await waitForFulfilments(market, [warmup.requestId], { fromBlock, timeoutMs: 60_000 });

      // Jobs picked up by worker A and waiting in its batcher: kill it there.
      const inFlight = [await send(1), await send(2), await send(3)];
      const deadline = Date.now() + 20_000;
      while ((await queue.getJobCounts("active")).active < inFlight.length) {
        if (Date.now() > deadline) throw new Error("worker A never held the jobs");
        await new Promise((r) => setTimeout(r, 20));
      }
      first.kill("SIGKILL");
      await new Promise((r) => first.once("exit", r));

      // Requests that arrive while no worker runs.
      const whileDown = [await send(4), await send(5), await send(6)];
      const second = startWorkerProcess("worker-b");
      const all = [warmup, ...inFlight, ...whileDown];
      const done = await waitForFulfilments(market, all.map((s) => s.requestId), { fromBlock, timeoutMs: 90_000 });
      expect(done.size).to.equal(all.length);

      for (const s of all) {
        const events = await market.queryFilter(market.filters.InferenceFulfilled(s.requestId), fromBlock);
        expect(events, `request ${s.requestId}`).to.have.length(1);
      }
      // A job completes once its fulfilment's receipt is back; give the last ones a moment (up to 40 s on a loaded machine).
      let counts = await queue.getJobCounts("completed", "failed", "active", "wait");
      for (let i = 0; i < 400 && counts.completed + counts.failed < all.length; i++) {
        await new Promise((r) => setTimeout(r, 100));
        counts = await queue.getJobCounts("completed", "failed", "active", "wait");
      }
      expect(counts).to.deep.equal({ completed: all.length, failed: 0, active: 0, wait: 0 });

      // Graceful stop: SIGTERM drains and exits 0.
      second.kill("SIGTERM");
      const code = await new Promise<number | null>((r) => second.once("exit", (c) => r(c)));
      expect(code, readFileSync(join(dataDir, "worker-b.log"), "utf8").slice(-2_000)).to.equal(0);
    } finally {
      await queue.close();
      await redis.quit();
    }
  });
});
