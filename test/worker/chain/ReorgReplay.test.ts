import { randomUUID } from "node:crypto";
import { expect } from "chai";
import type { Queue } from "bullmq";
import { network } from "hardhat";
import { ChainListener, eventJobId, replayJobId, type ReorgDetected } from "../../../worker/src/chain/ChainListener.js";
import { createQueue, createWorker } from "../../../worker/src/queue/QueueFactory.js";
import { createRedisConnection } from "../../../worker/src/redis/RedisConnection.js";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/**
 * A job's effect reorged out while its event survives: a request in block A, the worker's claim and fulfilment
 * after it, then the chain rolled back to A (evm_snapshot / evm_revert on EDR) and grown again. The listener's
 * common ancestor is A itself, so the new branch holds no event to redo the job; with `replayBlocks` the events at
 * and before the ancestor are enqueued again under new ids (tagged with the new head), once per reorg — only those
 * whose job had finished: a job still waiting or running sees the reorg itself (its effect is not final yet).
 */
describe("ChainListener: events before the common ancestor replayed after a reorg", () => {
  const redis = createRedisConnection(REDIS_URL);
  let prefix: string;
  let queue: Queue;

  beforeEach(() => {
    prefix = `tessera-test-${randomUUID()}`;
    queue = createQueue("chain-events", redis, { prefix });
  });

  afterEach(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
    await redis.del(`${prefix}:cursor`);
  });

  after(async () => {
    await redis.quit();
  });

  /** Runs every waiting job to completion with a real BullMQ worker, as a processor would. */
  async function finishAll(): Promise<void> {
    const connection = createRedisConnection(REDIS_URL, { forWorker: true });
    const worker = createWorker("chain-events", async () => "done", connection, { prefix, concurrency: 8 });
    try {
      for (;;) {
        const { waiting, active } = await queue.getJobCounts("waiting", "active");
        if (waiting + active === 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await worker.close();
      await connection.quit();
    }
  }

  const ids = (states: string[]) => queue.getJobs(states as never, 0, -1).then((jobs) => jobs.map((j) => j.id).sort());

  async function rolledBack(replayBlocks: number, { finished = true } = {}) {
    const chain = await network.create();
    const mock = await chain.ethers.deployContract("EventEmitterMock");
    const startBlock = (await mock.deploymentTransaction()!.wait())!.blockNumber;
    const early = (await (await mock.ping(1n, 1n, "before the window")).wait())!;
    const request = (await (await mock.ping(2n, 1n, "the request")).wait())!;
    const snapshot = await chain.provider.request({ method: "evm_snapshot", params: [] });
    const effect = (await (await mock.ping(3n, 1n, "the worker's effect")).wait())!;
    const l = new ChainListener({
      provider: chain.ethers.provider,
      sources: [{ name: "Mock", contract: mock, events: ["Pinged"] }],
      queue,
      redis,
      cursorKey: `${prefix}:cursor`,
      startBlock,
      confirmations: 0,
      blockRange: 1,
      pollIntervalMs: 20,
      replayBlocks,
    });
    const detected: ReorgDetected[] = [];
    l.on("reorg", (d) => detected.push(d));
    await l.pollOnce();
    expect(l.stats.cursor).to.equal(effect.blockNumber);
    const idOf = (r: typeof early) => eventJobId(r.hash, r.logs[0].index, r.blockHash);
    const before = [early, request, effect].map(idOf);
    expect(await ids(["waiting"])).to.deep.equal([...before].sort());
    if (finished) await finishAll();

    await chain.provider.request({ method: "evm_revert", params: [snapshot] });
    await chain.networkHelpers.mine(2);
    const head = (await chain.ethers.provider.getBlock("latest"))!;
    expect(head.number).to.equal(effect.blockNumber + 1);
    await l.pollOnce();
    await l.pollOnce(); // a second poll finds the cursor on the chain: no second replay
    return { chain, l, detected, before, early, request, effect, head, jobIds: await ids(["waiting"]) };
  }

  it("enqueues the ancestor's block's events again under new ids, once, and the blocks before it only within replayBlocks", async () => {
    const { detected, before, request, effect, head, jobIds, l } = await rolledBack(1);
    expect(detected).to.have.length(1);
    expect(detected[0]).to.deep.include({ kind: "reorg", rewoundTo: request.blockNumber, chainHead: head.number, replayed: 1 });
    expect(detected[0].cursor).to.deep.equal({ block: effect.blockNumber, hash: effect.blockHash });
    // The request (block A = the ancestor) again, tagged with the head it was found at; the earlier block is outside the window.
    const replayed = replayJobId(request.hash, request.logs[0].index, request.blockHash, head.hash!);
    expect(jobIds).to.deep.equal([replayed]);
    expect(await ids(["completed"])).to.deep.equal([...before].sort());
    expect(l.stats).to.deep.include({ reorgs: 1, cursor: head.number });
  });

  it("with a window of two blocks, replays both; with replayBlocks 0, only rewinds (the effect stays lost)", async () => {
    const two = await rolledBack(2);
    expect(two.detected[0].replayed).to.equal(2);
    expect(two.jobIds).to.deep.equal([two.early, two.request].map((r) => replayJobId(r.hash, r.logs[0].index, r.blockHash, two.head.hash!)).sort());
    await queue.obliterate({ force: true });
    await redis.del(`${prefix}:cursor`);

    const none = await rolledBack(0);
    expect(none.detected[0]).to.deep.include({ kind: "reorg", rewoundTo: none.request.blockNumber, replayed: 0 });
    expect(none.jobIds).to.deep.equal([]);
  });

  it("does not replay an event whose job is still waiting or running: that job sees the reorg itself", async () => {
    const waiting = await rolledBack(2, { finished: false });
    expect(waiting.detected[0]).to.deep.include({ kind: "reorg", rewoundTo: waiting.request.blockNumber, replayed: 0 });
    expect(waiting.jobIds).to.deep.equal([...waiting.before].sort());
  });

  it("refuses a negative or fractional window", () => {
    const base = { provider: {} as never, sources: [], queue, redis, cursorKey: "k", startBlock: 0, confirmations: 0, blockRange: 1, pollIntervalMs: 20 };
    expect(() => new ChainListener({ ...base, replayBlocks: -1 })).to.throw(RangeError, "replayBlocks");
    expect(() => new ChainListener({ ...base, replayBlocks: 1.5 })).to.throw(RangeError, "replayBlocks");
  });
});
