import { randomUUID } from "node:crypto";
import { expect } from "chai";
import type { Queue } from "bullmq";
import { ChainListener, eventJobId, type ReorgDetected } from "../../../worker/src/chain/ChainListener.js";
import { createQueue } from "../../../worker/src/queue/QueueFactory.js";
import { createRedisConnection } from "../../../worker/src/redis/RedisConnection.js";
import { FaultChain } from "../../helpers/faults/FaultChain.js";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/**
 * Issue 9 item 3, the listener's half, on Anvil (EDR cannot reorganise): a reorg under the cursor
 * is found by the block hashes the listener keeps, the cursor goes back to the common ancestor, and
 * the new branch's events are enqueued — a transaction re-mined in another block as a new job.
 */
describe("ChainListener: reorg recovery on Anvil", function () {
  this.timeout(60_000);
  const redis = createRedisConnection(REDIS_URL);
  let anvil: FaultChain;
  let queue: Queue;
  let prefix: string;

  before(async () => {
    anvil = await FaultChain.start("anvil");
    prefix = `tessera-test-${randomUUID()}`;
    queue = createQueue("chain-events", redis, { prefix });
  });

  after(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
    await redis.del(`${prefix}:cursor`);
    await redis.quit();
    await anvil.close();
  });

  it("rewinds to the common ancestor and enqueues the new branch, the re-mined transaction under a new id", async () => {
    const { ethers } = anvil.connection;
    const [, other] = await ethers.getSigners();
    const mock = await ethers.deployContract("EventEmitterMock");
    const startBlock = (await mock.deploymentTransaction()!.wait())!.blockNumber;
    const sent = [];
    for (let i = 1; i <= 3; i++) sent.push(await (await mock.ping(BigInt(i), 1n, `old branch ${i}`)).wait());
    const [r1, r2, r3] = sent.map((r) => r!);
    expect([r1.blockNumber + 1, r1.blockNumber + 2]).to.deep.equal([r2.blockNumber, r3.blockNumber]);

    const l = new ChainListener({
      provider: anvil.provider,
      sources: [{ name: "Mock", contract: mock, events: ["Pinged"] }],
      queue,
      redis,
      cursorKey: `${prefix}:cursor`,
      startBlock,
      confirmations: 0,
      blockRange: 100,
      pollIntervalMs: 20,
    });
    const detected: ReorgDetected[] = [];
    l.on("reorg", (d) => detected.push(d));
    await l.pollOnce();
    const oldIds = [r1, r2, r3].map((r) => eventJobId(r.hash, r.logs[0].index, r.blockHash));
    expect((await queue.getJobs(["waiting"], 0, -1)).map((j) => j.id).sort()).to.deep.equal([...oldIds].sort());

    // Blocks r2 and r3 are replaced: r2's transaction is re-mined in the new first block, r3's is dropped, and
    // another account's ping lands in the new second block.
    const raw2 = await anvil.rpc<string>("eth_getRawTransactionByHash", [r2.hash]);
    const newPing = { from: other.address, to: await mock.getAddress(), data: mock.interface.encodeFunctionData("ping", [4n, 1n, "new branch"]) };
    await anvil.rpc("anvil_reorg", [2, [[raw2, 0], [newPing, 1]]]);
    expect(await anvil.provider.getBlockNumber()).to.equal(r3.blockNumber);
    const remined = (await anvil.provider.getTransactionReceipt(r2.hash))!;
    expect(remined.blockNumber).to.equal(r2.blockNumber);
    expect(remined.blockHash).to.not.equal(r2.blockHash);
    expect(await anvil.provider.getTransactionReceipt(r3.hash)).to.equal(null);
    const newBlock = (await anvil.provider.getBlock(r3.blockNumber, true))!;
    const newReceipt = (await anvil.provider.getTransactionReceipt(newBlock.transactions[0]))!;

    await l.pollOnce();

    expect(detected).to.have.length(1);
    expect(detected[0]).to.deep.include({ kind: "reorg", chainHead: r3.blockNumber, rewoundTo: r1.blockNumber });
    expect(detected[0].cursor).to.deep.equal({ block: r3.blockNumber, hash: r3.blockHash });
    expect(l.stats).to.deep.include({ reorgs: 1, restarts: 0, cursor: r3.blockNumber });
    const newIds = [eventJobId(r2.hash, remined.logs[0].index, remined.blockHash), eventJobId(newReceipt.hash, newReceipt.logs[0].index, newReceipt.blockHash)];
    expect((await queue.getJobs(["waiting"], 0, -1)).map((j) => j.id).sort()).to.deep.equal([...oldIds, ...newIds].sort());
    const redone = (await queue.getJob(newIds[0]))!;
    expect(redone.data).to.deep.include({ txHash: r2.hash, blockHash: remined.blockHash, blockNumber: r2.blockNumber });
  });
});
