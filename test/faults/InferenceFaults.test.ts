import { randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NextToLast } from "blockstore-fs/sharding";
import { expect } from "chai";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { sha256 } from "multiformats/hashes/sha2";
import { EmbeddedStack, PRICE_WEI } from "../../scripts/lib/EmbeddedStack.js";
import { InferenceClient, InputKind, type SentRequest } from "../../scripts/lib/InferenceClient.js";
import { RpcFaultProxy } from "../../scripts/lib/faults/RpcFaultProxy.js";
import { WorkerProcess } from "../../scripts/lib/WorkerProcess.js";
import { encodeImage } from "../../worker/src/ml/InferenceCodec.js";
import { MNIST_PIXELS } from "../../worker/src/ml/MnistDataset.js";
import { PrivateRedisServer } from "../../worker/src/redis/PrivateRedisServer.js";
import { createRedisConnection } from "../../worker/src/redis/RedisConnection.js";
import { cleanUp, exitWhenDone } from "../helpers/faults/Cleanup.js";
import { CHAIN_KINDS, FaultChain, type ChainKind } from "../helpers/faults/FaultChain.js";
import { ethLedger, outcomesOf } from "../helpers/faults/MarketLedger.js";

/** Hardhat's and Anvil's well-known development key of account #1 (the stack's worker); never a real key. */
const WORKER_DEV_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const SETTLE_TIMEOUT_MS = 120_000;
/**
 * The worker's confirmation depth: on Anvil, which reorganises here, deeper than the deepest reorg the suite makes
 * (a job is done only once its transactions are this deep: the safe setting, as docs/operating.md says); EDR keeps
 * the embedded chain's 0 (it cannot reorg; its rollback case undoes the chain under the cursor).
 */
const CONFIRMATIONS: Record<ChainKind, number> = { edr: 0, anvil: 4 };
/** How long the RPC faults stay on in their case; the requests that are not served under them must be once they stop. */
const RPC_FAULT_WINDOW_MS = 10_000;

exitWhenDone();

/**
 * Fault injection for paid inference (`npm run test:faults`): a real worker daemon process, a real chain over
 * JSON-RPC (EDR and Anvil), a private Redis and the embedded IPFS store, with faults injected between and inside
 * them. After every case each request that exists on the final chain ends fulfilled exactly once or refunded,
 * and the market's ETH books balance to the wei.
 */
for (const kind of CHAIN_KINDS) {
  describe(`Inference under faults on ${kind} @faults`, function () {
    this.timeout(300_000);
    let chain: FaultChain;
    let stack: EmbeddedStack;
    let redis: PrivateRedisServer;
    let proxy: RpcFaultProxy;
    let client: InferenceClient;
    let dataDir: string;
    let fromBlock: number;
    let worker: WorkerProcess | undefined;
    let stakeBefore: bigint;
    const prefix = `tessera-faults-${randomUUID()}`;
    const sent: SentRequest[] = [];
    let salt = 0n;
    let workerCount = 0;
    /** Anvil mines only when a transaction arrives: a block every 400 ms lets confirmations accrue (paused for reorgs). */
    let ticker: NodeJS.Timeout | undefined;
    let tickerPaused = false;

    function startWorker(): WorkerProcess {
      worker = new WorkerProcess({
        name: `worker-${++workerCount}`,
        rpcUrl: proxy.url,
        workerKey: WORKER_DEV_KEY,
        dataDir,
        redisUrl: redis.url,
        queuePrefix: prefix,
        roles: "listener,processor",
        env: {
          POLL_INTERVAL_MS: "100",
          BATCH_MAX_SIZE: "8",
          BATCH_MAX_WAIT_MS: "300",
          JOB_LOCK_MS: "2000",
          CONFIRMATIONS: String(CONFIRMATIONS[kind]),
        },
      });
      return worker;
    }

    async function request(i: number, inputKind = InputKind.Inline, cidOverride?: Uint8Array): Promise<SentRequest> {
      const test = stack.trained!.data.test;
      const pixels = encodeImage(test.images.subarray((i % 2000) * MNIST_PIXELS, ((i % 2000) + 1) * MNIST_PIXELS));
      const now = (await chain.connection.ethers.provider.getBlock("latest"))!.timestamp;
      const options = { versionId: stack.trained!.versionId, pixels, inputKind, fee: PRICE_WEI, deadline: Math.max(now, Math.floor(Date.now() / 1000)) + 600, salt: salt++ };
      const s =
        cidOverride === undefined
          ? await client.requestWithEth(stack.signers.users[i % 3], options)
          : await requestWithRawInput(i, cidOverride, options.deadline);
      sent.push(s);
      return s;
    }

    /** A request whose input is `input` as given (a CID nobody has, a corrupted one). */
    async function requestWithRawInput(i: number, input: Uint8Array, deadline: number): Promise<SentRequest> {
      const market = stack.contracts.market.connect(stack.signers.users[i % 3]);
      const tx = await market.requestInference(
        { modelVersionId: stack.trained!.versionId, deadline, callbackGasLimit: 0, salt: salt++, inputKind: InputKind.Cid, input },
        { value: PRICE_WEI },
      );
      const receipt = (await tx.wait())!;
      const parsed = receipt.logs.map((l) => market.interface.parseLog(l)).find((p) => p?.name === "InferenceRequested")!;
      return { requestId: parsed.args.requestId, requester: parsed.args.requester, payment: "eth", inputKind: InputKind.Cid, receipt, minedAtMs: Date.now(), request: parsed.args.request.toObject() };
    }

    /** Waits until none of `requests` is open any more (fulfilled or refunded), on the chain as it is now. */
    async function settled(requests: readonly SentRequest[], timeoutMs = SETTLE_TIMEOUT_MS): Promise<void> {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const open: bigint[] = [];
        for (const s of requests) if ((await stack.contracts.market.requestState(s.requestId)).status !== 0n) open.push(s.requestId);
        if (open.length === 0) return;
        if (Date.now() > until) throw new Error(`${open.length} of ${requests.length} requests still open:\n${worker?.log().slice(-12_000)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }

    async function fulfilledOnce(requests: readonly SentRequest[]): Promise<void> {
      const outcomes = await outcomesOf(stack.contracts.market, requests, fromBlock);
      for (const o of outcomes) {
        expect({ id: o.requestId, fulfilled: o.fulfilled, refunded: o.refunded, open: o.open }).to.deep.equal({ id: o.requestId, fulfilled: 1, refunded: 0, open: false });
      }
    }

    before(async function () {
      dataDir = mkdtempSync(join(tmpdir(), `tessera-faults-${kind}-`));
      chain = await FaultChain.start(kind, join(dataDir, "anvil-state.json"));
      redis = await PrivateRedisServer.start();
      stack = await EmbeddedStack.start(chain.connection, { dataDir, queuePrefix: prefix, trainEpochs: 1 });
      await stack.trainAndPublish();
      await stack.stakeWorker(stack.trained!.versionId);
      stakeBefore = (await stack.contracts.workerRegistry.workerOf(stack.signers.worker.address)).stake;
      client = new InferenceClient(stack.contracts.market, stack.contracts.token, stack.store);
      proxy = await RpcFaultProxy.start(chain.rpcUrl, 7);
      if (CONFIRMATIONS[kind] > 0) {
        ticker = setInterval(() => {
          if (!tickerPaused) chain.mine(1).catch(() => undefined); // a restarting node refuses: the next tick retries
        }, 400);
      }
      fromBlock = await chain.connection.ethers.provider.getBlockNumber();
      startWorker();
      const warmup = await request(0);
      await settled([warmup]);
    });

    after(async function () {
      clearInterval(ticker);
      await cleanUp({
        worker: () => worker?.kill("SIGKILL"),
        proxy: () => proxy?.close(),
        stack: () => stack?.stop(),
        redis: () => redis?.stop(),
        chain: () => chain?.close(),
        dataDir: () => rmSync(dataDir, { recursive: true, force: true }),
      });
    });

    /** The block up to which the worker's inference listener has enqueued every event (its cursor in Redis). */
    async function listenerCursor(): Promise<number> {
      const connection = createRedisConnection(redis.url);
      try {
        const key = `${prefix}:cursor:${stack.deployment.chainId}:${stack.deployment.contracts.InferenceMarket.toLowerCase()}`;
        const stored = await connection.get(key);
        return stored === null ? -1 : (JSON.parse(stored) as { block: number }).block;
      } finally {
        connection.disconnect();
      }
    }

    it("a worker SIGKILLed mid-batch: the next process serves every request exactly once", async function () {
      const batch = [await request(1), await request(2), await request(3)];
      await new Promise((r) => setTimeout(r, 150));
      worker!.kill("SIGKILL");
      const whileDown = [await request(4), await request(5)];
      startWorker();
      await settled([...batch, ...whileDown]);
      await fulfilledOnce([...batch, ...whileDown]);
    });

    it("Redis restarted mid-run (nothing persisted): the worker reconnects, rescans and serves each request once", async function () {
      const before = [await request(6), await request(7)];
      const port = redis.port;
      await redis.stop();
      const whileDown = [await request(8), await request(9)];
      await new Promise((r) => setTimeout(r, 1_000));
      redis = await PrivateRedisServer.start({ port });
      await settled([...before, ...whileDown]);
      await fulfilledOnce([...before, ...whileDown]);
    });

    it("RPC faults (drops, 429, 503, delays): the worker backs off, catches up and skips no event", async function () {
      // Faults for a bounded window (a provider's bad minutes), requests sent inside it; whatever the worker could
      // not serve under them it must serve once they stop, each request once.
      proxy.setFaults({ drop: 0.1, rateLimit: 0.1, serverError: 0.1, delayMs: [0, 200] });
      const faultsFrom = Date.now();
      const requests: SentRequest[] = [];
      let servedUnderFaults = 0;
      try {
        for (let i = 10; i < 16; i++) requests.push(await request(i));
        await settled(requests, Math.max(0, faultsFrom + RPC_FAULT_WINDOW_MS - Date.now())).catch(() => undefined);
      } finally {
        proxy.setFaults({});
      }
      const under = { ...proxy.counts };
      for (const s of requests) if ((await stack.contracts.market.requestState(s.requestId)).status === 0n) servedUnderFaults++;
      await settled(requests);
      await fulfilledOnce(requests);
      console.log(`      proxy: ${JSON.stringify(under)}; ${servedUnderFaults} of ${requests.length} served while the faults were on (${((Date.now() - faultsFrom) / 1000).toFixed(1)} s in all)`);
      expect(under.dropped + under.rateLimited + under.serverError).to.be.greaterThan(0);
    });

    for (const depth of [1, 2, 3]) {
      it(`a reorg of depth ${depth} that drops the worker's claim and fulfilment: the requests are served again`, async function () {
        if (!chain.canReorg) {
          console.log(`      skipped: ${kind} has no reorg RPC (anvil_reorg); the rollback case below covers it on ${kind}`);
          this.skip();
        }
        const requests = [await request(20 + depth)];
        // Fulfilled, but not yet final (the worker waits until its transactions are CONFIRMATIONS deep): stop the
        // clock, and replace the worker's last `depth` blocks (and the empty ones mined since) by empty blocks.
        while ((await stack.contracts.market.requestState(requests[0].requestId)).status !== 0n) await new Promise((r) => setTimeout(r, 20));
        tickerPaused = true;
        try {
          await new Promise((r) => setTimeout(r, 500)); // a tick already sent lands first
          const head = await chain.connection.ethers.provider.getBlockNumber();
          const [fulfilment] = await stack.contracts.market.queryFilter(stack.contracts.market.filters.InferenceFulfilled(requests[0].requestId), fromBlock, head);
          const reorgDepth = head - fulfilment.blockNumber + depth;
          expect(reorgDepth, "inside the worker's confirmation depth").to.be.lessThan(CONFIRMATIONS[kind] + 1);
          await chain.reorg(reorgDepth);
          expect(await chain.connection.ethers.provider.getTransactionReceipt(fulfilment.transactionHash)).to.equal(null);
        } finally {
          tickerPaused = false;
        }
        await settled(requests);
        const outcomes = await outcomesOf(stack.contracts.market, requests, fromBlock);
        for (const o of outcomes.filter((x) => x.exists)) expect([o.fulfilled, o.refunded, o.open]).to.deep.equal([1, 0, false]);
      });
    }

    it("a reorg without the worker's transactions in the dropped blocks changes nothing", async function () {
      if (!chain.canReorg) {
        console.log(`      skipped: ${kind} has no reorg RPC (anvil_reorg)`);
        this.skip();
      }
      const requests = [await request(30)];
      await settled(requests);
      await chain.mine(2);
      await chain.reorg(2);
      await fulfilledOnce(requests);
    });

    it("a rollback past the worker's claim and fulfilment (evm_snapshot / evm_revert): the request is served again", async function () {
      proxy.setFaults({ drop: 1 }); // the worker cannot act until the snapshot is taken
      const requests = [await request(35)];
      const snapshot = await chain.rpc<string>("evm_snapshot");
      proxy.setFaults({});
      await settled(requests);
      // Roll back only once the worker's listener has read its own fulfilment: the ancestor it then finds is the
      // request's block, and the request is served again only because the listener replays it (REORG_REPLAY_BLOCKS).
      const [fulfilment] = await stack.contracts.market.queryFilter(stack.contracts.market.filters.InferenceFulfilled(requests[0].requestId), fromBlock);
      const until = Date.now() + SETTLE_TIMEOUT_MS;
      while ((await listenerCursor()) < fulfilment.blockNumber) {
        if (Date.now() > until) throw new Error(`the listener never read block ${fulfilment.blockNumber}:\n${worker?.log().slice(-4_000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      await chain.rpc("evm_revert", [snapshot]);
      await chain.mine(1);
      await settled(requests);
      await fulfilledOnce(requests);
    });

    it("IPFS content missing or corrupted: never claimed, the requester is refunded in full, the worker keeps its stake", async function () {
      const missing = CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(`nobody has this ${randomUUID()}`)));
      const good = await request(40, InputKind.Cid);
      const corruptPixels = new Uint8Array(MNIST_PIXELS).fill(7);
      const corruptCid = CID.parse(await stack.store.add(corruptPixels));
      corruptBlock(join(dataDir, "ipfs"), corruptCid.toString());
      const bad = [await request(41, InputKind.Cid, missing.bytes), await request(42, InputKind.Cid, corruptCid.bytes)];
      await settled([good]);
      await new Promise((r) => setTimeout(r, 3_000));
      for (const s of bad) expect((await stack.contracts.market.requestState(s.requestId)).status, "never claimed").to.equal(1n);
      const lastDeadline = Math.max(...bad.map((b) => Number(b.request.deadline)));
      await chain.mineAt(lastDeadline + 1);
      for (const s of bad) await (await stack.contracts.market.refund(s.request)).wait();
      const outcomes = await outcomesOf(stack.contracts.market, bad, fromBlock);
      for (const o of outcomes) expect([o.fulfilled, o.refunded, o.open]).to.deep.equal([0, 1, false]);
      expect((await stack.contracts.workerRegistry.workerOf(stack.signers.worker.address)).stake).to.equal(stakeBefore);
    });

    it("the books: every request fulfilled once or refunded, fees in == out + escrow, balance == credits + unsettled + escrow", async function () {
      const outcomes = await outcomesOf(stack.contracts.market, sent, fromBlock);
      for (const o of outcomes.filter((x) => x.exists)) expect(o.fulfilled + o.refunded, `request ${o.requestId}`).to.equal(1);
      const ledger = await ethLedger(stack.contracts.market, outcomes, {
        accounts: [...stack.signers.users.slice(0, 3).map((u) => u.address), stack.signers.worker.address, stack.signers.modelOwner.address, stack.signers.treasury.address],
        workers: [stack.signers.worker.address],
        versionIds: [stack.trained!.versionId],
      });
      console.log(`      ${kind} books (wei): ${JSON.stringify(ledger, (_k, v) => (typeof v === "bigint" ? v.toString() : v))}; requests ${outcomes.filter((o) => o.exists).length} (reorged out: ${outcomes.filter((o) => !o.exists).length})`);
      expect(ledger.paidIn).to.equal(ledger.fulfilledFees + ledger.refundedFees + ledger.openEscrow);
      expect(ledger.balance).to.equal(ledger.credits + ledger.unsettled + ledger.openEscrow);
      expect((await stack.contracts.workerRegistry.workerOf(stack.signers.worker.address)).stake).to.equal(stakeBefore);
    });

    it("the node restarted with its state: the worker reconnects and serves what came before and after", async function () {
      if (!chain.canKeepStateAcrossRestart) {
        console.log(`      skipped: ${kind} cannot restart with its state (no state dump)`);
        this.skip();
      }
      const before = [await request(50)];
      await chain.restart(true);
      const after = [await request(51)];
      await settled([...before, ...after]);
      await fulfilledOnce([...before, ...after]);
    });

    it("the node restarted without its state and the protocol redeployed: the worker notices its stale cursor and serves the new chain", async function () {
      await chain.restart(false);
      fromBlock = 0;
      const redeployed = await EmbeddedStack.start(chain.connection, { dataDir, queuePrefix: prefix, trainEpochs: 1 });
      try {
        expect(redeployed.deployment.contracts).to.deep.equal(stack.deployment.contracts);
        await redeployed.trainAndPublish();
        await redeployed.stakeWorker(redeployed.trained!.versionId);
        const fresh = new InferenceClient(redeployed.contracts.market, redeployed.contracts.token, redeployed.store);
        const test = redeployed.trained!.data.test;
        const requests: SentRequest[] = [];
        for (let i = 60; i < 63; i++) {
          const now = (await chain.connection.ethers.provider.getBlock("latest"))!.timestamp;
          requests.push(
            await fresh.requestWithEth(redeployed.signers.users[i % 3], {
              versionId: redeployed.trained!.versionId,
              pixels: encodeImage(test.images.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS)),
              inputKind: InputKind.Inline,
              fee: PRICE_WEI,
              deadline: Math.max(now, Math.floor(Date.now() / 1000)) + 600,
              salt: BigInt(i),
            }),
          );
        }
        await settled(requests);
        await fulfilledOnce(requests);
        expect(worker!.log(), "the worker says so").to.match(/cursor/i);
      } finally {
        await redeployed.stop();
      }
    });
  });
}

/** Flips a byte of the block file that holds `cid` in the embedded blockstore (blockstore-fs: one file per block). */
function corruptBlock(ipfsDir: string, cid: string): void {
  const { file } = new NextToLast().encode(CID.parse(cid));
  const dirs = [ipfsDir];
  while (dirs.length > 0) {
    const dir = dirs.pop()!;
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) dirs.push(path);
      else if (name === file) {
        const bytes = readFileSync(path);
        bytes[bytes.length - 1] ^= 0xff;
        writeFileSync(path, bytes);
        return;
      }
    }
  }
  throw new Error(`no block file ${file} for ${cid} under ${ipfsDir}`);
}
