import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { EmbeddedStack, PRICE_WEI } from "../../../scripts/lib/EmbeddedStack.js";
import { InferenceClient, InputKind } from "../../../scripts/lib/InferenceClient.js";
import { AccountNonceManager } from "../../../worker/src/chain/AccountNonceManager.js";
import type { InferenceOutcome } from "../../../worker/src/inference/InferenceProcessor.js";
import { encodeImage } from "../../../worker/src/ml/InferenceCodec.js";
import { MNIST_PIXELS } from "../../../worker/src/ml/MnistDataset.js";
import { createQueue } from "../../../worker/src/queue/QueueFactory.js";
import { QueueNames } from "../../../worker/src/queue/QueueNames.js";
import { createRedisConnection } from "../../../worker/src/redis/RedisConnection.js";
import { removeQueueData } from "../../helpers/queue.js";
import { until } from "../../helpers/until.js";
import { FaultChain } from "../../helpers/faults/FaultChain.js";

/** Anvil mines on demand here: a relaxed poll. */
const SLOW = { timeoutMs: 30_000, pollMs: 100 };

const STATUS_OPEN = 1n;

/**
 * Issue 9 item 3 end to end, on Anvil: a reorg drops the worker's claim and fulfilment (the request
 * itself stays). The worker's job is done only once its transactions are CONFIRMATIONS deep, so the
 * fulfilment reorged out before that is noticed (gone from the chain and the pool), the nonce is
 * resynced and the fulfilment is simulated and sent again: the request ends fulfilled, not refunded.
 */
describe("Reorg of the worker's own claim and fulfilment (Anvil)", function () {
  this.timeout(240_000);
  let anvil: FaultChain;
  let stack: EmbeddedStack;
  let dataDir: string;
  const prefix = `tessera-test-${randomUUID()}`;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tessera-reorg-"));
    anvil = await FaultChain.start("anvil");
    stack = await EmbeddedStack.start(anvil.connection, { dataDir, queuePrefix: prefix, trainEpochs: 1 });
    await stack.trainAndPublish();
    await stack.stakeWorker(stack.trained!.versionId);
  });

  after(async () => {
    await removeQueueData(stack.redis.url, prefix);
    await stack.stop();
    await anvil.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("redoes the claim's and fulfilment's effect: the request ends fulfilled once, the job completes only then", async () => {
    const { market, token } = stack.contracts;
    const mine = (n = 1) => anvil.rpc("anvil_mine", [n]);
    const daemon = await stack.startWorker({ confirmations: 2, batchMaxSize: 1, batchMaxWaitMs: 0 });
    const account = await AccountNonceManager.of(stack.signers.worker);
    const dropped: string[] = [];
    account.on("dropped", (d) => dropped.push(d.method));
    const redis = createRedisConnection(stack.redis.url);
    const queue = createQueue(QueueNames.chainEvents, redis, { prefix });
    try {
      const client = new InferenceClient(market, token, stack.store);
      const test = stack.trained!.data.test;
      const request = await client.requestWithEth(stack.signers.users[0], {
        versionId: stack.trained!.versionId,
        pixels: encodeImage(test.images.subarray(0, MNIST_PIXELS)),
        inputKind: InputKind.Inline,
        fee: PRICE_WEI,
        deadline: (await anvil.provider.getBlock("latest"))!.timestamp + 3_600,
        salt: 1n,
      });
      const from = await anvil.provider.getBlockNumber();
      await mine(2); // the request is 2 deep: the listener enqueues it, the worker claims

      const claim = await until(async () => (await market.queryFilter(market.filters.InferencesClaimed(), from))[0], "the claim", SLOW);
      await mine(1); // the claim is 2 deep: the worker computes and fulfils
      const fulfilment = await until(async () => (await market.queryFilter(market.filters.InferenceFulfilled(request.requestId), from))[0], "the fulfilment", SLOW);
      const head = await anvil.provider.getBlockNumber();
      expect(fulfilment.blockNumber).to.equal(head); // not final yet: one confirmation of two
      expect((await queue.getJobCounts("completed")).completed).to.equal(0);
      // The listener, 2 blocks behind, has read up to the claim's block: the reorg will be under its cursor.
      await until(async () => (daemon.stats.listener?.cursor === claim.blockNumber ? true : undefined), "the listener at the claim's block", SLOW);

      // Every block from the claim's on is replaced by an empty one: claim and fulfilment are gone.
      await anvil.rpc("anvil_reorg", [head - claim.blockNumber + 1, []]);
      expect(await anvil.provider.getTransactionReceipt(fulfilment.transactionHash)).to.equal(null);
      expect((await market.requestState(request.requestId)).status).to.equal(STATUS_OPEN);

      // Blocks keep coming, as on a live chain, until the job is done.
      const job = await until(
        async () => (await queue.getJobs(["completed"], 0, -1))[0],
        "the request served again after the reorg",
        { ...SLOW, timeoutMs: 60_000, tick: () => mine(1) },
      );
      const outcome = job.returnvalue as InferenceOutcome;
      const fulfilled = await market.queryFilter(market.filters.InferenceFulfilled(request.requestId), from);
      expect(fulfilled).to.have.length(1);
      expect(outcome).to.deep.include({ requestId: request.requestId.toString(), status: "fulfilled", txHash: fulfilled[0].transactionHash });
      expect(await anvil.provider.getBlockNumber()).to.be.at.least(fulfilled[0].blockNumber + 1);
      expect(dropped).to.include("fulfillBatch");
      expect(daemon.stats.listener?.reorgs).to.equal(1);
      expect((await queue.getJobCounts("failed")).failed).to.equal(0);
    } finally {
      await queue.close();
      await redis.quit();
    }
  });
});
