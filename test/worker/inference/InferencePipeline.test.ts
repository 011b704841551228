import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { keccak256 } from "ethers";
import { network } from "hardhat";
import { EmbeddedStack, PRICE_TOKEN, PRICE_WEI } from "../../../scripts/lib/EmbeddedStack.js";
import { InferenceClient, InputKind, waitForFulfilments, type SentRequest } from "../../../scripts/lib/InferenceClient.js";
import { toEventPayload } from "../../../worker/src/chain/EventPayload.js";
import { TxSender } from "../../../worker/src/chain/TxSender.js";
import { UnrecoverableError } from "../../../worker/src/errors.js";
import { InferenceProcessor } from "../../../worker/src/inference/InferenceProcessor.js";
import { parsePendingInference, type PendingInference } from "../../../worker/src/inference/PendingInference.js";
import { decodeClass, encodeImage, predictClasses } from "../../../worker/src/ml/InferenceCodec.js";
import { MNIST_PIXELS } from "../../../worker/src/ml/MnistDataset.js";
import { ModelCache } from "../../../worker/src/ml/ModelCache.js";
import { Queue } from "bullmq";
import { QueueNames } from "../../../worker/src/queue/QueueNames.js";
import { removeQueueData } from "../../helpers/queue.js";
import { until } from "../../helpers/until.js";


/**
 * The whole paid-inference path on real parts: EDR chain + Ignition deployment, Redis, the
 * embedded IPFS blockstore in a temp dir, a 2NN trained on real MNIST digits, the worker daemon.
 */
describe("Inference pipeline (chain -> listener -> BullMQ -> tfjs -> fulfillBatch)", function () {
  this.timeout(180_000);
  let stack: EmbeddedStack;
  let client: InferenceClient;
  let dataDir: string;
  let prefix: string;
  const pixels = (i: number) => encodeImage(stack.trained!.data.test.images.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS));
  let salt = 0n;
  async function send(i: number, payment: "eth" | "token" = "eth", deadlineIn = 600): Promise<SentRequest> {
    const { ethers } = stack.connection;
    const deadline = (await ethers.provider.getBlock("latest"))!.timestamp + deadlineIn;
    const options = { versionId: stack.trained!.versionId, pixels: pixels(i), inputKind: i % 2 ? InputKind.Cid : InputKind.Inline, fee: payment === "eth" ? PRICE_WEI : PRICE_TOKEN, deadline, salt: salt++ };
    const user = stack.signers.users[i % 3];
    return payment === "eth" ? client.requestWithEth(user, options) : client.requestWithTokenPermit(user, options);
  }
  function pendingOf(s: SentRequest): PendingInference {
    const log = s.receipt.logs.find((l) => stack.contracts.market.interface.parseLog(l)?.name === "InferenceRequested")!;
    const parsed = stack.contracts.market.interface.parseLog(log)!;
    return parsePendingInference(toEventPayload("InferenceMarket", log, parsed), stack.contracts.market.interface);
  }
  function processor(claimMode: "claim" | "optimistic" = "claim"): InferenceProcessor {
    const { market, modelRegistry, workerRegistry } = stack.contracts;
    return new InferenceProcessor({
      market: market.connect(stack.signers.worker),
      modelRegistry,
      workerRegistry,
      txSender: new TxSender({ signer: stack.signers.worker, interfaces: [market.interface] }),
      provider: stack.connection.ethers.provider,
      store: stack.store,
      models: new ModelCache(stack.store),
      workerAddress: stack.signers.worker.address,
      claimMode,
    });
  }

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tessera-pipeline-"));
    prefix = `tessera-test-${randomUUID()}`;
    const connection = await network.create();
    stack = await EmbeddedStack.start(connection, { dataDir, queuePrefix: prefix, trainEpochs: 1, worker: { batchMaxSize: 8, batchMaxWaitMs: 30 } });
    await stack.trainAndPublish();
    await stack.stakeWorker(stack.trained!.versionId);
    const { token } = stack.contracts;
    for (const u of stack.signers.users.slice(0, 3)) await (await token.mint(u.address, PRICE_TOKEN * 100n)).wait();
    client = new InferenceClient(stack.contracts.market, token, stack.store);
  });

  after(async () => {
    await removeQueueData(stack.redis.url, prefix);
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("answers ETH and token requests (inline and CID inputs) on chain with the model's predictions, in batches", async () => {
    const { market } = stack.contracts;
    const fromBlock = await stack.connection.ethers.provider.getBlockNumber();
    await stack.startWorker();
    const sent: SentRequest[] = [];
    for (let i = 0; i < 12; i++) sent.push(await send(i, i < 6 ? "eth" : "token"));
    const done = await waitForFulfilments(market, sent.map((s) => s.requestId), { fromBlock, timeoutMs: 60_000 });
    const local = await predictClasses(stack.trained!.model, sent.map((_, i) => pixels(i)));
    expect(sent.map((s) => decodeClass(done.get(s.requestId)!.output))).to.deep.equal(local);
    for (const s of sent) expect((await market.requestState(s.requestId)).status).to.equal(0n); // settled
    const fulfilTxs = new Set([...done.values()].map((f) => f.txHash));
    expect(fulfilTxs.size).to.be.lessThan(sent.length); // batched
    // worker share = fee - 10 % royalty - 2.5 % protocol fee, for 6 ETH and 6 token requests
    const worker = stack.signers.worker.address;
    const tokenAddress = await stack.contracts.token.getAddress();
    await (await market.settle(worker, [stack.trained!.versionId], "0x0000000000000000000000000000000000000000")).wait();
    await (await market.settle(worker, [stack.trained!.versionId], tokenAddress)).wait();
    expect(await market.creditOf(worker, "0x0000000000000000000000000000000000000000")).to.equal(((PRICE_WEI * 8750n) / 10_000n) * 6n);
    expect(await market.creditOf(worker, await stack.contracts.token.getAddress())).to.equal(((PRICE_TOKEN * 8750n) / 10_000n) * 6n);
    expect(stack.daemon!.stats.outcomes).to.deep.equal({ fulfilled: 12 });
    await stack.daemon!.stop();
  });

  it("never does a settled request twice: a replayed event is skipped without a transaction", async () => {
    const { market } = stack.contracts;
    const fromBlock = await stack.connection.ethers.provider.getBlockNumber();
    const s = await send(20);
    await (await market.connect(stack.signers.worker).claim(s.requestId)).wait();
    const p = processor();
    // Claimed before a crash: the processor goes straight to fulfil, without claiming again.
    const [first] = await p.processBatch([pendingOf(s)]);
    expect(first.status).to.equal("fulfilled");
    const nonce = await stack.connection.ethers.provider.getTransactionCount(stack.signers.worker.address);
    const [again] = await p.processBatch([pendingOf(s)]);
    expect(again).to.deep.equal({ requestId: s.requestId.toString(), status: "skipped", reason: "settled" });
    expect(await stack.connection.ethers.provider.getTransactionCount(stack.signers.worker.address)).to.equal(nonce);
    const events = await market.queryFilter(market.filters.InferenceFulfilled(s.requestId), fromBlock);
    expect(events).to.have.length(1);
  });

  /** A second staked worker serving the version (registered once): Hardhat account `index`. */
  async function rivalWorker(index = 8) {
    const { ethers } = stack.connection;
    const { token, workerRegistry } = stack.contracts;
    const rival = (await ethers.getSigners())[index];
    if ((await workerRegistry.workerOf(rival.address)).registered) return rival;
    const stake = await workerRegistry.minStake();
    await (await token.mint(rival.address, stake)).wait();
    await (await token.connect(rival).approve(await workerRegistry.getAddress(), stake)).wait();
    await (await workerRegistry.connect(rival).register(stake, 2, "0x02" + "22".repeat(32), "rival")).wait();
    await (await workerRegistry.connect(rival).setServedModels([stack.trained!.versionId], true)).wait();
    return rival;
  }

  it("skips expired requests and requests another worker holds, and fulfils the rest of the batch", async () => {
    const { networkHelpers } = stack.connection;
    const { market } = stack.contracts;
    const rival = await rivalWorker();

    const held = await send(30);
    await (await market.connect(rival).claim(held.requestId)).wait();
    const soon = await send(31, "eth", 30);
    const fine = await send(32, "token");
    await networkHelpers.time.increase(31);
    const outcomes = await processor().processBatch([held, soon, fine].map(pendingOf));
    expect(outcomes.map((o) => (o.status === "skipped" ? o.reason : o.status))).to.deep.equal(["claimed-by-other", "expired", "fulfilled"]);
    expect((await market.requestState(held.requestId)).claimant).to.equal(rival.address);
  });

  it("a request another worker holds is looked at again when that claim ends, and served if the claim lapsed", async () => {
    const { ethers, networkHelpers } = stack.connection;
    const { market } = stack.contracts;
    const rival = await rivalWorker();
    const window = await market.claimWindow();
    const held = await send(33);
    const short = await send(34, "eth", Number(window) - 5); // the claim outlives the request
    await (await market.connect(rival).claim(held.requestId)).wait();
    await (await market.connect(rival).claim(short.requestId)).wait();
    const p = processor();

    const [first, unworthy] = await p.processBatch([held, short].map(pendingOf));
    const now = BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
    const expiry = (await market.requestState(held.requestId)).claimExpiry;
    expect(first).to.deep.equal({ requestId: held.requestId.toString(), status: "skipped", reason: "claimed-by-other", recheckInMs: Number(expiry + 1n - now) * 1000 });
    expect(unworthy).to.deep.equal({ requestId: short.requestId.toString(), status: "skipped", reason: "claimed-by-other" });

    // The rival never fulfils: once its claim has ended the request is this worker's to serve, and the rival is slashed.
    await networkHelpers.time.increaseTo(expiry + 1n);
    const fromBlock = await ethers.provider.getBlockNumber();
    const [again] = await p.processBatch([pendingOf(held)]);
    expect(again.status).to.equal("fulfilled");
    const [fulfilled] = await market.queryFilter(market.filters.InferenceFulfilled(held.requestId), fromBlock);
    expect(fulfilled.args.worker).to.equal(stack.signers.worker.address);
    expect(await market.queryFilter(market.filters.ClaimLapsed(held.requestId), fromBlock)).to.have.length(1);
  });

  it("the daemon delays a job whose request another worker holds (no attempt used), and serves it once the claim lapsed", async () => {
    const { ethers, networkHelpers } = stack.connection;
    const { market } = stack.contracts;
    const rival = await rivalWorker(9); // account 8 was slashed for its lapse above
    const held = await send(35);
    await (await market.connect(rival).claim(held.requestId)).wait();
    const expiry = (await market.requestState(held.requestId)).claimExpiry;
    await networkHelpers.time.increaseTo(expiry - 3n); // the daemon will find 4 s of the claim left
    const daemonPrefix = `tessera-test-${randomUUID()}`;
    const daemon = await stack.startWorker({ queuePrefix: daemonPrefix }, held.receipt.blockNumber);
    try {
      const queue = new Queue(QueueNames.chainEvents, { connection: { url: stack.redis.url }, prefix: daemonPrefix });
      try {
        // Delayed, not failed: the job waits in BullMQ's delayed set until the claim has ended.
        const delayed = await until(async () => ((await queue.getDelayed()).length === 1 ? (await queue.getDelayed())[0] : undefined), "a delayed job");
        expect(delayed.attemptsMade).to.equal(0);
        expect(await queue.getFailedCount()).to.equal(0);
        expect(daemon.stats.outcomes).to.deep.equal({ "skipped:claimed-by-other": 1 });
      } finally {
        await queue.close();
      }
      await networkHelpers.time.increaseTo(expiry + 1n); // a block after the claim ended
      const done = await waitForFulfilments(market, [held.requestId], { fromBlock: held.receipt.blockNumber, timeoutMs: 30_000 });
      expect(done.get(held.requestId)!.worker).to.equal(stack.signers.worker.address);
      expect(daemon.stats.outcomes).to.deep.equal({ "skipped:claimed-by-other": 1, fulfilled: 1 });
    } finally {
      await daemon.stop();
      await removeQueueData(stack.redis.url, daemonPrefix);
    }
  });

  it("a fulfilment's gas limit carries every callback's whole budget, and callbacks beyond 8M of budgets go in another transaction", async () => {
    const { ethers } = stack.connection;
    const { market } = stack.contracts;
    const consumer = await ethers.deployContract("MisbehavingConsumer", [await market.getAddress(), 3]); // Succeed
    const callbackGasLimit = 2_000_000n;
    const reserve = callbackGasLimit + callbackGasLimit / 63n + 5_000n;
    const deadline = (await ethers.provider.getBlock("latest"))!.timestamp + 600;
    const fee = PRICE_WEI + callbackGasLimit * (await market.params()).callbackGasPriceWei; // the callback's gas is paid for
    const pendings: PendingInference[] = [];
    for (let i = 0; i < 4; i++) {
      const args = { modelVersionId: stack.trained!.versionId, deadline, callbackGasLimit, salt: 9_000n + BigInt(i), inputKind: InputKind.Inline, input: pixels(60 + i) };
      const receipt = (await (await consumer.request(args, { value: fee })).wait())!;
      const log = receipt.logs.find((l) => market.interface.parseLog(l)?.name === "InferenceRequested")!;
      pendings.push(parsePendingInference(toEventPayload("InferenceMarket", log, market.interface.parseLog(log)!), market.interface));
    }

    const outcomes = await processor().processBatch(pendings);

    expect(outcomes.map((o) => o.status)).to.deep.equal(["fulfilled", "fulfilled", "fulfilled", "fulfilled"]);
    const hashes = [...new Set(outcomes.map((o) => (o.status === "fulfilled" ? o.txHash : "")))];
    expect(hashes).to.have.length(2); // 3 budgets (6.1M) fit in 8M, the fourth goes next
    for (const [i, hash] of hashes.entries()) {
      const [tx, receipt] = await Promise.all([ethers.provider.getTransaction(hash), ethers.provider.getTransactionReceipt(hash)]);
      const callbacks = i === 0 ? 3n : 1n;
      expect(tx!.gasLimit >= receipt!.gasUsed + callbacks * reserve, `tx ${i}: limit ${tx!.gasLimit}, used ${receipt!.gasUsed}`).to.equal(true);
    }
    expect(await consumer.calls()).to.equal(4n);
  });

  it("in optimistic mode fulfils open requests without a claim transaction", async () => {
    const { market } = stack.contracts;
    const fromBlock = (await stack.connection.ethers.provider.getBlockNumber()) + 1;
    const sent = [await send(50), await send(51, "token")];
    const outcomes = await processor("optimistic").processBatch(sent.map(pendingOf));
    expect(outcomes.map((o) => o.status)).to.deep.equal(["fulfilled", "fulfilled"]);
    expect(await market.queryFilter(market.filters.InferencesClaimed(), fromBlock)).to.have.length(0);
    for (const s of sent) expect(await market.queryFilter(market.filters.InferenceFulfilled(s.requestId), fromBlock)).to.have.length(1);
  });

  it("refuses malformed payloads and inputs that do not match their committed hash, as unrecoverable", async () => {
    const s = await send(40);
    const log = s.receipt.logs.find((l) => stack.contracts.market.interface.parseLog(l)?.name === "InferenceRequested")!;
    const payload = toEventPayload("InferenceMarket", log, stack.contracts.market.interface.parseLog(log)!);
    const iface = stack.contracts.market.interface;
    const tampered = { ...payload, args: { ...payload.args, input: "0x" + "00".repeat(784) } };
    expect(() => parsePendingInference(tampered, iface)).to.throw(UnrecoverableError, /does not hash to the committed inputHash/);
    const broken = { ...payload, args: { ...payload.args, request: { ...(payload.args.request as object), requester: "nope" } } };
    expect(() => parsePendingInference(broken, iface)).to.throw(UnrecoverableError, /malformed InferenceRequested payload/);
    expect(keccak256(pixels(40))).to.equal(pendingOf(s).terms.inputHash);
  });
});
