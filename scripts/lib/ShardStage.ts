import type { LayersModel } from "@tensorflow/tfjs";
import { formatEther } from "ethers";
import { readManifest } from "../../worker/src/ml/ModelArtifacts.js";
import { encodeImage } from "../../worker/src/ml/InferenceCodec.js";
import { loadMnist, MNIST_PIXELS } from "../../worker/src/ml/MnistDataset.js";
import { PRICE_WEI, type EmbeddedStack } from "./EmbeddedStack.js";
import { InferenceClient, InputKind, predictLocally, waitForFulfilments, type SentRequest } from "./InferenceClient.js";
import type { Report } from "./Report.js";
import { devWallet, freePort, publishShardedMnist, stakeAndAnnounce, startShardHost } from "./ShardedStack.js";
import type { WorkerProcess } from "./WorkerProcess.js";

export interface ShardStageResult {
  readonly versionId: bigint;
  readonly requests: number;
  readonly fulfilled: number;
  readonly matchingWhole: number;
  readonly killedHost: string;
  /** Per host: the stages it was paid for and what it was paid (wei). */
  readonly paid: Map<string, { stages: number; wei: bigint }>;
  readonly seconds: number;
}

/**
 * The sharding stage of the demo: the trained 2NN cut into 2 shards and published as a version of its own; three host
 * processes (shard 0, and shard 1 twice) serve it over HTTP/2; the stack's worker (the claimant) routes paid requests
 * through them; the first host of shard 1 is killed mid-run, and the requests keep being answered by the spare. Every
 * host is paid its shard's share of each request it served.
 */
export async function runShardStage(
  stack: EmbeddedStack,
  options: { rpcUrl: string; trained: { model: LayersModel; modelId: bigint; published: { manifestCid: string } }; dataDir: string; report: Report; requests?: number },
): Promise<ShardStageResult> {
  const { report } = options;
  const started = Date.now();
  const { market, workerRegistry, modelRegistry } = stack.contracts;
  const { ethers } = stack.connection;
  const { versionId, records } = await publishShardedMnist(stack, options.trained, { shards: 2 });
  report.line(`sharded version  ${versionId}: the trained 2NN cut in ${records.length}: ${records.map((r, i) => `shard ${i} = layers ${r.firstLayer}..${r.endLayer - 1} (${(Number(r.byteSize) / 1024).toFixed(0)} KiB, weight ${r.costWeight})`).join(", ")}`);
  await (await workerRegistry.connect(stack.signers.worker).setServedModels([versionId], true)).wait();

  const hosts: { process: WorkerProcess; address: string; shard: number }[] = [];
  try {
    for (const [i, shard] of [0, 1, 1].entries()) {
      const wallet = devWallet(100 + i).connect(ethers.provider);
      const port = await freePort();
      await stakeAndAnnounce(stack, wallet, versionId, shard, `http://127.0.0.1:${port}`);
      const process = await startShardHost({ name: `shard-host-${i}`, rpcUrl: options.rpcUrl, key: wallet.privateKey, dataDir: options.dataDir, redisUrl: stack.redis.url, port });
      hosts.push({ process, address: wallet.address, shard });
      report.line(`host ${i}           ${wallet.address} serves shard ${shard} at http://127.0.0.1:${port} (its own process, its own shard only)`);
    }

    const n = options.requests ?? 12;
    const test = (await loadMnist({ testCount: 2_000, seed: 42 })).test;
    const pixels = (i: number) => encodeImage(test.images.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS));
    const client = new InferenceClient(market, stack.contracts.token, stack.store);
    const fromBlock = await ethers.provider.getBlockNumber();
    const now = Math.max((await ethers.provider.getBlock("latest"))!.timestamp, Math.floor(Date.now() / 1000));
    const send = (i: number) => client.requestWithEth(stack.signers.users[i % 3], { versionId, pixels: pixels(1_000 + i), inputKind: i % 2 === 0 ? InputKind.Inline : InputKind.Cid, fee: PRICE_WEI, deadline: now + 600, salt: 50_000n + BigInt(i) });
    const sent: SentRequest[] = [];
    for (let i = 0; i < n / 2; i++) sent.push(await send(i));
    await waitForFulfilments(market, sent.map((s) => s.requestId), { fromBlock, timeoutMs: 180_000 });
    // Mid-run: the first host of shard 1 dies; the rest of the requests must still be answered.
    const victim = hosts[1];
    victim.process.kill("SIGKILL");
    report.line(`killed           host 1 (${victim.address}, shard 1) with SIGKILL after ${sent.length} answered requests`);
    for (let i = n / 2; i < n; i++) sent.push(await send(i));
    const fulfilled = await waitForFulfilments(market, sent.map((s) => s.requestId), { fromBlock, timeoutMs: 240_000 });

    const manifest = await readManifest(stack.store, options.trained.published.manifestCid);
    const whole = await predictLocally(options.trained.model, manifest, sent.map((_, i) => pixels(1_000 + i)));
    const matchingWhole = sent.filter((s, i) => Buffer.from(fulfilled.get(s.requestId)!.output).equals(Buffer.from(whole[i]))).length;
    const paid = new Map<string, { stages: number; wei: bigint }>();
    const events = await market.queryFilter(market.filters.ShardedFulfilmentPaid(), fromBlock);
    for (const e of events) {
      e.args.hosts.forEach((h: string, i: number) => {
        const entry = paid.get(h) ?? { stages: 0, wei: 0n };
        paid.set(h, { stages: entry.stages + 1, wei: entry.wei + (e.args.amounts[i] as bigint) });
      });
    }
    const weights = (await modelRegistry.getShards(versionId)).map((s) => s.costWeight);
    report.line(`answered         ${fulfilled.size}/${sent.length} (${matchingWhole} equal to the whole model's answer) in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    for (const [i, h] of hosts.entries()) {
      const p = paid.get(h.address) ?? { stages: 0, wei: 0n };
      report.line(`host ${i} paid      ${formatEther(p.wei)} ETH for ${p.stages} stage(s) of shard ${h.shard} (cost weight ${weights[h.shard]} of ${weights.reduce((a, b) => a + b)})`);
    }
    const credits = await Promise.all(hosts.map((h) => market.creditOf(h.address, "0x0000000000000000000000000000000000000000")));
    report.check("every paid request on the sharded version was answered, the killed host notwithstanding", fulfilled.size === sent.length);
    report.check(`every sharded answer equals the whole model's (${matchingWhole}/${sent.length})`, matchingWhole === sent.length);
    report.check("the spare host of shard 1 took over the stages after the kill", (paid.get(hosts[2].address)?.stages ?? 0) >= n / 2);
    report.check("every host was paid its share of every stage it ran, to the wei (credits = event amounts)", hosts.every((h, i) => credits[i] === (paid.get(h.address)?.wei ?? 0n)));
    return { versionId, requests: sent.length, fulfilled: fulfilled.size, matchingWhole, killedHost: victim.address, paid, seconds: (Date.now() - started) / 1000 };
  } finally {
    for (const h of hosts) await h.process.stop(5_000).catch(() => h.process.kill("SIGKILL"));
  }
}
