/**
 * `npm run bench:pipeline`: end-to-end throughput and latency of paid inference on the embedded
 * stack (EDR chain, Redis, embedded IPFS, tfjs on the best local backend), with fulfilment
 * batching on and off, side by side in one run.
 *
 * Latency = wall clock from a request's receipt (mined) to its `InferenceFulfilled` event being
 * seen by a 20 ms poller; throughput = fulfilled requests / (last fulfilment seen - first request
 * sent). BENCH_REQUESTS (default 200) requests go out from 8 accounts concurrently, inputs by CID.
 * A second measure, "backlog", queues all N requests while no worker runs and times how long a
 * freshly started worker takes to drain them: the worker's own capacity, not the senders'.
 */
import { rmSync } from "node:fs";
import { resolve } from "node:path";
import { network } from "hardhat";
import { silentLogger } from "../../worker/src/logger.js";
import { encodeImage } from "../../worker/src/ml/InferenceCodec.js";
import { MNIST_PIXELS } from "../../worker/src/ml/MnistDataset.js";
import { EmbeddedStack, PRICE_WEI } from "../lib/EmbeddedStack.js";
import { InferenceClient, InputKind, waitForFulfilments, type SentRequest } from "../lib/InferenceClient.js";

const N = Number(process.env.BENCH_REQUESTS ?? 200);
const SENDERS = 8;
const dataDir = resolve(".tessera/bench-pipeline");
rmSync(dataDir, { recursive: true, force: true });

const connection = await network.create();
const { ethers } = connection;
const stack = await EmbeddedStack.start(connection, { dataDir, queuePrefix: `tessera-bench-${process.pid}`, logger: silentLogger, trainEpochs: 1 });

interface ModeResult {
  mode: string;
  batchMaxSize: number;
  fulfilled: number;
  seconds: number;
  throughput: number;
  p50: number;
  p95: number;
  workerTxs: number;
  gasPerRequest: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function runMode(mode: string, batchMaxSize: number, batchMaxWaitMs: number, salt0: bigint, backlog = false, claimMode: "claim" | "optimistic" = "claim"): Promise<ModeResult> {
  const trained = stack.trained!;
  const fromBlock = (await ethers.provider.getBlockNumber()) + 1;
  const startWorker = () => stack.startWorker({ batchMaxSize, batchMaxWaitMs, workerConcurrency: batchMaxSize, claimMode, queuePrefix: `tessera-bench-${process.pid}-${mode}` }, fromBlock);
  const daemon = backlog ? undefined : await startWorker();
  const client = new InferenceClient(stack.contracts.market, stack.contracts.token, stack.store);
  const test = trained.data.test;
  const deadline = (await ethers.provider.getBlock("latest"))!.timestamp + 3_600;
  const inputs = Array.from({ length: N }, (_, i) => encodeImage(test.images.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS)));
  const started = Date.now();
  const sent: SentRequest[] = [];
  await Promise.all(
    stack.signers.users.slice(0, SENDERS).map(async (user, u) => {
      for (let i = u; i < N; i += SENDERS) {
        sent.push(await client.requestWithEth(user, { versionId: trained.versionId, pixels: inputs[i], inputKind: InputKind.Cid, fee: PRICE_WEI, deadline, salt: salt0 + BigInt(i) }));
      }
    }),
  );
  const drainStarted = Date.now();
  const running = daemon ?? (await startWorker());
  const done = await waitForFulfilments(stack.contracts.market, sent.map((s) => s.requestId), { fromBlock, timeoutMs: 600_000, pollMs: 20 });
  await running.stop();
  const since = (s: SentRequest) => (backlog ? drainStarted : s.minedAtMs);
  const latencies = sent.map((s) => (done.get(s.requestId)!.seenAtMs - since(s)) / 1000).sort((a, b) => a - b);
  const lastSeen = Math.max(...[...done.values()].map((f) => f.seenAtMs));
  const seconds = (lastSeen - (backlog ? drainStarted : started)) / 1000;
  const workerTxs = new Set<string>();
  const claimTxs = await stack.contracts.market.queryFilter(stack.contracts.market.filters.InferencesClaimed(), fromBlock);
  for (const e of claimTxs) workerTxs.add(e.transactionHash);
  for (const f of done.values()) workerTxs.add(f.txHash);
  let gas = 0n;
  for (const hash of workerTxs) gas += (await ethers.provider.getTransactionReceipt(hash))!.gasUsed;
  return {
    mode,
    batchMaxSize,
    fulfilled: done.size,
    seconds,
    throughput: done.size / seconds,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    workerTxs: workerTxs.size,
    gasPerRequest: Number(gas / BigInt(done.size)),
  };
}

let exitCode = 0;
try {
  await stack.trainAndPublish();
  await stack.stakeWorker(stack.trained!.versionId);
  const results = [
    await runMode("batching-off", 1, 0, 0n),
    await runMode("batching-on", 32, 50, 1_000_000n),
    await runMode("backlog-off", 1, 0, 2_000_000n, true),
    await runMode("backlog-on", 32, 50, 3_000_000n, true),
    await runMode("optimistic-on", 32, 50, 4_000_000n, false, "optimistic"),
  ];
  const [off, on, backlogOff, backlogOn] = results;
  console.log(`\nPipeline benchmark: ${N} paid requests (ETH, CID inputs) from ${SENDERS} senders, embedded stack, tfjs ${stack.backend.name}`);
  console.log(`${"mode".padEnd(14)}${"fulfilled".padStart(10)}${"seconds".padStart(9)}${"req/s".padStart(8)}${"p50 s".padStart(8)}${"p95 s".padStart(8)}${"worker txs".padStart(12)}${"worker gas/req".padStart(16)}`);
  for (const r of results) {
    console.log(`${r.mode.padEnd(14)}${String(r.fulfilled).padStart(10)}${r.seconds.toFixed(2).padStart(9)}${r.throughput.toFixed(1).padStart(8)}${r.p50.toFixed(3).padStart(8)}${r.p95.toFixed(3).padStart(8)}${String(r.workerTxs).padStart(12)}${String(r.gasPerRequest).padStart(16)}`);
  }
  console.log(`latency: from the request's receipt (live) or from the worker's start (backlog) to the fulfilment seen by a 20 ms poller`);
  console.log(`batching on / off, live:    throughput x${(on.throughput / off.throughput).toFixed(2)}, p50 x${(on.p50 / off.p50).toFixed(2)}, worker gas per request x${(on.gasPerRequest / off.gasPerRequest).toFixed(2)}`);
  console.log(`batching on / off, backlog: throughput x${(backlogOn.throughput / backlogOff.throughput).toFixed(2)} (worker capacity)`);
  console.log(JSON.stringify({ requests: N, backend: stack.backend.name, results }));
} catch (err) {
  console.error(err);
  exitCode = 1;
} finally {
  await stack.stop();
}
process.exit(exitCode);
