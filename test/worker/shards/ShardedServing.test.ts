import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { EmbeddedStack } from "../../../scripts/lib/EmbeddedStack.js";
import { predictLocally, waitForFulfilments } from "../../../scripts/lib/InferenceClient.js";
import { serveChain, type RpcChain } from "../../../scripts/lib/RpcChain.js";
import { devWallet, freePort, publishShardedMnist, stakeAndAnnounce, startShardHost } from "../../../scripts/lib/ShardedStack.js";
import type { WorkerProcess } from "../../../scripts/lib/WorkerProcess.js";
import { readManifest } from "../../../worker/src/ml/ModelArtifacts.js";
import { encodeImage } from "../../../worker/src/ml/InferenceCodec.js";
import { MNIST_PIXELS } from "../../../worker/src/ml/MnistDataset.js";
import { InputKind } from "../../../scripts/lib/InferenceClient.js";
import { digitRequester } from "../../helpers/digitRequests.js";
import { removeQueueData } from "../../helpers/queue.js";
import { keccak256 } from "ethers";
import { WorkerMetrics } from "../../../worker/src/metrics/WorkerMetrics.js";
import { sample } from "../../helpers/PrometheusText.js";
import { ShardRegistry__factory } from "../../../typechain-types/index.js";
import { CAP_INFER } from "../../../worker/src/chain/Capabilities.js";
import { ShardRouter } from "../../../worker/src/shards/ShardRouter.js";
import { signStage } from "../../../worker/src/shards/StageSignature.js";
import { ShardClient, StageError } from "../../../worker/src/shards/transport/ShardClient.js";

const DECLINE_MODEL_UNAVAILABLE = 3n;

/**
 * Paid inference on a sharded version, end to end: the 2NN cut into 3 shards, each shard served by its own host
 * process (the shard-host role, HTTP/2, staked keys), a claimant worker routing each request through them and
 * fulfilling with the hosts' signed pipeline; a host killed mid-stream is replaced by another host of its shard; a
 * shard with no live host gets its requests declined and refunded.
 */
describe("Sharded inference across host processes: pipeline, pay per shard, failover, no host", function () {
  this.timeout(600_000);
  let stack: EmbeddedStack;
  let chain: RpcChain;
  let dataDir: string;
  let versionId: bigint;
  const prefix = `tessera-test-${randomUUID()}`;
  const hosts: { process: WorkerProcess; address: string; shard: number }[] = [];
  let hostMetricsPort: number;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tessera-sharded-"));
    chain = await serveChain();
    stack = await EmbeddedStack.start(chain.connection, { dataDir, queuePrefix: prefix, trainEpochs: 1 });
    await stack.trainAndPublish();
    ({ versionId } = await publishShardedMnist(stack, stack.trained!, { shards: 3 }));
    await stack.stakeWorker(versionId); // the claimant: serves the sharded version, routes its requests
    // Hosts: one per shard, and a spare for shard 1.
    const plan = [0, 1, 2, 1];
    hostMetricsPort = await freePort();
    for (const [i, shard] of plan.entries()) {
      const wallet = devWallet(110 + i).connect(stack.connection.ethers.provider);
      const port = await freePort();
      await stakeAndAnnounce(stack, wallet, versionId, shard, `http://127.0.0.1:${port}`);
      hosts.push({ address: wallet.address, shard, process: undefined as unknown as WorkerProcess });
      // Host 0 serves its metrics, as an operator's host would; host 2 runs its model in a stage thread (a host alone
      // does not by default), the bundled thread beside the bundled worker.
      const env: Record<string, string> = i === 0 ? { METRICS_PORT: String(hostMetricsPort) } : i === 2 ? { SHARD_HOST_THREAD: "true" } : {};
      hosts[i].process = await startShardHost({ name: `host-${i}`, rpcUrl: chain.rpcUrl, key: wallet.privateKey, dataDir, redisUrl: stack.redis.url, port, env });
    }
    await stack.startWorker();
  });

  after(async () => {
    for (const h of hosts) h.process?.kill("SIGKILL");
    await removeQueueData(stack.redis.url, prefix);
    await stack.stop();
    await chain.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("answers equal the whole model's; each request pays the three hosts by their shards' cost weights; hosts load only their shard", async () => {
    const { market, modelRegistry } = stack.contracts;
    const fromBlock = (await stack.connection.ethers.provider.getBlockNumber()) + 1;
    const send = digitRequester(stack, { versionId, inputKind: InputKind.Inline });
    const sent = [];
    for (let i = 0; i < 6; i++) sent.push(await send(i));
    const done = await waitForFulfilments(market, sent.map((s) => s.requestId), { fromBlock, timeoutMs: 180_000 });
    const manifest = await readManifest(stack.store, stack.trained!.published.manifestCid);
    const test = stack.trained!.data.test;
    const pixels = sent.map((_, i) => encodeImage(test.images.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS)));
    const expected = await predictLocally(stack.trained!.model, manifest, pixels);
    sent.forEach((s, i) => expect(Buffer.from(done.get(s.requestId)!.output).toString("hex"), `request ${i}`).to.equal(Buffer.from(expected[i]).toString("hex")));
    // Host 2's stages ran in its stage thread, the others' on their event loops: the answers are the same bytes.
    expect(hosts.map((h) => h.process.records((r) => r.msg === "serving shards")[0]?.stageThread)).to.deep.equal([false, false, true, false]);

    const paid = await market.queryFilter(market.filters.ShardedFulfilmentPaid(), fromBlock);
    expect(paid).to.have.length(6);
    const weights = (await modelRegistry.getShards(versionId)).map((s) => s.costWeight);
    const total = weights.reduce((a, b) => a + b);
    for (const e of paid) {
      expect([...e.args.hosts]).to.deep.equal([hosts[0].address, hosts[1].address, hosts[2].address]);
      const pool = e.args.amounts.reduce((a: bigint, b: bigint) => a + b, 0n);
      expect(e.args.amounts[0]).to.equal((pool * weights[0]) / total);
    }
    // Each host process loaded its own shard only.
    for (const h of hosts) {
      const serving = h.process.records((r) => r.msg === "serving shards")[0];
      expect(serving?.shards).to.deep.equal([`${versionId}:${h.shard}`]);
    }

    // What the operators see: host 0's /metrics (its own process) and the claimant's router counts (this process).
    const hostMetrics = await (await fetch(`http://127.0.0.1:${hostMetricsPort}/metrics`)).text();
    expect(sample(hostMetrics, 'tessera_shard_host_stages_total{outcome="served"}')).to.equal(6);
    expect(sample(hostMetrics, "tessera_shard_host_batched_stages_total")).to.equal(6);
    expect(sample(hostMetrics, "tessera_shard_host_predictions_total")).to.be.within(1, 6);
    const claimant = new WorkerMetrics({ listeners: () => [], outcomes: () => ({}), queues: [], readiness: () => undefined, shards: () => stack.daemon!.shards });
    const routed = await claimant.metrics();
    expect(sample(routed, 'tessera_shard_router_stages_total{outcome="ok"}')).to.equal(18);
    expect(sample(routed, 'tessera_shard_router_stages_total{outcome="failed"}')).to.equal(0);
    expect(sample(routed, "tessera_shard_router_stages_in_flight")).to.equal(0);
    expect(sample(routed, "tessera_shard_router_hosts_avoided")).to.equal(0);
  });

  it("a claimant that also hosts shard 0 (shard-host role in the same daemon) runs stage 0 itself and is paid shard 0's share, though host 0 was announced first", async () => {
    const { market } = stack.contracts;
    const claimant = stack.signers.worker;
    const shards = ShardRegistry__factory.connect(stack.deployment.contracts.ShardRegistry!, claimant);
    const port = await freePort();
    await (await shards.announce(versionId, 0, `http://127.0.0.1:${port}`)).wait();
    await stack.stopWorker();
    await stack.startWorker({ shardHostPort: port }, undefined, { shardHost: true });
    try {
      const fromBlock = (await stack.connection.ethers.provider.getBlockNumber()) + 1;
      const send = digitRequester(stack, { versionId, inputKind: InputKind.Inline });
      const sent = [];
      for (let i = 6; i < 9; i++) sent.push(await send(i));
      const done = await waitForFulfilments(market, sent.map((s) => s.requestId), { fromBlock, timeoutMs: 180_000 });
      const manifest = await readManifest(stack.store, stack.trained!.published.manifestCid);
      const test = stack.trained!.data.test;
      const expected = await predictLocally(stack.trained!.model, manifest, sent.map((_, k) => encodeImage(test.images.subarray((6 + k) * MNIST_PIXELS, (7 + k) * MNIST_PIXELS))));
      sent.forEach((s, k) => expect(Buffer.from(done.get(s.requestId)!.output).toString("hex"), `request ${k}`).to.equal(Buffer.from(expected[k]).toString("hex")));
      const paid = await market.queryFilter(market.filters.ShardedFulfilmentPaid(), fromBlock);
      expect(paid).to.have.length(3);
      // Host 0 was announced first and has no failure: without the claimant's preference for its own stage, it
      // would have been asked and paid.
      for (const e of paid) expect([...e.args.hosts]).to.deep.equal([claimant.address, hosts[1].address, hosts[2].address]);
      // A worker that routes runs its own shard's model in a stage thread (SHARD_HOST_THREAD auto), which ran these 3 stages.
      expect(stack.daemon!.shards.host).to.include({ stageThread: true, batchedStages: 3 });
    } finally {
      // Back to a claimant that hosts nothing (the later cases count on the three host processes).
      await (await shards.withdraw(versionId, 0)).wait();
      await stack.stopWorker();
      await stack.startWorker();
    }
  });

  it("attack: a claimant routes through the hosts, posts its Sybil's signature for shard 2 and takes its share; host 2 then refuses it, hosts 0 and 1 (paid) still serve it", async () => {
    const { market, token, workerRegistry } = stack.contracts;
    const provider = stack.connection.ethers.provider;
    const chainId = (await provider.getNetwork()).chainId;
    const registry = stack.deployment.contracts.ShardRegistry!;
    // The thief: a staked inference worker of the version; its Sybil: a staked host announced for shard 2 that serves nothing.
    const thief = devWallet(120).connect(provider);
    const sybil = devWallet(121).connect(provider);
    await stakeAndAnnounce(stack, sybil, versionId, 2, "http://127.0.0.1:9"); // nothing listens: routers skip it
    await (await stack.signers.deployer.sendTransaction({ to: thief.address, value: 10n ** 18n })).wait();
    const stake = (await workerRegistry.minStake()) * 2n;
    await (await token.connect(stack.signers.deployer).mint(thief.address, stake)).wait();
    await (await token.connect(thief).approve(await workerRegistry.getAddress(), stake)).wait();
    await (await workerRegistry.connect(thief).register(stake, CAP_INFER, "0x02" + "33".repeat(32), "embedded://thief")).wait();
    await (await workerRegistry.connect(thief).setServedModels([versionId], true)).wait();

    await stack.stopWorker(); // the honest claimant would race the thief for the request
    try {
      const honest = new Set(hosts.map((h) => h.address));
      const client = new ShardClient({ signer: thief, chainId, shardRegistry: registry });
      const shardRegistry = ShardRegistry__factory.connect(registry, provider);
      const router = new ShardRouter({
        transport: client,
        hostsOf: async (v, i) => {
          const [addresses, endpoints] = await shardRegistry.hostsOf(v, i);
          return addresses.map((host, k) => ({ host, endpoint: endpoints[k]! })).filter((h) => honest.has(h.host));
        },
      });
      const send = digitRequester(stack, { versionId, inputKind: InputKind.Inline });
      const sent = await send(30);
      const test = stack.trained!.data.test;
      const input = encodeImage(test.images.subarray(30 * MNIST_PIXELS, 31 * MNIST_PIXELS));
      expect(keccak256(input)).to.equal(sent.request.inputHash);
      const routed = await router.run({ requestId: sent.requestId, versionId, shardCount: 3, input, inputHash: String(sent.request.inputHash) });
      expect(routed.stages.map((st) => st.host)).to.deep.equal([hosts[0].address, hosts[1].address, hosts[2].address]);
      await (await market.connect(thief).claim(sent.requestId)).wait();
      const stolen = await signStage(sybil, chainId, registry, { requestId: sent.requestId, modelVersionId: versionId, shardIndex: 2, inputHash: routed.stages[2]!.inputHash, outputHash: routed.stages[2]!.outputHash });
      const item = { request: sent.request, outputKind: 0, output: routed.output, outputHash: keccak256(routed.output) };
      const receipt = (await (await market.connect(thief).fulfillSharded(item, [routed.stages[0]!, routed.stages[1]!, stolen])).wait())!;
      const paid = receipt.logs.map((l) => market.interface.parseLog(l)).find((e) => e?.name === "ShardedFulfilmentPaid")!;
      expect([...paid.args.hosts]).to.deep.equal([hosts[0].address, hosts[1].address, sybil.address]); // the theft works once

      // Host 2 reads the fulfilment and refuses the thief from then on; hosts 0 and 1 were paid and still serve it
      // (probed on a new open request of the same digit; the honest claimant serves that one afterwards).
      const next = await send(30); // the same digit, another salt
      const call = async (i: number, inputHash: string, stageInput: Uint8Array) => {
        const [addresses, endpoints] = await shardRegistry.hostsOf(versionId, i);
        const endpoint = endpoints[addresses.indexOf(hosts[i]!.address)]!;
        return client.runStage(endpoint, hosts[i]!.address, { requestId: next.requestId, versionId, shardIndex: i, inputHash, input: stageInput });
      };
      const s0 = await call(0, String(next.request.inputHash), input);
      const s1 = await call(1, s0.stage.outputHash, s0.output);
      expect(s1.stage.outputHash).to.equal(routed.stages[1]!.outputHash);
      let refusal: StageError | undefined;
      for (const until = Date.now() + 60_000; refusal === undefined && Date.now() < until; ) {
        try {
          await call(2, s1.stage.outputHash, s1.output);
          await new Promise((r) => setTimeout(r, 500));
        } catch (err) {
          refusal = err as StageError;
        }
      }
      expect([refusal?.status, refusal?.serverCode]).to.deep.equal([403, "PEER_NOT_AUTHORIZED"]);
      expect(refusal?.message).to.contain("another host was paid for it");
      const logged = hosts[2].process.records((r) => r.msg === "a peer was given this host's stage and another host was paid for it: refused for a while");
      expect(logged[0]).to.include({ peer: thief.address, claimant: thief.address, paid: sybil.address, shard: 2, requestId: sent.requestId.toString() });
      await client.close();
      // The honest claimant is still served by every host: it answers the open request through host 2.
      const fromBlock = (await provider.getBlockNumber()) + 1;
      await stack.startWorker();
      await waitForFulfilments(market, [next.requestId], { fromBlock, timeoutMs: 120_000 });
      const honestPaid = await market.queryFilter(market.filters.ShardedFulfilmentPaid(next.requestId), fromBlock);
      expect([...honestPaid[0]!.args.hosts]).to.deep.equal([hosts[0].address, hosts[1].address, hosts[2].address]);
    } finally {
      if (stack.daemon === undefined) await stack.startWorker();
    }
  });

  it("failover: the host of shard 1 killed, its stage goes to the spare and every request is still fulfilled", async () => {
    const { market } = stack.contracts;
    const fromBlock = (await stack.connection.ethers.provider.getBlockNumber()) + 1;
    const primary = hosts.find((h) => h.shard === 1)!;
    const spare = hosts.filter((h) => h.shard === 1)[1];
    primary.process.kill("SIGKILL");
    const send = digitRequester(stack, { versionId, inputKind: InputKind.Inline });
    const sent = [];
    for (let i = 10; i < 14; i++) sent.push(await send(i));
    await waitForFulfilments(market, sent.map((s) => s.requestId), { fromBlock, timeoutMs: 180_000 });
    const paid = await market.queryFilter(market.filters.ShardedFulfilmentPaid(), fromBlock);
    expect(paid).to.have.length(4);
    for (const e of paid) expect(e.args.hosts[1]).to.equal(spare.address);
  });

  it("a shard with no live host: the request is declined (model unavailable), never claimed, and refunded after its deadline", async () => {
    const { market } = stack.contracts;
    const fromBlock = (await stack.connection.ethers.provider.getBlockNumber()) + 1;
    hosts.find((h) => h.shard === 2)!.process.kill("SIGKILL");
    const send = digitRequester(stack, { versionId, inputKind: InputKind.Inline, lifetime: 120 });
    const request = await send(20);
    const until = Date.now() + 120_000;
    let declined: Awaited<ReturnType<typeof market.queryFilter>> = [];
    while (declined.length === 0 && Date.now() < until) {
      declined = await market.queryFilter(market.filters.InferenceDeclined(request.requestId), fromBlock);
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(declined, "declined").to.have.length(1);
    expect((declined[0] as unknown as { args: { reason: bigint } }).args.reason).to.equal(DECLINE_MODEL_UNAVAILABLE);
    const state = await market.requestState(request.requestId);
    expect(state.status).to.equal(1n); // open: never claimed, so nobody is slashed
    // After the deadline the requester takes the whole fee back.
    await stack.connection.networkHelpers.time.increaseTo(Number(request.request.deadline) + 1);
    await expect(market.connect(stack.signers.users[20 % 3]).refund(request.request))
      .to.emit(market, "InferenceRefunded")
      .withArgs(request.requestId, request.requester, request.request.paymentToken, request.request.fee);
  });
});
