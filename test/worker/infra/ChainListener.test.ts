import { randomUUID } from "node:crypto";
import { expect } from "chai";
import type { Queue } from "bullmq";
import type { Provider } from "ethers";
import { network } from "hardhat";
import { ChainListener, eventJobId, type ChainListenerOptions } from "../../../worker/src/chain/ChainListener.js";
import { payloadArgs, type EventPayload } from "../../../worker/src/chain/EventPayload.js";
import { createQueue } from "../../../worker/src/queue/QueueFactory.js";
import { createRedisConnection } from "../../../worker/src/redis/RedisConnection.js";

const { ethers, networkHelpers } = await network.create();
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("ChainListener", () => {
  const redis = createRedisConnection(REDIS_URL);
  let prefix: string;
  let queue: Queue;
  let cursorKey: string;

  beforeEach(() => {
    prefix = `tessera-test-${randomUUID()}`;
    queue = createQueue("chain-events", redis, { prefix });
    cursorKey = `${prefix}:listener-cursor`;
  });

  afterEach(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
    await redis.del(cursorKey);
  });

  after(async () => {
    await redis.quit();
  });

  async function deploy() {
    const mock = await ethers.deployContract("EventEmitterMock");
    const startBlock = (await mock.deploymentTransaction()!.wait())!.blockNumber;
    return { mock, startBlock };
  }

  function listener(
    mock: Awaited<ReturnType<typeof deploy>>["mock"],
    startBlock: number,
    overrides: Partial<ChainListenerOptions> = {},
  ): ChainListener {
    return new ChainListener({
      provider: ethers.provider,
      sources: [{ name: "Mock", contract: mock, events: ["Pinged", "Batched"] }],
      queue,
      redis,
      cursorKey,
      startBlock,
      confirmations: 0,
      blockRange: 5,
      pollIntervalMs: 20,
      ...overrides,
    });
  }

  /** Every event the mock emitted in `receipts`, as the job ids the listener must produce. */
  async function expectedIds(hashes: string[]): Promise<string[]> {
    const ids: string[] = [];
    for (const hash of hashes) {
      const receipt = (await ethers.provider.getTransactionReceipt(hash))!;
      for (const log of receipt.logs) ids.push(eventJobId(log.transactionHash, log.index, log.blockHash));
    }
    return ids.sort();
  }

  async function jobIds(): Promise<string[]> {
    const jobs = await queue.getJobs(["waiting", "delayed", "prioritized"], 0, -1);
    return jobs.map((j) => j.id!).sort();
  }

  it("enqueues every event across more than blockRange blocks exactly once, under deterministic ids", async () => {
    const { mock, startBlock } = await deploy();
    const hashes: string[] = [];
    for (let i = 0; i < 6; i++) {
      hashes.push((await mock.ping(BigInt(i), 10n ** 30n + BigInt(i), `note ${i}`)).hash);
      hashes.push((await mock.pingMany(100n * BigInt(i), 3n)).hash);
      await networkHelpers.mine(2);
    }
    const l = listener(mock, startBlock);
    const chunks: number[][] = [];
    l.on("chunk", (c) => chunks.push([c.fromBlock, c.toBlock]));

    await l.pollOnce();

    const expected = await expectedIds(hashes);
    expect(expected).to.have.length(24);
    expect(await jobIds()).to.deep.equal(expected);
    expect(chunks.length).to.be.greaterThan(1);
    for (const [from, to] of chunks) expect(to - from + 1).to.be.at.most(5);
    expect(chunks[0][0]).to.equal(startBlock);
    expect(l.stats.eventsEnqueued).to.equal(24);
    expect(l.stats.lag).to.equal(0);

    const blockHashOf = async (hash: string) => (await ethers.provider.getTransactionReceipt(hash))!.blockHash;
    const job = (await queue.getJob(eventJobId(hashes[0], 0, await blockHashOf(hashes[0]))))!;
    const payload = job.data as EventPayload;
    expect(job.name).to.equal("Pinged");
    expect(payload).to.include({ source: "Mock", event: "Pinged", txHash: hashes[0], logIndex: 0 });
    expect(payload.args.amount).to.equal((10n ** 30n).toString());
    expect(payloadArgs(payload, mock.interface)).to.deep.include({ id: 0n, amount: 10n ** 30n, note: "note 0" });
    const batched = (await queue.getJob(eventJobId(hashes[1], 0, await blockHashOf(hashes[1]))))!.data as EventPayload;
    expect(payloadArgs(batched, mock.interface).values).to.deep.equal([0n, 0n]);

    // A replay of the whole range (lost cursor) adds nothing.
    await redis.del(cursorKey);
    await listener(mock, startBlock).pollOnce();
    expect(await jobIds()).to.deep.equal(expected);
  });

  it("resumes from the persisted cursor: nothing twice, nothing missed while stopped", async () => {
    const { mock, startBlock } = await deploy();
    const hashes: string[] = [];
    const first = listener(mock, startBlock);
    await first.start();
    await first.start();
    for (let i = 0; i < 3; i++) hashes.push((await mock.ping(BigInt(i), 1n, "before")).hash);
    const last = (await ethers.provider.getBlockNumber());
    await until(() => (first.stats.cursor ?? -1) >= last);
    await first.stop();
    await first.stop();
    const stored = JSON.parse((await redis.get(cursorKey))!) as { block: number; hash: string };
    expect(stored.block).to.equal(first.stats.cursor);
    expect(stored.hash).to.equal((await ethers.provider.getBlock(first.stats.cursor!))!.hash);

    for (let i = 0; i < 4; i++) hashes.push((await mock.pingMany(BigInt(i * 10), 2n)).hash);
    await networkHelpers.mine(7);
    expect(await jobIds()).to.have.length(3);

    const second = listener(mock, startBlock);
    const chunks: number[] = [];
    second.on("chunk", (c) => chunks.push(c.fromBlock));
    await second.start();
    const head = await ethers.provider.getBlockNumber();
    await until(() => (second.stats.cursor ?? -1) >= head);
    await second.stop();

    expect(chunks[0]).to.equal(first.stats.cursor! + 1);
    expect(await jobIds()).to.deep.equal(await expectedIds(hashes));
    expect(second.stats.eventsEnqueued).to.equal(8);
  });

  it("waits for confirmations before enqueueing an event", async () => {
    const { mock, startBlock } = await deploy();
    const l = listener(mock, startBlock, { confirmations: 3 });
    await networkHelpers.mine(3);
    await l.pollOnce();

    const hash = (await mock.ping(1n, 1n, "fresh")).hash;
    await l.pollOnce();
    expect(await jobIds()).to.deep.equal([]);
    await networkHelpers.mine(2);
    await l.pollOnce();
    expect(await jobIds()).to.deep.equal([]);
    await networkHelpers.mine(1);
    await l.pollOnce();
    expect(await jobIds()).to.deep.equal(await expectedIds([hash]));
  });

  it("survives a provider error: logs it, and the next poll catches up", async () => {
    const { mock, startBlock } = await deploy();
    let failures = 0;
    const flaky = new Proxy(ethers.provider, {
      get(target, prop, receiver) {
        if (prop === "getLogs" && failures === 0) {
          return async () => {
            failures++;
            throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:8545"), { code: "ECONNREFUSED" });
          };
        }
        const value = Reflect.get(target, prop, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    }) as unknown as Provider;
    const hash = (await mock.ping(5n, 5n, "x")).hash;
    const l = listener(mock, startBlock, { provider: flaky });
    const errors: unknown[] = [];
    l.on("pollError", (e) => errors.push(e));
    await l.start();
    await until(async () => (await jobIds()).length === 1);
    await l.stop();
    expect(errors).to.have.length(1);
    expect(l.stats.pollErrors).to.equal(1);
    expect(await jobIds()).to.deep.equal(await expectedIds([hash]));
  });
});
