/**
 * One host of `npm run bench:shards`, as its own OS process: loads the shards it is given (from the shared embedded
 * IPFS store, checked against their content hashes) and serves their stages over HTTP/2 with the worker's
 * ShardServer and stage runner. No chain: every authenticated peer is served (the bench measures the data path;
 * the worker's shard-host role adds the on-chain authorization). Prints `{"ready":url}` once serving and, on
 * SIGTERM, `{"peakRssBytes":n,"rssBytes":m,"batches":b,"stages":s}` (VmHWM since start, and VmRSS while serving, after
 * a full GC; the predictions it ran and the stages in them) before it exits. BENCH_SHARDS_BATCH [8]: the most stages
 * of a shard in one prediction, as SHARD_HOST_MAX_BATCH (1: each alone). BENCH_SHARDS_THREAD [auto]: 1 = the models in a
 * stage thread, as SHARD_HOST_THREAD=true; else on the event loop, as a shard host alone runs them by default.
 *
 * Env: BENCH_STORE (the embedded store's directory), BENCH_SHARDS (JSON: [{versionId, shardIndex, shardCount,
 * manifestCid, contentHash, codecsManifestCid}]), BENCH_PORT, BENCH_KEY (the host's signing key), BENCH_CHAIN_ID,
 * BENCH_REGISTRY.
 */
import { readFileSync } from "node:fs";
import { Wallet } from "ethers";
import { EmbeddedContentStore } from "../../../worker/src/ipfs/EmbeddedContentStore.js";
import { selectBackend } from "../../../worker/src/ml/backend.js";
import { readManifest } from "../../../worker/src/ml/ModelArtifacts.js";
import { loadHostedShard, type ShardToLoad } from "../../../worker/src/shards/ShardedModels.js";
import { ShardStageRunner } from "../../../worker/src/shards/ShardStageRunner.js";
import { BatchingStageRunner, DEFAULT_STAGE_BATCH, type StageBatchRunner } from "../../../worker/src/shards/StageBatching.js";
import { ThreadedStageRunner } from "../../../worker/src/shards/thread/ThreadedStageRunner.js";
import { ShardServer } from "../../../worker/src/shards/transport/ShardServer.js";

interface Assignment {
  versionId: string;
  shardIndex: number;
  shardCount: number;
  manifestCid: string;
  contentHash: string;
  codecsManifestCid: string;
}

const env = (name: string) => {
  const value = process.env[name];
  if (value === undefined || value === "") throw new Error(`${name} is required`);
  return value;
};

const backend = await selectBackend((process.env.TF_BACKEND as "auto" | undefined) ?? "auto");
const store = await EmbeddedContentStore.open(env("BENCH_STORE"));
const assignments = JSON.parse(env("BENCH_SHARDS")) as Assignment[];
const toLoad: ShardToLoad[] = [];
for (const a of assignments) {
  toLoad.push({ versionId: BigInt(a.versionId), shardIndex: a.shardIndex, shardCount: a.shardCount, manifestCid: a.manifestCid, contentHash: a.contentHash, codecs: await readManifest(store, a.codecsManifestCid) });
}
// As the worker's shard host loads them (SHARD_HOST_THREAD): on the event loop for a host alone (auto), or in a stage thread.
let runner: StageBatchRunner & { dispose(): void | Promise<void> };
if (process.env.BENCH_SHARDS_THREAD === "1") {
  const threaded = await ThreadedStageRunner.start({ backend: backend.name });
  for (const shard of toLoad) await threaded.load(store, shard);
  runner = threaded;
} else {
  const hosted = [];
  for (const shard of toLoad) hosted.push(await loadHostedShard(store, shard));
  runner = new ShardStageRunner(hosted);
}
// As the worker's shard host runs them (SHARD_HOST_MAX_BATCH): stages that arrive while a shard computes go together.
const maxBatch = Number(process.env.BENCH_SHARDS_BATCH ?? DEFAULT_STAGE_BATCH);
const batching = new BatchingStageRunner(runner, { maxBatch });
const server = new ShardServer({
  signer: new Wallet(env("BENCH_KEY")),
  chainId: BigInt(env("BENCH_CHAIN_ID")),
  shardRegistry: env("BENCH_REGISTRY"),
  runner: batching,
  // What the worker's shard host admits (ShardServices): two batches in all, one batch per caller.
  maxConcurrent: 2 * Math.max(4, maxBatch),
  maxConcurrentPerPeer: Math.max(4, maxBatch),
  port: Number(env("BENCH_PORT")),
  authorize: async () => true,
});
// The handler is in place before "ready" is printed: the bench may signal the moment it reads it.
process.once("SIGTERM", () => {
  void (async () => {
    // Read before anything is released: the resident set while serving, after a full GC (garbage from loading is
    // not memory the host needs; the bench starts hosts with --expose-gc), and the peak since start.
    (globalThis as { gc?: () => void }).gc?.();
    const status = readFileSync("/proc/self/status", "utf8");
    const kb = (field: string) => {
      const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
      return m === null ? null : Number(m[1]) * 1024;
    };
    await server.stop();
    await runner.dispose();
    await store.close();
    console.log(JSON.stringify({ peakRssBytes: kb("VmHWM"), rssBytes: kb("VmRSS"), batches: batching.batches, stages: batching.stages }));
    process.exit(0);
  })();
});
const url = await server.start();
console.log(JSON.stringify({ ready: url }));
