import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { makeError } from "ethers";
import type { BaseContract, Result } from "ethers";
import { network } from "hardhat";
import { CID } from "multiformats/cid";
import * as rawCodec from "multiformats/codecs/raw";
import { sha256 } from "multiformats/hashes/sha2";
import { EmbeddedStack, PRICE_WEI } from "../../../scripts/lib/EmbeddedStack.js";
import { InferenceClient, InputKind, type SentRequest } from "../../../scripts/lib/InferenceClient.js";
import type { InferenceMarket } from "../../../typechain-types/index.js";
import { toEventPayload } from "../../../worker/src/chain/EventPayload.js";
import { TxSender, type SendResult } from "../../../worker/src/chain/TxSender.js";
import type { ContentStore } from "../../../worker/src/ipfs/ContentStore.js";
import { InferenceProcessor, type InferenceOutcome } from "../../../worker/src/inference/InferenceProcessor.js";
import { parsePendingInference, type PendingInference } from "../../../worker/src/inference/PendingInference.js";
import { DeclineReason } from "../../../worker/src/inference/RequestInput.js";
import { decodeClass, encodeImage, predictClasses } from "../../../worker/src/ml/InferenceCodec.js";
import { MNIST_PIXELS } from "../../../worker/src/ml/MnistDataset.js";
import { ModelCache } from "../../../worker/src/ml/ModelCache.js";
import { removeQueueData } from "../../helpers/queue.js";
import { publishShardedMnist } from "../../../scripts/lib/ShardedStack.js";
import { ShardRouter } from "../../../worker/src/shards/ShardRouter.js";

const STATUS_OPEN = 1n;
const STATUS_CLAIMED = 2n;

/**
 * Issue 9 item 5: a request the worker cannot serve (a CID nobody has, an input of the wrong size) must not cost
 * it its stake or fail its batch-mates. Real chain, real IPFS blockstore, a 2NN trained on real digits.
 */
describe("Unservable inference requests (checked before any claim)", function () {
  this.timeout(180_000);
  let stack: EmbeddedStack;
  let client: InferenceClient;
  let dataDir: string;
  let prefix: string;
  let salt = 1_000n;
  const pixels = (i: number) => encodeImage(stack.trained!.data.test.images.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS));

  async function deadlineIn(seconds: number): Promise<number> {
    return (await stack.connection.ethers.provider.getBlock("latest"))!.timestamp + seconds;
  }
  async function good(i: number): Promise<SentRequest> {
    const options = { versionId: stack.trained!.versionId, pixels: pixels(i), inputKind: i % 2 ? InputKind.Cid : InputKind.Inline, fee: PRICE_WEI, deadline: await deadlineIn(600), salt: salt++ };
    return client.requestWithEth(stack.signers.users[0], options);
  }
  /** A request the market accepts but no worker can serve: `input` is sent as is. */
  async function raw(inputKind: number, input: Uint8Array): Promise<SentRequest> {
    const { market } = stack.contracts;
    const args = { modelVersionId: stack.trained!.versionId, deadline: await deadlineIn(600), callbackGasLimit: 0, salt: salt++, inputKind, input };
    const receipt = await (await market.connect(stack.signers.users[1]).requestInference(args, { value: PRICE_WEI })).wait();
    const log = receipt!.logs.find((l) => market.interface.parseLog(l)?.name === "InferenceRequested")!;
    const parsed = market.interface.parseLog(log)!;
    const request = (parsed.args.request as Result).toObject();
    return { requestId: parsed.args.requestId as bigint, request, receipt, inputKind } as unknown as SentRequest;
  }
  function pendingOf(s: SentRequest): PendingInference {
    const { market } = stack.contracts;
    const log = s.receipt.logs.find((l) => market.interface.parseLog(l)?.name === "InferenceRequested")!;
    return parsePendingInference(toEventPayload("InferenceMarket", log, market.interface.parseLog(log)!), market.interface);
  }

  interface Faults {
    store?: ContentStore;
    shardRouter?: ShardRouter;
    market?: InferenceMarket;
    send?: (contract: BaseContract, method: string, args: readonly unknown[]) => Promise<SendResult> | undefined;
  }
  function processor(faults: Faults = {}): InferenceProcessor {
    const { market, modelRegistry, workerRegistry } = stack.contracts;
    const real = new TxSender({ signer: stack.signers.worker, interfaces: [market.interface] });
    const txSender = {
      send: (contract: BaseContract, method: string, args: readonly unknown[]) => faults.send?.(contract, method, args) ?? real.send(contract, method, args),
    } as unknown as TxSender;
    return new InferenceProcessor({
      market: faults.market ?? market.connect(stack.signers.worker),
      modelRegistry,
      workerRegistry,
      txSender,
      provider: stack.connection.ethers.provider,
      store: faults.store ?? stack.store,
      models: new ModelCache(stack.store),
      workerAddress: stack.signers.worker.address,
      inputTimeoutMs: 2_000,
      ...(faults.shardRouter === undefined ? {} : { shardRouter: faults.shardRouter }),
    });
  }
  /** Fails the first call of `method` with a network-like error, then behaves. */
  function failOnce(method: string): Faults["send"] {
    let failed = false;
    return (_contract, m) => {
      if (m !== method || failed) return undefined;
      failed = true;
      return Promise.reject(new Error(`injected: ${method} lost on the way to the node`));
    };
  }
  async function rejects(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
    const err = await promise.then(() => undefined, (e: unknown) => e);
    expect(err, "the batch fails").to.be.instanceOf(Error);
    expect((err as Error).message).to.match(pattern);
  }
  const labelOf = (o: InferenceOutcome) => (o.status === "skipped" ? o.reason : o.status);
  async function stakeOfWorker(): Promise<bigint> {
    return (await stack.contracts.workerRegistry.workerOf(stack.signers.worker.address)).stake;
  }
  async function claimTxCount(fromBlock: number): Promise<number> {
    const { market } = stack.contracts;
    return (await market.queryFilter(market.filters.InferencesClaimed(stack.signers.worker.address), fromBlock)).length;
  }

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tessera-unservable-"));
    prefix = `tessera-test-${randomUUID()}`;
    stack = await EmbeddedStack.start(await network.create(), { dataDir, queuePrefix: prefix, trainEpochs: 1 });
    await stack.trainAndPublish();
    await stack.stakeWorker(stack.trained!.versionId);
    client = new InferenceClient(stack.contracts.market, stack.contracts.token, stack.store);
  });

  after(async () => {
    await removeQueueData(stack.redis.url, prefix);
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("serves the good request of a batch, never claims the bad ones, declines them with the reason, and keeps its stake", async () => {
    const { market } = stack.contracts;
    const { ethers, networkHelpers } = stack.connection;
    const fromBlock = (await ethers.provider.getBlockNumber()) + 1;
    const stakeBefore = await stakeOfWorker();
    const nobodyHas = CID.create(1, rawCodec.code, await sha256.digest(randomBytes(MNIST_PIXELS))); // never stored
    const missing = await raw(InputKind.Cid, nobodyHas.bytes);
    const twoBytesPerPixel = await raw(InputKind.Inline, new Uint8Array(2 * MNIST_PIXELS)); // accepted by the market (float16 size)
    const shortFile = await raw(InputKind.Cid, CID.parse(await stack.store.add(new Uint8Array(100))).bytes);
    const fine = await good(1);
    const batch = [missing, twoBytesPerPixel, fine, shortFile];

    const outcomes = await processor().processBatch(batch.map(pendingOf));
    expect(outcomes.map(labelOf)).to.deep.equal(["input-unavailable", "input-malformed", "fulfilled", "input-malformed"]);
    const [fulfilment] = await market.queryFilter(market.filters.InferenceFulfilled(fine.requestId), fromBlock);
    expect(decodeClass(ethers.getBytes(fulfilment.args.output))).to.equal((await predictClasses(stack.trained!.model, [pixels(1)]))[0]);
    // The bad ones were never claimed: one claimBatch, holding the good id only.
    const claims = await market.queryFilter(market.filters.InferencesClaimed(stack.signers.worker.address), fromBlock);
    expect(claims.map((c) => [...c.args.requestIds])).to.deep.equal([[fine.requestId]]);
    for (const bad of [missing, twoBytesPerPixel, shortFile]) expect((await market.requestState(bad.requestId)).status).to.equal(STATUS_OPEN);
    // The requester sees why, on chain.
    const declines = await market.queryFilter(market.filters.InferenceDeclined(), fromBlock);
    expect(declines.map((d) => [d.args.requestId, d.args.worker, Number(d.args.reason)])).to.deep.equal([
      [missing.requestId, stack.signers.worker.address, DeclineReason.InputUnavailable],
      [twoBytesPerPixel.requestId, stack.signers.worker.address, DeclineReason.InputMalformed],
      [shortFile.requestId, stack.signers.worker.address, DeclineReason.InputMalformed],
    ]);
    expect(new Set(outcomes.filter((o) => o.status === "skipped").map((o) => (o as { declineTxHash?: string }).declineTxHash)).size).to.equal(1);
    // Refunded after the deadline in full, and the worker's stake has not moved.
    await networkHelpers.time.increase(601);
    for (const bad of [missing, twoBytesPerPixel, shortFile]) {
      await expect(market.refund(bad.request)).to.emit(market, "InferenceRefunded").and.not.to.emit(market, "ClaimLapsed");
    }
    expect(await stakeOfWorker()).to.equal(stakeBefore);
    expect(await market.openClaimsOf(stack.signers.worker.address)).to.equal(0n);
  });

  it("retries an IPFS fetch that failed once, and serves the request", async () => {
    let failures = 0;
    const flaky: ContentStore = Object.create(stack.store);
    flaky.get = async (cid: string) => {
      if (failures++ === 0) throw new Error("injected: connection reset by the IPFS node");
      return stack.store.get(cid);
    };
    const s = await good(3); // by CID
    const [outcome] = await processor({ store: flaky }).processBatch([pendingOf(s)]);
    expect(labelOf(outcome)).to.equal("fulfilled");
    expect(failures).to.equal(2);
  });

  it("a failed RPC read fails the batch before any transaction; the retry serves it", async () => {
    const { ethers } = stack.connection;
    const { market } = stack.contracts;
    const s = await good(5);
    let failed = false;
    const flakyMarket = new Proxy(market.connect(stack.signers.worker), {
      get(target, prop, receiver) {
        if (prop === "requestStates" && !failed) {
          failed = true;
          return () => Promise.reject(new Error("injected: RPC timeout"));
        }
        return Reflect.get(target, prop, receiver);
      },
    }) as InferenceMarket;
    const nonce = await ethers.provider.getTransactionCount(stack.signers.worker.address);
    const p = processor({ market: flakyMarket });
    await rejects(p.processBatch([pendingOf(s)]), /injected: RPC timeout/);
    expect(await ethers.provider.getTransactionCount(stack.signers.worker.address)).to.equal(nonce);
    expect((await market.requestState(s.requestId)).status).to.equal(STATUS_OPEN);
    expect((await p.processBatch([pendingOf(s)])).map(labelOf)).to.deep.equal(["fulfilled"]);
  });

  it("a market deployed before requestStates existed (the call reverts without data): each request's state is read on its own, and served", async () => {
    const { market } = stack.contracts;
    const s1 = await good(11);
    const s2 = await good(12);
    let batchCalls = 0;
    let singleCalls = 0;
    const oldMarket = new Proxy(market.connect(stack.signers.worker), {
      get(target, prop, receiver) {
        if (prop === "requestStates") {
          return () => {
            batchCalls++;
            return Promise.reject(makeError("missing revert data", "CALL_EXCEPTION", { action: "call", data: "0x", reason: null, transaction: { to: null, data: "0x" }, invocation: null, revert: null }));
          };
        }
        if (prop === "requestState") {
          const read = Reflect.get(target, prop, receiver) as (id: bigint) => Promise<unknown>;
          return (id: bigint) => {
            singleCalls++;
            return read(id);
          };
        }
        return Reflect.get(target, prop, receiver);
      },
    }) as InferenceMarket;
    const p = processor({ market: oldMarket });
    expect((await p.processBatch([pendingOf(s1), pendingOf(s2)])).map(labelOf)).to.deep.equal(["fulfilled", "fulfilled"]);
    expect(batchCalls, "asked once, then no more").to.equal(1);
    expect(singleCalls).to.equal(2);
    expect((await market.requestState(s1.requestId)).status).to.equal(0n);
    // Another error of the batch read is not taken for a missing function: it fails the batch as before.
    const s3 = await good(13);
    const failing = new Proxy(market.connect(stack.signers.worker), {
      get(target, prop, receiver) {
        if (prop === "requestStates") return () => Promise.reject(new Error("injected: RPC timeout"));
        return Reflect.get(target, prop, receiver);
      },
    }) as InferenceMarket;
    await rejects(processor({ market: failing }).processBatch([pendingOf(s3)]), /injected: RPC timeout/);
  });

  it("a lost claimBatch fails the batch with nothing claimed; the retry claims and serves it", async () => {
    const { market } = stack.contracts;
    const s = await good(7);
    const p = processor({ send: failOnce("claimBatch") });
    await rejects(p.processBatch([pendingOf(s)]), /injected: claimBatch/);
    expect((await market.requestState(s.requestId)).status).to.equal(STATUS_OPEN);
    expect((await p.processBatch([pendingOf(s)])).map(labelOf)).to.deep.equal(["fulfilled"]);
  });

  it("a lost fulfillBatch keeps the claim; the retry fulfils without claiming again, and nobody is slashed", async () => {
    const { ethers } = stack.connection;
    const { market } = stack.contracts;
    const fromBlock = (await ethers.provider.getBlockNumber()) + 1;
    const stakeBefore = await stakeOfWorker();
    const s = await good(9);
    const p = processor({ send: failOnce("fulfillBatch") });
    await rejects(p.processBatch([pendingOf(s)]), /injected: fulfillBatch/);
    const held = await market.requestState(s.requestId);
    expect([held.status, held.claimant]).to.deep.equal([STATUS_CLAIMED, stack.signers.worker.address]);
    expect((await p.processBatch([pendingOf(s)])).map(labelOf)).to.deep.equal(["fulfilled"]);
    expect(await claimTxCount(fromBlock)).to.equal(1);
    expect(await stakeOfWorker()).to.equal(stakeBefore);
  });

  it("a lost decline costs only the message: the good request is served, the bad one still unclaimed", async () => {
    const { ethers } = stack.connection;
    const { market } = stack.contracts;
    const fromBlock = (await ethers.provider.getBlockNumber()) + 1;
    const bad = await raw(InputKind.Inline, new Uint8Array(4 * MNIST_PIXELS));
    const fine = await good(11);
    const outcomes = await processor({ send: failOnce("decline") }).processBatch([bad, fine].map(pendingOf));
    expect(outcomes.map(labelOf)).to.deep.equal(["input-malformed", "fulfilled"]);
    expect((outcomes[0] as { declineTxHash?: string }).declineTxHash).to.equal(undefined);
    expect(await market.queryFilter(market.filters.InferenceDeclined(), fromBlock)).to.have.length(0);
    expect((await market.requestState(bad.requestId)).status).to.equal(STATUS_OPEN);
  });

  it("a sharded request whose shard's hosts all stay busy is left open for another look in 5 s: never claimed, no decline sent; its batch-mate is served", async () => {
    const { ethers } = stack.connection;
    const { market, workerRegistry } = stack.contracts;
    const { versionId } = await publishShardedMnist(stack, stack.trained!, { shards: 2 });
    await (await workerRegistry.connect(stack.signers.worker).setServedModels([versionId], true)).wait();
    const fromBlock = (await ethers.provider.getBlockNumber()) + 1;
    // Every stage refused 429 BUSY by the shard's only host (its slots full with other callers' stages).
    const busyHost = { host: stack.signers.users[2].address, endpoint: "http://127.0.0.1:1" };
    const refusals: number[] = [];
    const shardRouter = new ShardRouter({
      transport: {
        runStage: async (_endpoint, _host, stage) => {
          refusals.push(stage.shardIndex);
          throw Object.assign(new Error("stage refused (429 BUSY)"), { status: 429, serverCode: "BUSY", retryable: true });
        },
      },
      hostsOf: async () => [busyHost],
      stageTimeoutMs: 300,
    });
    const args = { modelVersionId: versionId, deadline: await deadlineIn(600), callbackGasLimit: 0, salt: salt++, inputKind: InputKind.Inline, input: pixels(3) };
    const receipt = await (await market.connect(stack.signers.users[1]).requestInference(args, { value: PRICE_WEI })).wait();
    const log = receipt!.logs.find((l) => market.interface.parseLog(l)?.name === "InferenceRequested")!;
    const sharded = parsePendingInference(toEventPayload("InferenceMarket", log, market.interface.parseLog(log)!), market.interface);
    const fine = await good(12);

    const outcomes = await processor({ shardRouter }).processBatch([sharded, pendingOf(fine)]);
    expect(outcomes.map(labelOf)).to.deep.equal(["shard-hosts-busy", "fulfilled"]);
    expect(outcomes[0]).to.include({ recheckInMs: 5_000, detail: `every host of shard 0 of version ${versionId} stayed busy for 300 ms (tried ${busyHost.host})` });
    expect(refusals.length).to.be.greaterThan(1); // asked again after each pause, never past shard 0
    expect(new Set(refusals)).to.deep.equal(new Set([0]));
    expect(await market.queryFilter(market.filters.InferenceDeclined(), fromBlock)).to.have.length(0);
    const claimed = await market.queryFilter(market.filters.InferencesClaimed(stack.signers.worker.address), fromBlock);
    expect(claimed.flatMap((e) => e.args.requestIds.map(String))).to.deep.equal([fine.requestId.toString()]);
    expect((await market.requestState(sharded.requestId)).status).to.equal(STATUS_OPEN);
  });
});
