/**
 * `npm run -s bench:shards`: a model of hundreds of MB of weights served whole and cut into 2, 3 and 4 shards, each
 * shard in its own host process (BenchHost.ts: the worker's ShardServer + ShardStageRunner over HTTP/2), side by side
 * on this machine: latency p50/p95 of one request at a time, requests/s with 8 in flight (pipelining), bytes moved per
 * request, memory per host (VmRSS while serving, after a full GC, and the peak VmHWM, loading included), and the gas of a sharded fulfilment on chain (EDR). Baselines: the whole
 * model in the claimant's own process (what an unsharded worker does) and the whole model on one remote host (the
 * same transport, one hop). Goals (issue 11): 2-shard latency <= 1.5x unsharded; pipelined throughput not below
 * unsharded. The last line is JSON.
 *
 * Env: BENCH_SHARDS_WIDTH [4096] (hidden units), BENCH_SHARDS_DEPTH [4] (hidden layers; 784 in, 10 out: 204 MB of
 * float32 weights at 4 x 4096, whose 4-shard cut gives three hosts a third of the weights each, as three 64 MB layers
 * and a 12 MB one cannot be cut in quarters; 8 x 4096 is 460 MB and gives three hosts about a quarter each),
 * BENCH_SHARDS_SEQUENTIAL [20], BENCH_SHARDS_PIPELINED [40], BENCH_SHARDS_IN_FLIGHT [8], BENCH_SHARDS_COUNTS [2,3,4],
 * BENCH_SHARDS_CPU_PROF (a directory: each host process writes a V8 CPU profile there when it exits).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LayersModel } from "@tensorflow/tfjs";
import { keccak256 } from "ethers";
import { network } from "hardhat";
import { activeTf } from "../../worker/src/ml/backend.js";
import { MNIST_CODECS, publishModel, readManifest } from "../../worker/src/ml/ModelArtifacts.js";
import { predictSettled } from "../../worker/src/ml/Prediction.js";
import { versionInputOf } from "../../worker/src/ml/VersionInput.js";
import { storeShardedModel } from "../../worker/src/shards/ShardedModels.js";
import { ShardRouter, type StageTransport } from "../../worker/src/shards/ShardRouter.js";
import { ShardClient } from "../../worker/src/shards/transport/ShardClient.js";
import { EmbeddedStack, PRICE_TOKEN, PRICE_WEI, ROYALTY_BPS } from "../lib/EmbeddedStack.js";
import { devWallet, freePort, stakeAndAnnounce } from "../lib/ShardedStack.js";
import { bundleOnce } from "../build/Bundles.js";

const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const WIDTH = num("BENCH_SHARDS_WIDTH", 4096);
const DEPTH = num("BENCH_SHARDS_DEPTH", 4);
const SEQUENTIAL = num("BENCH_SHARDS_SEQUENTIAL", 20);
const PIPELINED = num("BENCH_SHARDS_PIPELINED", 40);
const IN_FLIGHT = num("BENCH_SHARDS_IN_FLIGHT", 8);
const COUNTS = (process.env.BENCH_SHARDS_COUNTS ?? "2,3,4").split(",").map(Number);

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
async function startHost(name: string, key: string, shards: object[]): Promise<{ child: ChildProcess; endpoint: string; memory: Promise<{ peak: number; rss: number }> }> {
  const port = await freePort();
  // Bundled and run by plain node, as `npm run worker` runs the worker (Bundles.ts); without --enable-source-maps,
  // which cost each hop about 6 ms here (2 shards 2.16x the whole model's latency with it, 1.34x without).
  const profile = process.env.BENCH_SHARDS_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_SHARDS_CPU_PROF}`] : [];
  const child = spawn(process.execPath, ["--expose-gc", ...profile, bundleOnce("scripts/bench/shards/BenchHost.ts", "dist/bench/BenchHost.mjs")], {
    env: { ...process.env, BENCH_STORE: join(dataDir, "ipfs"), BENCH_SHARDS: JSON.stringify(shards), BENCH_PORT: String(port), BENCH_KEY: key, BENCH_CHAIN_ID: chainId.toString(), BENCH_REGISTRY: registryAddress },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  let buffered = "";
  let resolveMemory: (m: { peak: number; rss: number }) => void = () => undefined;
  let rejectMemory: (err: Error) => void = () => undefined;
  const memory = new Promise<{ peak: number; rss: number }>((ok, fail) => {
    resolveMemory = ok;
    rejectMemory = fail;
  });
  memory.catch(() => undefined); // awaited later; not an unhandled rejection meanwhile
  const endpoint = await new Promise<string>((ok, fail) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      for (const line of buffered.split("\n").slice(0, -1)) {
        if (!line.startsWith("{")) continue;
        const record = JSON.parse(line) as { ready?: string; peakRssBytes?: number; rssBytes?: number };
        if (record.ready !== undefined) ok(record.ready);
        if (record.peakRssBytes !== undefined) resolveMemory({ peak: record.peakRssBytes / 2 ** 20, rss: (record.rssBytes ?? 0) / 2 ** 20 });
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
    const t = performance.now();
    for (let i = 0; i < PIPELINED; i++) await predictSettled(model, manifest, [inputs[i]]);
    rows.push({ config: "whole, in process", p50Ms: percentile(times, 50), p95Ms: percentile(times, 95), requestsPerSecond: PIPELINED / ((performance.now() - t) / 1000), bytesPerRequest: 0, peakHostMb: [process.memoryUsage().rss / 2 ** 20], rssHostMb: [process.memoryUsage().rss / 2 ** 20] });
  }

  // The chain: a model with one sharded version per shard count; the stack's worker claims, the bench routes.
  const owner = stack.contracts.modelRegistry.connect(stack.signers.modelOwner);
  await (await owner.registerModel("wide mlp", `ipfs://${whole.manifestCid}`)).wait();
  const modelId = await stack.contracts.modelRegistry.modelCount();
  const claimant = stack.signers.worker;

  /** Routes requests through `hosts` (one per shard) and measures; `onChain` adds one fulfilled request's gas. */
  async function measure(config: string, versionId: bigint, shardCount: number, hosts: { endpoint: string; address: string }[], onChain: boolean): Promise<Row> {
    const client = new ShardClient({ signer: claimant, chainId, shardRegistry: registryAddress });
    let bytes = 0;
    const counting: StageTransport = {
      async runStage(endpoint, host, stage, options) {
        const result = await client.runStage(endpoint, host, stage, options);
        bytes += stage.input.byteLength + result.output.byteLength;
        return result;
      },
    };
    const router = new ShardRouter({ transport: counting, hostsOf: async (_v, i) => [{ host: hosts[i].address, endpoint: hosts[i].endpoint }] });
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
    const t = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
      while (next < PIPELINED) await run(next++);
    }));
    const requestsPerSecond = PIPELINED / ((performance.now() - t) / 1000);
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
    return { config, p50Ms: percentile(times, 50), p95Ms: percentile(times, 95), requestsPerSecond, bytesPerRequest, peakHostMb: [], rssHostMb: [], ...(gas === undefined ? {} : { gas }) };
  }

  // The memory of a host process that loads no shard (Node, tfjs, the store, the server): what every host pays first.
  const idle = await startHost("idle", devWallet(129).privateKey, []);
  idle.child.kill("SIGTERM");
  const idleMemory = await idle.memory;

  // Baseline 2: the whole model on one remote host (the same transport, one hop).
  {
    const key = devWallet(130);
    const host = await startHost("whole", key.privateKey, [{ versionId: "0", shardIndex: 0, shardCount: 1, manifestCid: whole.manifestCid, contentHash: whole.contentHash, codecsManifestCid: whole.manifestCid }]);
    const row = await measure("whole, 1 remote host", 0n, 1, [{ endpoint: host.endpoint, address: key.address }], false);
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
      hosts.push({ ...started, address: key.address });
    }
    const row = await measure(`${count} shards, ${count} hosts`, versionId, count, hosts, true);
    for (const h of hosts) h.child.kill("SIGTERM");
    const memory = await Promise.all(hosts.map((h) => h.memory));
    row.peakHostMb = memory.map((m) => m.peak);
    row.rssHostMb = memory.map((m) => m.rss);
    rows.push(row);
  }
  model.dispose();

  const unsharded = rows[0];
  console.log(`\nbench:shards: ${WIDTH}-wide 784-${WIDTH}x${DEPTH}-10 MLP, ${weightMb.toFixed(0)} MB of weights, backend ${tf.getBackend()}; ${SEQUENTIAL} sequential requests, ${PIPELINED} with ${IN_FLIGHT} in flight\n`);
  console.log(`an idle host (no shard loaded): ${idleMemory.rss.toFixed(0)} MB serving, ${idleMemory.peak.toFixed(0)} MB peak\n`);
  console.log(["config".padEnd(24), "p50 ms".padStart(9), "p95 ms".padStart(9), "req/s".padStart(8), "vs whole".padStart(9), "bytes/req".padStart(10), "MB per host serving".padStart(24), "peak MB per host".padStart(24), "gas".padStart(8)].join(" "));
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
    ].join(" "));
  }
  const two = rows.find((r) => r.config.startsWith("2 shards"));
  const goals = two === undefined ? {} : {
    twoShardLatencyRatio: two.p50Ms / unsharded.p50Ms,
    twoShardLatencyGoalMet: two.p50Ms <= 1.5 * unsharded.p50Ms,
    pipelinedThroughputGoalMet: rows.filter((r) => r.config.includes("shards")).every((r) => r.requestsPerSecond >= unsharded.requestsPerSecond),
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
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  await stack.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(0);
