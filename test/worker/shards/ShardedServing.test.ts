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

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tessera-sharded-"));
    chain = await serveChain();
    stack = await EmbeddedStack.start(chain.connection, { dataDir, queuePrefix: prefix, trainEpochs: 1 });
    await stack.trainAndPublish();
    ({ versionId } = await publishShardedMnist(stack, stack.trained!, { shards: 3 }));
    await stack.stakeWorker(versionId); // the claimant: serves the sharded version, routes its requests
    // Hosts: one per shard, and a spare for shard 1.
    const plan = [0, 1, 2, 1];
    for (const [i, shard] of plan.entries()) {
      const wallet = devWallet(110 + i).connect(stack.connection.ethers.provider);
      const port = await freePort();
      await stakeAndAnnounce(stack, wallet, versionId, shard, `http://127.0.0.1:${port}`);
      hosts.push({ address: wallet.address, shard, process: undefined as unknown as WorkerProcess });
      hosts[i].process = await startShardHost({ name: `host-${i}`, rpcUrl: chain.rpcUrl, key: wallet.privateKey, dataDir, redisUrl: stack.redis.url, port });
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
