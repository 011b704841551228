import { randomUUID } from "node:crypto";
import { expect } from "chai";
import type { Queue } from "bullmq";
import { network } from "hardhat";
import { pino } from "pino";
import { ChainListener, eventJobId, type ReorgDetected } from "../../../worker/src/chain/ChainListener.js";
import { createQueue } from "../../../worker/src/queue/QueueFactory.js";
import { createRedisConnection } from "../../../worker/src/redis/RedisConnection.js";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
type Chain = Awaited<ReturnType<typeof network.create>>;

/**
 * Issue 9 item 2: a node restarted (or a fresh one redeployed at the same addresses) leaves the
 * stored cursor off the chain. The listener must notice — cursor above the head, or a hash that
 * is not the chain's — say so as an error, and rescan instead of ignoring every event.
 */
describe("ChainListener: stale cursor after a chain restart", () => {
  const redis = createRedisConnection(REDIS_URL);
  let prefix: string;
  let queue: Queue;
  let cursorKey: string;

  beforeEach(() => {
    prefix = `tessera-test-${randomUUID()}`;
    queue = createQueue("chain-events", redis, { prefix });
    cursorKey = `${prefix}:cursor`;
  });

  afterEach(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
    await redis.del(cursorKey);
  });

  after(async () => {
    await redis.quit();
  });

  /** The mock deployed as the first transaction of the default account: the same address on every fresh chain. */
  async function deployMock(chain: Chain, emptyBlocksFirst = 0) {
    if (emptyBlocksFirst > 0) await chain.networkHelpers.mine(emptyBlocksFirst);
    const mock = await chain.ethers.deployContract("EventEmitterMock");
    await mock.deploymentTransaction()!.wait();
    return mock;
  }

  function listener(chain: Chain, mock: Awaited<ReturnType<typeof deployMock>>, lines: string[] = []): ChainListener {
    return new ChainListener({
      provider: chain.ethers.provider,
      sources: [{ name: "Mock", contract: mock, events: ["Pinged"] }],
      queue,
      redis,
      cursorKey,
      startBlock: 1,
      confirmations: 0,
      blockRange: 100,
      pollIntervalMs: 20,
      logger: pino({ level: "info" }, { write: (line: string) => lines.push(line) }),
    });
  }

  async function idsOf(chain: Chain, hashes: string[]): Promise<string[]> {
    const ids: string[] = [];
    for (const hash of hashes) {
      const receipt = (await chain.ethers.provider.getTransactionReceipt(hash))!;
      for (const log of receipt.logs) ids.push(eventJobId(log.transactionHash, log.index, log.blockHash));
    }
    return ids;
  }

  async function jobIds(): Promise<string[]> {
    return (await queue.getJobs(["waiting", "delayed", "prioritized"], 0, -1)).map((j) => j.id!).sort();
  }

  /** A first node: the mock, 30 empty blocks, one event; the listener reads it all (cursor at its head). */
  async function firstNode() {
    const chain = await network.create();
    const mock = await deployMock(chain);
    await chain.networkHelpers.mine(30);
    const hash = (await mock.ping(1n, 1n, "first node")).hash;
    const l = listener(chain, mock);
    await l.pollOnce();
    const head = await chain.ethers.provider.getBlockNumber();
    expect(l.stats.cursor).to.equal(head);
    return { mock, head, ids: await idsOf(chain, [hash]) };
  }

  it("a restarted node below the cursor: logs both heads as an error and rescans from the start block", async () => {
    const first = await firstNode();
    const chain = await network.create();
    const mock = await deployMock(chain, 1);
    expect(await mock.getAddress()).to.equal(await first.mock.getAddress());
    const hashes = [(await mock.ping(2n, 2n, "after restart")).hash, (await mock.ping(3n, 3n, "after restart")).hash];
    const head = await chain.ethers.provider.getBlockNumber();
    expect(head).to.be.lessThan(first.head);

    const lines: string[] = [];
    const l = listener(chain, mock, lines);
    const detected: ReorgDetected[] = [];
    l.on("reorg", (d) => detected.push(d));
    await l.pollOnce();

    expect(await jobIds()).to.deep.equal([...first.ids, ...(await idsOf(chain, hashes))].sort());
    expect(detected).to.have.length(1);
    expect(detected[0]).to.deep.include({ kind: "restart", chainHead: head, chainHash: undefined, rewoundTo: 0 });
    expect(detected[0].cursor.block).to.equal(first.head);
    expect(l.stats).to.deep.include({ restarts: 1, reorgs: 0, cursor: head });
    const error = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((r) => r.level === 50);
    expect(error, lines.join("")).to.deep.include({ cursor: first.head, chainHead: head, rewoundTo: 0 });
    expect(error!.msg).to.match(/not on this chain/);
  });

  it("a fresh node that mined past the cursor: the block hash tells it apart", async () => {
    const first = await firstNode();
    const chain = await network.create();
    const mock = await deployMock(chain, 1);
    const hash = (await mock.ping(4n, 4n, "fresh node")).hash;
    await chain.networkHelpers.mine(40);
    const head = await chain.ethers.provider.getBlockNumber();
    expect(head).to.be.greaterThan(first.head);

    const l = listener(chain, mock);
    const detected: ReorgDetected[] = [];
    l.on("reorg", (d) => detected.push(d));
    await l.pollOnce();

    expect(await jobIds()).to.deep.equal([...first.ids, ...(await idsOf(chain, [hash]))].sort());
    expect(detected).to.have.length(1);
    expect(detected[0]).to.deep.include({ kind: "restart", chainHead: head, rewoundTo: 0 });
    expect(detected[0].chainHash).to.equal((await chain.ethers.provider.getBlock(first.head))!.hash);
    expect(detected[0].cursor.hash).to.not.equal(detected[0].chainHash);
    // Nothing more to report on the next poll: the cursor is on this chain now.
    await l.pollOnce();
    expect(detected).to.have.length(1);
  });

  it("a numeric cursor written by an older version resumes where it was and learns its hash", async () => {
    const chain = await network.create();
    const mock = await deployMock(chain);
    await mock.ping(5n, 5n, "before the cursor");
    const resumeAt = await chain.ethers.provider.getBlockNumber();
    const after = (await mock.ping(6n, 6n, "after the cursor")).hash;
    await redis.set(cursorKey, String(resumeAt));

    const l = listener(chain, mock);
    await l.pollOnce();

    expect(await jobIds()).to.deep.equal(await idsOf(chain, [after]));
    const stored = JSON.parse((await redis.get(cursorKey))!) as { block: number; hash: string };
    expect(stored.hash).to.equal((await chain.ethers.provider.getBlock(stored.block))!.hash);
    expect(l.stats).to.deep.include({ restarts: 0, reorgs: 0 });
  });
});
