/**
 * `npm run -s bench:shards`: a model of hundreds of MB of weights served whole and cut into 2, 3 and 4 shards, each
 * shard in its own host process (BenchHost.ts: the worker's ShardServer + batching ShardStageRunner over HTTP/2), side
 * by side on this machine: latency p50/p95 of one request at a time; requests/s with 32 in flight (pipelining; the
 * whole model batches what waits, as the worker's MicroBatcher does, and so does every host, as SHARD_HOST_MAX_BATCH);
 * the CPU ms per request of the claimant's process and of each host, and the rate the busiest of them allows ("a core
 * each": what hosts on machines of their own would sustain; here every process shares two cores); bytes moved per
 * request; memory per host (VmRSS while serving, after a full GC, and the peak VmHWM, loading included); and the gas
 * of a sharded fulfilment on chain (EDR); the stages per call on the wire while pipelined (the router sends the stages
 * it routes to a host at once as one batch call: StageCoalescing.ts), and the 429s it waited out. Baselines: the whole model in the claimant's own process (what an unsharded
 * worker does) and the whole model on one remote host (the same transport, one hop). Each shard count is measured
 * twice: every shard on a remote host ("N hosts"), and the claimant hosting shard 0 itself ("claimant 0": its stage
 * in its own process, LocalFirstStages, as a worker daemon with both roles runs it), the topology the latency goal is
 * read on. Goals (issue 11): 2-shard latency <= 1.5x unsharded; pipelined throughput not below unsharded. The last
 * line is JSON.
 *
 * Env: BENCH_SHARDS_WIDTH [4096] (hidden units), BENCH_SHARDS_DEPTH [9] (hidden layers; 784 in, 10 out: 524 MB of
 * float32 weights at 9 x 4096, eight 64 MB layers after a 12 MB one, so 2 and 4 shards cut it evenly and a host of
 * one of four shards holds a quarter of the weights; 4 x 4096 is the 204 MB model of the earlier figures, whose three
 * 64 MB layers cannot be cut in quarters),
 * BENCH_SHARDS_SEQUENTIAL [20], BENCH_SHARDS_PIPELINED [160], BENCH_SHARDS_IN_FLIGHT [32] (what a processor has in flight by default:
 * BATCH_MAX_SIZE 16 × 2 batches; the router sends at most SHARD_STAGES_PER_HOST, 8, to a host at once), BENCH_SHARDS_COUNTS [2,3,4],
 * BENCH_SHARDS_CPU_PROF (a directory: each host process writes a V8 CPU profile there when it exits),
 * BENCH_SHARDS_BATCH [8] (the most requests in one prediction: the whole model's, as the worker's MicroBatcher runs
 * them, and each shard host's, as SHARD_HOST_MAX_BATCH; 1 = every request alone everywhere), BENCH_SHARDS_THREAD [auto] (as
 * SHARD_HOST_THREAD: auto = the claimant's shard 0 in a stage thread, as a worker with the processor role runs it, and
 * each host's shards on its event loop, as a shard host alone runs them; 1 = every model in a stage thread; 0 = none).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LayersModel } from "@tensorflow/tfjs";
import { keccak256 } from "ethers";
import { network } from "hardhat";
import { activeTf, selectBackend } from "../../worker/src/ml/backend.js";
import { MNIST_CODECS, publishModel, readManifest } from "../../worker/src/ml/ModelArtifacts.js";
import { predictSettled } from "../../worker/src/ml/Prediction.js";
import { versionInputOf } from "../../worker/src/ml/VersionInput.js";
import { storeShardedModel } from "../../worker/src/shards/ShardedModels.js";
import { LocalFirstStages } from "../../worker/src/shards/LocalStages.js";
import { ShardRouter } from "../../worker/src/shards/ShardRouter.js";
import type { BatchStageTransport } from "../../worker/src/shards/StageCoalescing.js";
import { ShardStageRunner } from "../../worker/src/shards/ShardStageRunner.js";
import { BatchingStageRunner, type StageBatchRunner } from "../../worker/src/shards/StageBatching.js";
import { ThreadedStageRunner } from "../../worker/src/shards/thread/ThreadedStageRunner.js";
import { loadHostedShard } from "../../worker/src/shards/ShardedModels.js";
import { MicroBatcher } from "../../worker/src/inference/MicroBatcher.js";
import { loadShard } from "../../worker/src/ml/sharding/ShardArtifacts.js";
import { ShardClient } from "../../worker/src/shards/transport/ShardClient.js";
import { EmbeddedStack, PRICE_TOKEN, PRICE_WEI, ROYALTY_BPS } from "../lib/EmbeddedStack.js";
import { devWallet, freePort, stakeAndAnnounce } from "../lib/ShardedStack.js";
import { bundleOnce } from "../build/Bundles.js";
import { processCpuSeconds } from "./ProcessCpu.js";

const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const WIDTH = num("BENCH_SHARDS_WIDTH", 4096);
const DEPTH = num("BENCH_SHARDS_DEPTH", 9);
const SEQUENTIAL = num("BENCH_SHARDS_SEQUENTIAL", 20);
const PIPELINED = num("BENCH_SHARDS_PIPELINED", 160);
// A processor routes a whole batch at once: BATCH_MAX_SIZE (16) × two batches in flight, by default.
const IN_FLIGHT = num("BENCH_SHARDS_IN_FLIGHT", 32);
const COUNTS = (process.env.BENCH_SHARDS_COUNTS ?? "2,3,4").split(",").map(Number);
const BATCH = num("BENCH_SHARDS_BATCH", 8);
const THREAD = process.env.BENCH_SHARDS_THREAD ?? "auto";

const dataDir = mkdtempSync(join(tmpdir(), "tessera-bench-shards-"));
const connection = await network.create();
const stack = await EmbeddedStack.start(connection, { dataDir, queuePrefix: `bench-shards-${process.pid}` });
const tf = activeTf();
const chainId = (await connection.ethers.provider.getNetwork()).chainId;
const registryAddress = stack.deployment.contracts.ShardRegistry!;

function buildWideMlp(): LayersModel {
  const model = tf.sequential({ name: "wide_mlp" });
  model.add(tf.layers.dense({ inputShape: [784], units: WIDTH, activation: "relu", kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }));
  for (let i = 0; i < DEPTH - 1; i++) model.add(tf.layers.dense({ units: WIDTH, activation: "relu", kernelInitializer: tf.initializers.glorotUniform({ seed: 2 + i }) }));
  model.add(tf.layers.dense({ units: 10, activation: "softmax", kernelInitializer: tf.initializers.glorotUniform({ seed: 1_000 }) }));
  return model;
}

/** A bench host process serving `shards`; resolves once it serves, with its endpoint. */
async function startHost(name: string, key: string, shards: object[]): Promise<{ child: ChildProcess; endpoint: string; memory: Promise<{ peak: number; rss: number; meanBatch: number }> }> {
  const port = await freePort();
  // Bundled and run by plain node, as `npm run worker` runs the worker (Bundles.ts); without --enable-source-maps,
  // which cost each hop about 6 ms here (2 shards 2.16x the whole model's latency with it, 1.34x without).
  const profile = process.env.BENCH_SHARDS_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_SHARDS_CPU_PROF}`] : [];
  const child = spawn(process.execPath, ["--expose-gc", ...profile, bundleOnce("scripts/bench/shards/BenchHost.ts", "dist/bench/BenchHost.mjs")], {
    env: { ...process.env, BENCH_SHARDS_BATCH: String(BATCH), BENCH_STORE: join(dataDir, "ipfs"), BENCH_SHARDS: JSON.stringify(shards), BENCH_PORT: String(port), BENCH_KEY: key, BENCH_CHAIN_ID: chainId.toString(), BENCH_REGISTRY: registryAddress },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  let buffered = "";
  let resolveMemory: (m: { peak: number; rss: number; meanBatch: number }) => void = () => undefined;
  let rejectMemory: (err: Error) => void = () => undefined;
  const memory = new Promise<{ peak: number; rss: number; meanBatch: number }>((ok, fail) => {
    resolveMemory = ok;
    rejectMemory = fail;
  });
  memory.catch(() => undefined); // awaited later; not an unhandled rejection meanwhile
  const endpoint = await new Promise<string>((ok, fail) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      for (const line of buffered.split("\n").slice(0, -1)) {
        if (!line.startsWith("{")) continue;
        const record = JSON.parse(line) as { ready?: string; peakRssBytes?: number; rssBytes?: number; batches?: number; stages?: number };
        if (record.ready !== undefined) ok(record.ready);
        if (record.peakRssBytes !== undefined) resolveMemory({ peak: record.peakRssBytes / 2 ** 20, rss: (record.rssBytes ?? 0) / 2 ** 20, meanBatch: (record.stages ?? 0) / Math.max(1, record.batches ?? 0) });
      }
      buffered = buffered.slice(buffered.lastIndexOf("\n") + 1);
    });
    child.once("exit", (code) => fail(new Error(`${name} exited (${code}) before serving`)));
  });
  // A host that dies without reporting its memory fails the bench instead of leaving it waiting ("close": after its
  // output was read to the end).
  child.once("close", (code, signal) => rejectMemory(new Error(`${name} exited (${code ?? signal}) without reporting its memory`)));
  return { child, endpoint, memory };
}

/** Every host process started, killed on the way out whatever happens. */
const children: ChildProcess[] = [];

/** CPU seconds so far of this process (the claimant) and of each host process. */
const cpuNow = (hosts: readonly { pid?: number }[]) => {
  const own = process.cpuUsage();
  return { claimant: (own.user + own.system) / 1e6, hosts: hosts.filter((h) => h.pid !== undefined).map((h) => processCpuSeconds(h.pid)) };
};
const cpuMsPerRequest = (before: ReturnType<typeof cpuNow>, after: ReturnType<typeof cpuNow>, requests: number) => ({
  claimant: ((after.claimant - before.claimant) * 1000) / requests,
  hosts: after.hosts.map((s, i) => ((s - before.hosts[i]!) * 1000) / requests),
});

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

interface Row {
  config: string;
  p50Ms: number;
  p95Ms: number;
  requestsPerSecond: number;
  bytesPerRequest: number;
  peakHostMb: number[];
  /** Resident while serving. */
  rssHostMb: number[];
  /** CPU ms per pipelined request: the claimant's process (this one: routing, and its own stage or model) and each host's. */
  cpuMs: { claimant: number; hosts: number[] };
  /**
   * Requests/s the busiest process's CPU allows (1000 / its CPU ms per request): the pipelined rate with a core for
   * every process, as hosts on machines of their own would have; on this machine every process shares two cores.
   */
  capacityPerSecond: number;
  /** What the router did over the row: 429s it waited out, stages that failed, stages per call on the wire (pipelined). */
  routing?: { busyAnswers: number; failed: number; stagesPerCall?: number };
  /** Stages per prediction, by host, over the whole run (both rows of its shard count). */
  meanBatch?: number[];
  gas?: number;
}

try {
  const model = buildWideMlp();
  const weightMb = model.countParams() * 4 / 2 ** 20;
  const whole = await publishModel(stack.store, model, { name: "wide mlp" }, MNIST_CODECS);
  const manifest = await readManifest(stack.store, whole.manifestCid);
  const inputs = Array.from({ length: Math.max(SEQUENTIAL, PIPELINED) }, (_, i) => Uint8Array.from({ length: 784 }, (_, j) => (i * 31 + j * 7) % 256));
  const rows: Row[] = [];

  // Baseline 1: the whole model in this process (an unsharded worker's own predict).
  {
    await predictSettled(model, manifest, [inputs[0]]); // warm the kernels, as the remote rows do
    const times: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) {
      const t = performance.now();
      await predictSettled(model, manifest, [inputs[i]]);
      times.push(performance.now() - t);
    }
    // With requests in flight, as the worker runs them: those waiting while the model computes go as one batch.
    const batcher = new MicroBatcher<Uint8Array, unknown>({ maxSize: BATCH, maxWaitMs: 0, maxInFlight: 1, handle: (xs) => predictSettled(model, manifest, xs) });
    const cpuBefore = cpuNow([]);
    const t = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
      while (next < PIPELINED) await batcher.submit(inputs[next++]);
    }));
    const requestsPerSecond = PIPELINED / ((performance.now() - t) / 1000);
    const cpuMs = cpuMsPerRequest(cpuBefore, cpuNow([]), PIPELINED);
    rows.push({ config: "whole, in process", p50Ms: percentile(times, 50), p95Ms: percentile(times, 95), requestsPerSecond, bytesPerRequest: 0, peakHostMb: [process.memoryUsage().rss / 2 ** 20], rssHostMb: [process.memoryUsage().rss / 2 ** 20], cpuMs, capacityPerSecond: 1000 / cpuMs.claimant });
  }

  // The chain: a model with one sharded version per shard count; the stack's worker claims, the bench routes.
  const owner = stack.contracts.modelRegistry.connect(stack.signers.modelOwner);
  await (await owner.registerModel("wide mlp", `ipfs://${whole.manifestCid}`)).wait();
  const modelId = await stack.contracts.modelRegistry.modelCount();
  const claimant = stack.signers.worker;

  /**
   * Routes requests through `hosts` (one per shard) and measures; `onChain` adds one fulfilled request's gas. With
   * `local` (the claimant's own runner of shard 0, as a worker that is also a host of shard 0 runs it: LocalFirstStages),
   * hosts[0] is the claimant and its stage runs in this process.
   */
  async function measure(config: string, versionId: bigint, shardCount: number, hosts: { endpoint: string; address: string; pid?: number }[], onChain: boolean, local?: BatchingStageRunner): Promise<Row> {
    const client = new ShardClient({ signer: claimant, chainId, shardRegistry: registryAddress });
    let bytes = 0;
    const counting: BatchStageTransport = {
      async runStage(endpoint, host, stage, options) {
        const result = await client.runStage(endpoint, host, stage, options);
        bytes += stage.input.byteLength + result.output.byteLength;
        return result;
      },
      async runStages(endpoint, host, stages, options) {
        const outcomes = await client.runStages(endpoint, host, stages, options);
        bytes += stages.reduce((sum, s) => sum + s.input.byteLength, 0) + outcomes.reduce((sum, o) => sum + (o.ok ? o.output.byteLength : 0), 0);
        return outcomes;
      },
    };
    const stages = new LocalFirstStages({ self: claimant.address, signer: claimant, chainId, shardRegistry: registryAddress, runner: () => local, remote: counting });
    const router = new ShardRouter({ transport: stages, hostsOf: async (_v, i) => [{ host: hosts[i].address, endpoint: hosts[i].endpoint }] });
    const run = (i: number, requestId = BigInt(i + 1)) => router.run({ requestId, versionId, shardCount, input: inputs[i], inputHash: keccak256(inputs[i]) });
    await run(0); // warm the sessions and the hosts' kernels
    bytes = 0;
    const times: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) {
      const t = performance.now();
      await run(i);
      times.push(performance.now() - t);
    }
    const bytesPerRequest = bytes / SEQUENTIAL;
    const cpuBefore = cpuNow(hosts);
    const wireBefore = router.wire;
    const t = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
      while (next < PIPELINED) await run(next++);
    }));
    const wireAfter = router.wire;
    const requestsPerSecond = PIPELINED / ((performance.now() - t) / 1000);
    const cpuMs = cpuMsPerRequest(cpuBefore, cpuNow(hosts), PIPELINED);
    let gas: number | undefined;
    if (onChain) {
      const { market } = stack.contracts;
      const user = stack.signers.users[0];
      const latest = (await connection.ethers.provider.getBlock("latest"))!.timestamp;
      const tx = await (await market.connect(user).requestInference({ modelVersionId: versionId, deadline: latest + 600, callbackGasLimit: 0, salt: 1n, inputKind: 0, input: inputs[0] }, { value: PRICE_WEI })).wait();
      const requestId = market.interface.parseLog(tx!.logs.find((l) => market.interface.parseLog(l)?.name === "InferenceRequested")!)!.args.requestId as bigint;
      await (await market.connect(claimant).claim(requestId)).wait();
      const routed = await run(0, requestId);
      const request = (market.interface.parseLog(tx!.logs.find((l) => market.interface.parseLog(l)?.name === "InferenceRequested")!)!.args.request as { toObject(): Record<string, unknown> }).toObject();
      const item = { request, outputKind: 0, output: routed.output, outputHash: keccak256(routed.output) } as unknown as Parameters<typeof market.fulfillSharded>[0];
      gas = Number((await (await market.connect(claimant).fulfillSharded(item, routed.stages)).wait())!.gasUsed);
    }
    client.close();
    // Stages per call on the wire while pipelined (the one-at-a-time requests go alone).
    const routing = {
      busyAnswers: router.stats.busy,
      failed: router.stats.failed,
      ...(wireBefore === undefined || wireAfter === undefined ? {} : { stagesPerCall: (wireAfter.stages - wireBefore.stages) / Math.max(1, wireAfter.calls - wireBefore.calls) }),
    };
    return { config, routing, p50Ms: percentile(times, 50), p95Ms: percentile(times, 95), requestsPerSecond, bytesPerRequest, peakHostMb: [], rssHostMb: [], cpuMs, capacityPerSecond: 1000 / Math.max(cpuMs.claimant, ...cpuMs.hosts), ...(gas === undefined ? {} : { gas }) };
  }

  // The memory of a host process that loads no shard (Node, tfjs, the store, the server): what every host pays first.
  const idle = await startHost("idle", devWallet(129).privateKey, []);
  idle.child.kill("SIGTERM");
  const idleMemory = await idle.memory;

  // Baseline 2: the whole model on one remote host (the same transport, one hop).
  {
    const key = devWallet(130);
    const host = await startHost("whole", key.privateKey, [{ versionId: "0", shardIndex: 0, shardCount: 1, manifestCid: whole.manifestCid, contentHash: whole.contentHash, codecsManifestCid: whole.manifestCid }]);
    const row = await measure("whole, 1 remote host", 0n, 1, [{ endpoint: host.endpoint, address: key.address, pid: host.child.pid }], false);
    host.child.kill("SIGTERM");
    const memory = await host.memory;
    row.peakHostMb = [memory.peak];
    row.rssHostMb = [memory.rss];
    rows.push(row);
  }

  await stack.stakeWorker(1n);
  for (const count of COUNTS) {
    const stored = await storeShardedModel(stack.store, model, { shards: count }, MNIST_CODECS, { name: `wide mlp in ${count}` });
    const input = versionInputOf(stored.whole, { priceWei: PRICE_WEI, priceToken: PRICE_TOKEN, royaltyBps: ROYALTY_BPS });
    await (await owner.publishShardedVersion(modelId, input, stored.records)).wait();
    const versionId = await stack.contracts.modelRegistry.versionCount();
    await (await stack.contracts.workerRegistry.connect(claimant).setServedModels([versionId], true)).wait();
    const hosts = [];
    for (const shard of stored.shards) {
      const key = devWallet(140 + shard.index).connect(connection.ethers.provider);
      const started = await startHost(`shard-${shard.index}`, key.privateKey, [{ versionId: versionId.toString(), shardIndex: shard.index, shardCount: count, manifestCid: shard.manifestCid, contentHash: shard.contentHash, codecsManifestCid: whole.manifestCid }]);
      await stakeAndAnnounce(stack, key, versionId, shard.index, started.endpoint);
      hosts.push({ ...started, address: key.address, pid: started.child.pid });
    }
    const row = await measure(`${count} shards, ${count} hosts`, versionId, count, hosts, true);
    // The claimant is a host of shard 0 too (the docs' "in practice"): its stage runs in its own process, one hop less.
    const shard0 = { versionId, shardIndex: 0, shardCount: count, manifestCid: stored.shards[0].manifestCid, contentHash: stored.shards[0].contentHash, codecs: manifest };
    let own: StageBatchRunner & { dispose(): void | Promise<void> };
    if (THREAD !== "0") {
      const threaded = await ThreadedStageRunner.start({ backend: (await selectBackend()).name });
      await threaded.load(stack.store, shard0);
      own = threaded;
    } else own = new ShardStageRunner([await loadHostedShard(stack.store, shard0)]);
    const localRow = await measure(`${count} shards, claimant 0`, versionId, count, [{ endpoint: "in-process", address: claimant.address }, ...hosts.slice(1)], false, new BatchingStageRunner(own, { maxBatch: BATCH }));
    localRow.peakHostMb = [];
    await own.dispose();
    for (const h of hosts) h.child.kill("SIGTERM");
    const memory = await Promise.all(hosts.map((h) => h.memory));
    row.peakHostMb = memory.map((m) => m.peak);
    row.rssHostMb = memory.map((m) => m.rss);
    row.meanBatch = memory.map((m) => m.meanBatch);
    rows.push(row, localRow);
  }
  model.dispose();

  const unsharded = rows[0];
  console.log(`\nbench:shards: ${WIDTH}-wide 784-${WIDTH}x${DEPTH}-10 MLP, ${weightMb.toFixed(0)} MB of weights, backend ${tf.getBackend()}; ${SEQUENTIAL} sequential requests, ${PIPELINED} with ${IN_FLIGHT} in flight\n`);
  console.log(`an idle host (no shard loaded): ${idleMemory.rss.toFixed(0)} MB serving, ${idleMemory.peak.toFixed(0)} MB peak\n`);
  console.log(["config".padEnd(24), "p50 ms".padStart(9), "p95 ms".padStart(9), "req/s".padStart(8), "vs whole".padStart(9), "bytes/req".padStart(10), "MB per host serving".padStart(24), "peak MB per host".padStart(24), "gas".padStart(8), "CPU ms/req: claimant | hosts".padStart(30), "req/s, a core each".padStart(19), "  stages per prediction".padEnd(24), "stages/call | 429s | failed"].join(" "));
  for (const r of rows) {
    console.log([
      r.config.padEnd(24),
      r.p50Ms.toFixed(1).padStart(9),
      r.p95Ms.toFixed(1).padStart(9),
      r.requestsPerSecond.toFixed(1).padStart(8),
      `${(r.p50Ms / unsharded.p50Ms).toFixed(2)}x`.padStart(9),
      r.bytesPerRequest.toFixed(0).padStart(10),
      r.rssHostMb.map((m) => m.toFixed(0)).join(" / ").padStart(24),
      r.peakHostMb.map((m) => m.toFixed(0)).join(" / ").padStart(24),
      (r.gas?.toString() ?? "-").padStart(8),
      `${r.cpuMs.claimant.toFixed(2)} | ${r.cpuMs.hosts.map((c) => c.toFixed(2)).join(" / ") || "-"}`.padStart(30),
      r.capacityPerSecond.toFixed(0).padStart(19),
      ("  " + (r.meanBatch ?? []).map((b) => b.toFixed(1)).join(" / ")).padEnd(24),
      r.routing === undefined ? "" : `${r.routing.stagesPerCall?.toFixed(1) ?? "-"} | ${r.routing.busyAnswers} | ${r.routing.failed}`,
    ].join(" "));
  }
  // The goal is read on the topology a deployed worker runs (a daemon with the inference and shard-host roles that
  // hosts shard 0 routes its own requests' stage 0 in process); every host remote is printed beside it.
  const two = rows.find((r) => r.config === "2 shards, claimant 0");
  const twoRemote = rows.find((r) => r.config === "2 shards, 2 hosts");
  const goals = two === undefined || twoRemote === undefined ? {} : {
    twoShardLatencyRatio: two.p50Ms / unsharded.p50Ms,
    twoShardLatencyGoalMet: two.p50Ms <= 1.5 * unsharded.p50Ms,
    twoShardAllRemoteLatencyRatio: twoRemote.p50Ms / unsharded.p50Ms,
    pipelinedThroughputGoalMet: rows.filter((r) => r.config.includes("shards")).every((r) => r.requestsPerSecond >= unsharded.requestsPerSecond),
    // With a core for each process (hosts on machines of their own): the busiest process's CPU per request.
    pipelinedCapacityGoalMet: rows.filter((r) => r.config.includes("shards")).every((r) => r.capacityPerSecond >= unsharded.capacityPerSecond),
  };
  // A host of one of four shards against the host of the whole model (both remote processes): serving and peak.
  const remoteWhole = rows.find((r) => r.config.startsWith("whole, 1 remote"));
  const four = rows.find((r) => r.config.startsWith("4 shards"));
  const memory = remoteWhole === undefined || four === undefined ? {} : {
    fourShardHostRssRatio: Math.max(...four.rssHostMb) / remoteWhole.rssHostMb[0],
    fourShardHostPeakRatio: Math.max(...four.peakHostMb) / remoteWhole.peakHostMb[0],
    // Beyond what an idle host holds: the memory the weights cost.
    fourShardHostWeightMemoryRatio: (Math.max(...four.rssHostMb) - idleMemory.rss) / (remoteWhole.rssHostMb[0] - idleMemory.rss),
  };
  console.log(JSON.stringify({ bench: "shards", width: WIDTH, depth: DEPTH, weightMb: Number(weightMb.toFixed(1)), backend: tf.getBackend(), idleHostMb: { rss: idleMemory.rss, peak: idleMemory.peak }, rows, ...goals, ...memory }));
} finally {
  // A profiled host writes its profile as it exits, after it reported its memory: give it the time to.
  if (process.env.BENCH_SHARDS_CPU_PROF) await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((ok) => { c.once("exit", ok); setTimeout(ok, 15_000); }))));
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  await stack.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(0);
