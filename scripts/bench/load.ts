/**
 * `npm run -s bench:load`: thousands of paid requests against the local stack, the workers being
 * real worker daemon processes, in every topology an operator would run: 1, 2 and 4 processes of
 * one operator (one Redis, one listener, the rest `WORKER_ROLES=processor`) and 2 operators (two
 * staked workers, a private Redis each, competing through claims), batching off and on. Then an
 * open-loop run at half the best measured saturation rate. Last line: JSON.
 *
 * Chain: Hardhat's EDR behind `hardhat node` in a child process (automine: one block per transaction; LOAD_CHAIN below). Requests are
 * paid in ETH with CID inputs (held-out MNIST digits pinned beforehand in the embedded IPFS store
 * the workers share by directory), sent by LOAD_SENDERS accounts at once.
 *
 * Settings (environment): LOAD_REQUESTS (batched runs, default 2000), LOAD_REQUESTS_UNBATCHED
 * (default LOAD_REQUESTS / 4: a request unbatched costs two transactions and a model call of its
 * own), LOAD_OPEN_LOOP_REQUESTS (default LOAD_REQUESTS), LOAD_SENDERS (default 32),
 * LOAD_TOPOLOGIES (default "1,2,4,2x1": processes of one operator, or operators x processes),
 * LOAD_TIMEOUT_S (per run, default 900), LOAD_IDLE_BLOCK_MS (default 1000; 0: off): an empty block is
 * mined when the chain has had none for that long (see IdleBlockProducer). For quick open-loop
 * iterations: LOAD_OPEN_LOOP_RATE (req/s instead of half the best saturation rate) with
 * LOAD_OPEN_LOOP_TOPOLOGY (default: the best saturated one, else "4"), and LOAD_TOPOLOGIES=none to skip
 * the saturation runs; LOAD_WORKER_ENV ("KEY=value,...") adds worker settings to every run. LOAD_BATCH_SIZE
 * (default 64): BATCH_MAX_SIZE and WORKER_CONCURRENCY of the batched runs. LOAD_CHAIN: "node" (default: `hardhat node`,
 * EDR in a process of its own, as an operator runs a local chain), "edr" (EDR served from this process, whose
 * JavaScript thread then answers every JSON-RPC call beside the senders and the poller, and the CPU figures cannot tell
 * the node from them) or "anvil" (Foundry's Anvil
 * in a child process). WORKER_CPU_PROF=<dir>: each worker process writes a V8 CPU
 * profile there when it exits.
 */
import { rmSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { HDNodeWallet } from "ethers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import { CID } from "multiformats/cid";
import { saveDeployment } from "../../worker/src/Deployment.js";
import { silentLogger } from "../../worker/src/logger.js";
import { encodeImage } from "../../worker/src/ml/InferenceCodec.js";
import { MNIST_PIXELS } from "../../worker/src/ml/MnistDataset.js";
import { CAP_INFER, EmbeddedStack, PRICE_WEI } from "../lib/EmbeddedStack.js";
import { serveAnvilChain, serveChain, serveNodeProcessChain } from "../lib/RpcChain.js";
import { drainBacklog } from "./load/BacklogDrain.js";
import { FulfilmentWatcher } from "./load/FulfilmentWatcher.js";
import { IdleBlockProducer } from "./load/IdleBlockProducer.js";
import { LoadOperator } from "./load/LoadOperator.js";
import { LoadSenders, type LoadRequest, type SentLoadRequest } from "./load/LoadSenders.js";
import { isBatchTimings, latencyBreakdown, type BatchTimingsRecord, type Breakdown } from "./load/LatencyBreakdown.js";
import { percentile, sustainedRate } from "./load/Percentiles.js";
import { nonces, workerGas } from "./load/WorkerGas.js";

const N = Number(process.env.LOAD_REQUESTS ?? 2_000);
const N_UNBATCHED = Number(process.env.LOAD_REQUESTS_UNBATCHED ?? Math.max(1, Math.floor(N / 4)));
const N_OPEN = Number(process.env.LOAD_OPEN_LOOP_REQUESTS ?? N);
const SENDERS = Number(process.env.LOAD_SENDERS ?? 32);
const TIMEOUT_MS = Number(process.env.LOAD_TIMEOUT_S ?? 900) * 1000;
const IDLE_BLOCK_MS = Number(process.env.LOAD_IDLE_BLOCK_MS ?? 1_000);
const TOPOLOGIES = (process.env.LOAD_TOPOLOGIES ?? "1,2,4,2x1") === "none" ? [] : (process.env.LOAD_TOPOLOGIES ?? "1,2,4,2x1").split(",").map(parseTopology);
const OPEN_RATE = process.env.LOAD_OPEN_LOOP_RATE === undefined ? undefined : Number(process.env.LOAD_OPEN_LOOP_RATE);
const OPEN_TOPOLOGY = process.env.LOAD_OPEN_LOOP_TOPOLOGY === undefined ? undefined : parseTopology(process.env.LOAD_OPEN_LOOP_TOPOLOGY);
const WORKER_ENV: Record<string, string> = Object.fromEntries(
  (process.env.LOAD_WORKER_ENV ?? "")
    .split(",")
    .filter((kv) => kv.trim() !== "")
    .map((kv) => kv.split("=").map((x) => x.trim()) as [string, string]),
);
/** Hardhat's development mnemonic: the keys of its well-known accounts, never real keys. */
const DEV_MNEMONIC = "test test test test test test test test test test test junk";
const BATCHING = {
  off: { BATCH_MAX_SIZE: "1", BATCH_MAX_WAIT_MS: "0" },
  on: { BATCH_MAX_SIZE: process.env.LOAD_BATCH_SIZE ?? "64", BATCH_MAX_WAIT_MS: "50", WORKER_CONCURRENCY: process.env.LOAD_BATCH_SIZE ?? "64" },
} as const;

interface Topology {
  readonly label: string;
  /** Processes per operator. */
  readonly operators: readonly number[];
}

interface RunResult {
  readonly topology: string;
  readonly batching: "off" | "on";
  readonly processes: number;
  readonly requests: number;
  readonly fulfilled: number;
  readonly exactlyOnce: boolean;
  readonly sendRate: number;
  readonly throughput: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly redisPeakMiB: number[];
  readonly workerTxs: number;
  readonly gasPerRequest: number;
  /** Fulfilments per operator (the 2-operator runs split the work through claims). */
  readonly byOperator: number[];
  /** Warnings and errors the worker processes logged (warm-up included), by kind. */
  readonly workerProblems: Record<string, number>;
  /** Where the latency went, by worker stage (from the processes' "batch timings" records). */
  readonly breakdown: Breakdown;
  /** Requests/s served from a backlog of as many requests (see BacklogDrain); not run in the open loop. */
  drainRate?: number;
  /** CPU ms per request while the backlog drained: the node (in its own process), this process (senders, poller; EDR with LOAD_CHAIN=edr), the workers, Redis. */
  drainCpuMs?: { node: number; bench: number; workers: number; redis: number };
}

function parseTopology(text: string): Topology {
  const m = /^(?:(\d+)x)?(\d+)$/.exec(text.trim());
  if (m === null) throw new Error(`LOAD_TOPOLOGIES: "${text}" is neither <processes> nor <operators>x<processes>`);
  const operators = Number(m[1] ?? 1);
  const processes = Number(m[2]);
  if (operators < 1 || operators > 2 || processes < 1) throw new Error(`LOAD_TOPOLOGIES: "${text}": 1 or 2 operators (two staked keys), at least 1 process`);
  const label = operators === 1 ? `1 operator, ${processes} proc` : `${operators} operators, ${processes} proc each`;
  return { label, operators: Array.from({ length: operators }, () => processes) };
}

const dataDir = resolve(".tessera/bench-load");
rmSync(dataDir, { recursive: true, force: true });
const CHAIN = process.env.LOAD_CHAIN ?? "node";
const CHAIN_LABEL: Record<string, string> = {
  node: "EDR as `hardhat node` serves it, in its own process",
  edr: "EDR served over JSON-RPC from the benchmark's own process",
  anvil: "Foundry's Anvil in its own process",
};
if (CHAIN_LABEL[CHAIN] === undefined) throw new Error(`LOAD_CHAIN: "${CHAIN}" is none of ${Object.keys(CHAIN_LABEL).join(", ")}`);
const chain = CHAIN === "anvil" ? await serveAnvilChain() : CHAIN === "edr" ? await serveChain() : await serveNodeProcessChain();
const stack = await EmbeddedStack.start(chain.connection, { dataDir, queuePrefix: `tessera-load-${process.pid}`, logger: silentLogger, trainEpochs: 1 });
const { ethers, provider } = chain.connection;
const { market } = stack.contracts;
const idleBlocks = IDLE_BLOCK_MS > 0 ? new IdleBlockProducer(provider, IDLE_BLOCK_MS) : undefined;

/** The private key of one of Hardhat's development accounts, checked against its signer. */
function devKey(signer: HardhatEthersSigner, index: number): string {
  const wallet = HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, `m/44'/60'/0'/0/${index}`);
  if (wallet.address !== signer.address) throw new Error(`development account ${index} is ${signer.address}, not ${wallet.address}`);
  return wallet.privateKey;
}

/** Stakes a second operator (CAP_INFER, serving the version), as `stakeWorker` does for the first. */
async function stakeOperator(signer: HardhatEthersSigner, versionId: bigint): Promise<void> {
  const { token, workerRegistry } = stack.contracts;
  const stake = (await workerRegistry.minStake()) * 2n;
  await (await token.mint(signer.address, stake)).wait();
  await (await token.connect(signer).approve(await workerRegistry.getAddress(), stake)).wait();
  await (await workerRegistry.connect(signer).register(stake, CAP_INFER, "0x02" + "22".repeat(32), "embedded://worker-2")).wait();
  await (await workerRegistry.connect(signer).setServedModels([versionId], true)).wait();
}

let salt = 0n;
let cids: Uint8Array[] = [];
async function requests(count: number): Promise<LoadRequest[]> {
  const deadline = (await ethers.provider.getBlock("latest"))!.timestamp + 3_600;
  return Array.from({ length: count }, (_, i) => ({ versionId: stack.trained!.versionId, cid: cids[i % cids.length], fee: PRICE_WEI, deadline, salt: salt++ }));
}

/** Starts the topology's operators on a deployment file whose listeners start at the head. */
async function startOperators(topology: Topology, batching: "off" | "on", keys: string[], tag: string): Promise<LoadOperator[]> {
  const deploymentFile = join(dataDir, `deployment-${tag}.json`);
  const { DataRegistry: _data, TrainingJobs: _training, ...inference } = stack.deployment.contracts;
  // Inference only: without the data and training contracts the listener polls the market alone.
  saveDeployment(deploymentFile, { ...stack.deployment, contracts: inference, startBlock: await ethers.provider.getBlockNumber() });
  const started = await Promise.allSettled(
    topology.operators.map((processes, o) =>
      LoadOperator.start({ name: `${tag}-op${o + 1}`, rpcUrl: chain.rpcUrl, workerKey: keys[o], dataDir, deploymentFile, processes, env: { ...BATCHING[batching], ...WORKER_ENV } }),
    ),
  );
  const operators = started.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const failed = started.find((r) => r.status === "rejected");
  if (failed !== undefined) {
    await stopAll(operators);
    throw failed.reason;
  }
  return operators;
}

async function stopAll(operators: readonly LoadOperator[]): Promise<void> {
  await Promise.all(operators.map((o) => o.stop()));
}

/** Warm-up: every process loads the model and the listeners catch up; not measured. */
async function warmUp(senders: LoadSenders, processes: number): Promise<void> {
  const fromBlock = (await ethers.provider.getBlockNumber()) + 1;
  const watcher = new FulfilmentWatcher(provider, market, fromBlock);
  const sent = await senders.closedLoop(await requests(4 * processes));
  const missing = await watcher.waitFor(sent.map((s) => s.requestId), 300_000);
  await watcher.stop();
  if (missing.length > 0) throw new Error(`warm-up: ${missing.length} requests not fulfilled within 300 s`);
}

/** Measures what the running operators do with `send`'s requests; the operators are stopped by the caller. */
async function measure(
  topology: Topology,
  batching: "off" | "on",
  operators: readonly LoadOperator[],
  workers: readonly string[],
  count: number,
  send: (batch: LoadRequest[]) => Promise<SentLoadRequest[]>,
): Promise<RunResult> {
  const batch = await requests(count);
  const fromBlock = (await ethers.provider.getBlockNumber()) + 1;
  const noncesBefore = await nonces(provider, workers);
  const watcher = new FulfilmentWatcher(provider, market, fromBlock);
  const started = Date.now();
  const sent: SentLoadRequest[] = await send(batch);
  const sendSeconds = (Date.now() - started) / 1000;
  const missing = await watcher.waitFor(sent.map((s) => s.requestId), TIMEOUT_MS);
  // Anything more (a second fulfilment of a request) would land within a few polls.
  await new Promise((r) => setTimeout(r, 2_000));
  const redisPeak = await Promise.all(operators.map((o) => o.redisPeakBytes()));
  const dead = operators.flatMap((o) => o.deadProcesses);
  await watcher.stop();
  const toBlock = watcher.nextBlock - 1;
  const noncesAfter = await nonces(provider, workers);
  const expectedTxs = noncesAfter.reduce((a, n, i) => a + n - noncesBefore[i], 0);
  const fulfilments = sent.map((s) => watcher.seen.get(s.requestId)).filter((f) => f !== undefined);
  const gas = await workerGas(provider, market, workers, { fromBlock, toBlock }, fulfilments.map((f) => f.txHash), expectedTxs);
  const latencies = sent
    .filter((s) => watcher.seen.has(s.requestId))
    .map((s) => (watcher.seen.get(s.requestId)!.seenAtMs - s.minedAtMs) / 1000)
    .sort((a, b) => a - b);
  const exactlyOnce = missing.length === 0 && sent.length === count && fulfilments.every((f) => f.count === 1) && dead.length === 0;
  if (!exactlyOnce) {
    console.error(
      `   ✘ ${topology.label}, batching ${batching}: ${sent.length}/${count} sent, ${missing.length} not fulfilled, ` +
        `${fulfilments.filter((f) => f.count !== 1).length} fulfilled more than once, dead processes: ${dead.join(", ") || "none"}`,
    );
  }
  const problems: Record<string, number> = {};
  for (const o of operators) for (const [k, n] of o.problems()) problems[k] = (problems[k] ?? 0) + n;
  const batchRecords = operators.flatMap((o) => o.processes.flatMap((p) => p.records(isBatchTimings))) as unknown as BatchTimingsRecord[];
  const breakdown = latencyBreakdown(batchRecords, sent.map((s) => ({ ...s, seenAtMs: watcher.seen.get(s.requestId)?.seenAtMs })));
  const byWorker = new Map<string, number>();
  for (const f of fulfilments) byWorker.set(f.worker.toLowerCase(), (byWorker.get(f.worker.toLowerCase()) ?? 0) + 1);
  return {
    topology: topology.label,
    batching,
    processes: topology.operators.reduce((a, b) => a + b, 0),
    requests: count,
    fulfilled: fulfilments.length,
    exactlyOnce,
    sendRate: sent.length / sendSeconds,
    throughput: sustainedRate(fulfilments.map((f) => f.seenAtMs), Math.min(...sent.map((s) => s.minedAtMs))),
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    redisPeakMiB: redisPeak.map((b) => b / 2 ** 20),
    workerTxs: gas.txs,
    gasPerRequest: fulfilments.length === 0 ? Number.NaN : Number(gas.gas / BigInt(fulfilments.length)),
    byOperator: workers.map((w) => byWorker.get(w.toLowerCase()) ?? 0),
    workerProblems: problems,
    breakdown,
  };
}

function printBreakdown(result: RunResult): void {
  const b = result.breakdown;
  console.log(`   where the latency went (${b.traced} requests traced; ${b.batches} batches, size p50 ${b.batchSizeP50}, max ${b.batchSizeMax}), ms:`);
  const width = Math.max(...b.stages.map((s) => s.stage.length));
  console.log(`      ${"stage".padEnd(width)}     p50     p95    mean`);
  for (const s of b.stages) console.log(`      ${s.stage.padEnd(width)}  ${f(s.p50, 0).padStart(6)}  ${f(s.p95, 0).padStart(6)}  ${f(s.mean, 0).padStart(6)}   ${s.meaning}`);
}

const f = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : "-");

function printProblems(result: RunResult): void {
  for (const [kind, n] of Object.entries(result.workerProblems).sort((a, b) => b[1] - a[1])) console.log(`      worker log: ${n} x ${kind}`);
}

/** `openLoop`: the senders keep a fixed rate there, so the sender-bound mark says nothing. */
function printTable(results: readonly RunResult[], openLoop = false): void {
  const head = ["topology", "batching", "requests", "fulfilled", "send/s", "req/s", "drain req/s", "p50 s", "p95 s", "p99 s", "redis peak MiB", "worker txs", "gas/req"];
  const rows = results.map((r) => [
    r.topology,
    r.batching,
    String(r.requests),
    `${r.fulfilled}${r.exactlyOnce ? "" : " ✘"}`,
    `${f(r.sendRate, 0)}${!openLoop && r.sendRate < 1.2 * r.throughput ? " *" : ""}`,
    f(r.throughput, 1),
    f(r.drainRate ?? Number.NaN, 1),
    f(r.p50, 3),
    f(r.p95, 3),
    f(r.p99, 3),
    r.redisPeakMiB.map((m) => f(m, 1)).join(" + "),
    String(r.workerTxs),
    f(r.gasPerRequest, 0),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  console.log(line(head));
  for (const row of rows) console.log(line(row));
}

let exitCode = 0;
const operators: LoadOperator[] = [];
try {
  const trained = await stack.trainAndPublish();
  await stack.stakeWorker(trained.versionId);
  const first = stack.signers.worker;
  const second = stack.signers.users.at(-1)!;
  const secondIndex = 4 + stack.signers.users.length - 1; // deployer, worker, model owner, treasury, then the users
  await stakeOperator(second, trained.versionId);
  const keys = [devKey(first, 1), devKey(second, secondIndex)];
  const workers = [first.address, second.address];

  const test = trained.data.test;
  const distinct = Math.min(test.count, Math.max(N, N_UNBATCHED, N_OPEN));
  cids = [];
  for (let i = 0; i < distinct; i++) cids.push(CID.parse(await stack.store.add(encodeImage(test.images.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS)))).bytes);
  const senders = await LoadSenders.fund(provider, market, SENDERS);
  console.log(
    `Load benchmark: ${N} requests per batched run, ${N_UNBATCHED} per unbatched run${N_UNBATCHED < N ? " (fewer: unbatched is slow)" : ""}, ` +
      `${N_OPEN} open-loop; ${SENDERS} sender accounts; ${CHAIN_LABEL[CHAIN]} (automine${IDLE_BLOCK_MS > 0 ? `, an empty block after ${IDLE_BLOCK_MS} ms idle` : ""}); ` +
      `tfjs ${stack.backend.name}; CID inputs, paid in ETH`,
  );

  const results: RunResult[] = [];
  for (const topology of TOPOLOGIES) {
    for (const batching of ["off", "on"] as const) {
      const tag = `${topology.operators.length}x${topology.operators[0]}-${batching}`;
      const running = await startOperators(topology, batching, keys, tag);
      operators.push(...running);
      const used = workers.slice(0, topology.operators.length);
      try {
        await warmUp(senders, topology.operators.reduce((a, b) => a + b, 0));
        const result = await measure(topology, batching, running, used, batching === "on" ? N : N_UNBATCHED, (b) => senders.closedLoop(b));
        results.push(result);
        // The same topology on a backlog of as many requests: the workers' service rate, without the requests' own transactions.
        const drainFrom = (await ethers.provider.getBlockNumber()) + 1;
        const drainWatcher = new FulfilmentWatcher(provider, market, drainFrom);
        const batchSize = batching === "on" ? N : N_UNBATCHED;
        const drain = await drainBacklog(running, drainWatcher, async () => senders.closedLoop(await requests(batchSize)), TIMEOUT_MS, chain.nodePid).finally(() => drainWatcher.stop());
        const drainedOnce = drain.complete && drain.sent.every((s) => drainWatcher.seen.get(s.requestId)?.count === 1);
        if (!drainedOnce) console.error(`   ✘ ${topology.label}, batching ${batching}: the backlog drain did not fulfil every request exactly once`);
        result.drainRate = drainedOnce ? drain.rate : Number.NaN;
        result.drainCpuMs = drain.cpuMs;
        console.log(
          `   ${result.exactlyOnce ? "✔" : "✘"} ${topology.label}, batching ${batching}: ${result.fulfilled}/${result.requests} fulfilled exactly once, ` +
            `${f(result.throughput, 1)} req/s, p95 ${f(result.p95, 3)} s; backlog of ${batchSize} drained at ${f(result.drainRate, 1)} req/s${used.length > 1 ? `, by operator ${result.byOperator.join(" / ")}` : ""}`,
        );
        const cpu = drain.cpuMs;
        console.log(
          `   CPU per request while draining: ${f(cpu.node + cpu.bench + cpu.workers + cpu.redis, 2)} ms (${chain.nodePid === undefined ? "" : `node ${f(cpu.node, 2)}, `}` +
            `${chain.nodePid === undefined ? "chain and " : ""}benchmark process ${f(cpu.bench, 2)}, ` +
            `workers ${f(cpu.workers, 2)}, Redis ${f(cpu.redis, 2)}); the machine has ${availableParallelism()} cores: ${f(1000 / drain.rate, 2)} ms of wall time per request`,
        );
        printProblems(result);
        printBreakdown(result);
      } finally {
        await stopAll(running);
        operators.splice(0);
      }
    }
  }

  console.log("\nSaturation (closed loop: every request sent as fast as the senders can)");
  printTable(results);

  const goals: { goal: string; pass: boolean }[] = [];
  for (const topology of TOPOLOGIES) {
    const off = results.find((r) => r.topology === topology.label && r.batching === "off");
    const on = results.find((r) => r.topology === topology.label && r.batching === "on");
    if (off === undefined || on === undefined) continue;
    const ratio = (on.drainRate ?? Number.NaN) / (off.drainRate ?? Number.NaN);
    const closedLoop = on.throughput / off.throughput;
    goals.push({
      goal: `${topology.label}: batched throughput >= 5x unbatched, draining a backlog (x${f(ratio, 2)}; closed loop x${f(closedLoop, 2)}, bounded by the requests' own transactions)`,
      pass: ratio >= 5,
    });
  }

  // Open loop at half the saturation rate of the best batched configuration.
  const best = results.filter((r) => r.batching === "on").sort((a, b) => b.throughput - a.throughput)[0];
  let openLoop: (RunResult & { rate: number; maxLagMs: number }) | undefined;
  if (OPEN_RATE !== undefined || (best !== undefined && Number.isFinite(best.throughput))) {
    const topology = OPEN_TOPOLOGY ?? (best === undefined ? parseTopology("4") : TOPOLOGIES.find((t) => t.label === best.topology)!);
    const rate = OPEN_RATE ?? best!.throughput / 2;
    const processes = topology.operators.reduce((a, b) => a + b, 0);
    const running = await startOperators(topology, "on", keys, `open-${topology.operators.length}x${topology.operators[0]}`);
    operators.push(...running);
    try {
      const used = workers.slice(0, topology.operators.length);
      await warmUp(senders, processes);
      let maxLagMs = 0;
      const result = await measure(topology, "on", running, used, N_OPEN, async (b) => {
        const r = await senders.openLoop(b, rate);
        maxLagMs = r.maxLagMs;
        return r.sent;
      });
      openLoop = { ...result, rate, maxLagMs };
      printProblems(result);
      printBreakdown(result);
    } finally {
      await stopAll(running);
      operators.splice(0);
    }
    const basis = OPEN_RATE !== undefined ? `LOAD_OPEN_LOOP_RATE, ${topology.label}` : `half of ${best!.topology}, batching on: ${f(best!.throughput, 1)} req/s`;
    console.log(`\nOpen loop: ${N_OPEN} requests at ${f(rate, 1)} req/s (${basis}), sender lag at most ${f(openLoop.maxLagMs, 0)} ms`);
    printTable([openLoop], true);
    goals.push({ goal: `p95 < 1 s at ${OPEN_RATE !== undefined ? `${f(rate, 1)} req/s (set by LOAD_OPEN_LOOP_RATE)` : "half saturation"} (${f(openLoop.p95, 3)} s)`, pass: openLoop.p95 < 1 });
  }

  console.log("\nGoals (this 2-core machine)");
  for (const g of goals) console.log(`   ${g.pass ? "PASS" : "MISS"} ${g.goal}`);
  console.log("* sent at less than 1.2x the rate fulfilled: the senders (and the node they share with the workers) may bound the figure, not the workers");
  console.log(
    "latency: request mined (eth_sendTransaction returned, automine) -> InferenceFulfilled seen by a 20 ms poller; " +
      "req/s: fulfilments between the 10th and 90th percentile of their times; drain req/s: a backlog of as many requests, queues paused while it is sent, " +
      "fulfilled from the resume to the last fulfilment; gas/req: every worker transaction / fulfilled",
  );
  const all = [...results, ...(openLoop === undefined ? [] : [openLoop])];
  if (!all.every((r) => r.exactlyOnce) || results.some((r) => Number.isNaN(r.drainRate))) exitCode = 1;
  console.log(JSON.stringify({ chain: CHAIN, requests: N, requestsUnbatched: N_UNBATCHED, openLoopRequests: N_OPEN, senders: SENDERS, idleBlockMs: IDLE_BLOCK_MS, idleBlocksMined: idleBlocks?.mined ?? 0, backend: stack.backend.name, results, openLoop, goals }));
} catch (err) {
  console.error(err);
  exitCode = 1;
} finally {
  await stopAll(operators);
  await idleBlocks?.stop();
  await stack.stop();
  await chain.close();
}
process.exit(exitCode);
