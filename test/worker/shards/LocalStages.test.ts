import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { type HDNodeWallet, keccak256, Wallet } from "ethers";
import { EmbeddedContentStore } from "../../../worker/src/ipfs/EmbeddedContentStore.js";
import { selectBackend, type Tf } from "../../../worker/src/ml/backend.js";
import { readManifest, type CodecChoice } from "../../../worker/src/ml/ModelArtifacts.js";
import { float32Bytes } from "../../../worker/src/ml/codecs/LittleEndian.js";
import { predictSettled } from "../../../worker/src/ml/Prediction.js";
import { loadShard } from "../../../worker/src/ml/sharding/ShardArtifacts.js";
import { HostBackoff } from "../../../worker/src/shards/HostBackoff.js";
import { LocalFirstStages } from "../../../worker/src/shards/LocalStages.js";
import { storeShardedModel } from "../../../worker/src/shards/ShardedModels.js";
import { ShardRouter, type StageCall, type StageTransport } from "../../../worker/src/shards/ShardRouter.js";
import { ShardStageRunner } from "../../../worker/src/shards/ShardStageRunner.js";
import { signStage, stageSigner } from "../../../worker/src/shards/StageSignature.js";
import { BatchingStageRunner } from "../../../worker/src/shards/StageBatching.js";
import type { BatchStageTransport, StageCallOutcome } from "../../../worker/src/shards/StageCoalescing.js";
import { buildTestMlp } from "../ml/sharding/fixtures.js";

const CHAIN_ID = 31337n;
const REGISTRY = "0x00000000000000000000000000000000000000aa";
const CODECS: CodecChoice = { inputCodec: { name: "float32-tensor" }, outputCodec: { name: "class-index", scoreBits: 16 } };

/** Remote hosts in this process, each with its own key and runner; records every stage sent over "the network". */
class RemoteHosts implements StageTransport {
  readonly calls: string[] = [];
  constructor(private readonly hosts: Map<string, { wallet: Wallet | HDNodeWallet; runner: ShardStageRunner }>) {}
  async runStage(endpoint: string, _expectedHost: string, stage: StageCall) {
    this.calls.push(`${stage.shardIndex}@${endpoint}`);
    return this.answer(endpoint, stage);
  }
  protected async answer(endpoint: string, stage: StageCall) {
    const host = this.hosts.get(endpoint)!;
    const output = await host.runner.run(stage.versionId, stage.shardIndex, stage.input);
    const signed = await signStage(host.wallet, CHAIN_ID, REGISTRY, { requestId: stage.requestId, modelVersionId: stage.versionId, shardIndex: stage.shardIndex, inputHash: stage.inputHash, outputHash: keccak256(output) });
    return { output, stage: signed };
  }
}

/** The same hosts, taking a batch of stages of one shard in one call (as ShardClient.runStages does over HTTP/2). */
class BatchedRemoteHosts extends RemoteHosts implements BatchStageTransport {
  async runStages(endpoint: string, _expectedHost: string, stages: readonly StageCall[]): Promise<StageCallOutcome[]> {
    this.calls.push(`${stages[0]!.shardIndex}x${stages.length}@${endpoint}`);
    return Promise.all(stages.map(async (stage) => ({ ok: true as const, ...(await this.answer(endpoint, stage)) })));
  }
}

describe("A claimant that hosts a shard runs its stage in its own process (LocalFirstStages)", function () {
  this.timeout(120_000);
  let tf: Tf;
  let directory: string;
  let store: EmbeddedContentStore;
  const inputs = Array.from({ length: 4 }, (_, i) => float32Bytes(Array.from({ length: 32 }, (_, j) => Math.cos(i * 5 + j) * 2)));

  before(async () => {
    ({ tf } = await selectBackend());
    directory = await mkdtemp(path.join(tmpdir(), "tessera-local-stages-"));
    store = await EmbeddedContentStore.open(directory);
  });

  after(async () => {
    await store.close();
    await rm(directory, { recursive: true, force: true });
  });

  /** A 2-shard model: a remote host for each shard, and the claimant's own runner of shard 0. */
  async function setup() {
    const model = buildTestMlp(tf);
    const stored = await storeShardedModel(store, model, { shards: 2 }, CODECS, { name: "local mlp" });
    const manifest = await readManifest(store, stored.whole.manifestCid);
    const runnerOf = async (index: number) =>
      new ShardStageRunner([{ versionId: 7n, shardIndex: index, shardCount: 2, model: await loadShard(store, stored.shards[index].manifestCid, stored.shards[index].contentHash), codecs: manifest }]);
    const remote = new Map([
      ["remote-0", { wallet: Wallet.createRandom(), runner: await runnerOf(0) }],
      ["remote-1", { wallet: Wallet.createRandom(), runner: await runnerOf(1) }],
    ]);
    const claimant = Wallet.createRandom();
    const own = await runnerOf(0);
    const whole = await predictSettled(model, manifest, inputs);
    model.dispose();
    return { remote, claimant, own, whole };
  }

  it("shard 0 runs here, signed by the claimant over the hashes the market chains; shard 1 goes to its host; the answer is the whole model's", async () => {
    const { remote, claimant, own, whole } = await setup();
    const network = new RemoteHosts(remote);
    let hosting: ShardStageRunner | undefined = own;
    const stages = new LocalFirstStages({ self: claimant.address, signer: claimant, chainId: CHAIN_ID, shardRegistry: REGISTRY, runner: () => hosting, remote: network });
    // The claimant is announced for shard 0 after another host: it is still tried first.
    const announced = [
      [{ host: remote.get("remote-0")!.wallet.address, endpoint: "remote-0" }, { host: claimant.address, endpoint: "https://claimant.example" }],
      [{ host: remote.get("remote-1")!.wallet.address, endpoint: "remote-1" }],
    ];
    const router = new ShardRouter({ transport: stages, hostsOf: async (_v, shard) => announced[shard], preferredHost: (v, s) => stages.preferredHost(v, s) });

    for (const [i, input] of inputs.entries()) {
      const run = await router.run({ requestId: BigInt(i + 1), versionId: 7n, shardCount: 2, input, inputHash: keccak256(input) });
      expect(Buffer.from(run.output).toString("hex")).to.equal(Buffer.from((whole[i] as { output: Uint8Array }).output).toString("hex"));
      expect(run.stages.map((s) => s.host)).to.deep.equal([claimant.address, remote.get("remote-1")!.wallet.address]);
      expect(run.stages[0].inputHash).to.equal(keccak256(input));
      expect(run.stages[1].inputHash).to.equal(run.stages[0].outputHash);
      const claim = { requestId: BigInt(i + 1), modelVersionId: 7n, shardIndex: 0, inputHash: run.stages[0].inputHash, outputHash: run.stages[0].outputHash };
      expect(stageSigner(CHAIN_ID, REGISTRY, claim, run.stages[0].signature)).to.equal(claimant.address);
    }
    expect(stages.local).to.equal(inputs.length);
    expect(network.calls).to.deep.equal(inputs.map(() => "1@remote-1"));

    // Not announced for shard 0 (withdrawn): its own runner is not used, the announced host is.
    network.calls.length = 0;
    announced[0] = announced[0].slice(0, 1);
    const run = await router.run({ requestId: 9n, versionId: 7n, shardCount: 2, input: inputs[0], inputHash: keccak256(inputs[0]) });
    expect(run.stages[0].host).to.equal(remote.get("remote-0")!.wallet.address);
    expect(network.calls).to.deep.equal(["0@remote-0", "1@remote-1"]);
    expect(stages.local).to.equal(inputs.length);

    // Announced, but its shard host not serving (stopped): the stage goes over the network to the claimant's endpoint.
    announced[0] = [{ host: claimant.address, endpoint: "remote-0" }];
    hosting = undefined;
    network.calls.length = 0;
    expect(stages.preferredHost(7n, 0)).to.equal(undefined);
    await router.run({ requestId: 10n, versionId: 7n, shardCount: 2, input: inputs[1], inputHash: keccak256(inputs[1]) });
    expect(network.calls).to.deep.equal(["0@remote-0", "1@remote-1"]);
    for (const h of remote.values()) h.runner.dispose();
    own.dispose();
  });

  it("a batch routed at once: shard 0's stages run here as one prediction, shard 1's go to its host in one call; the answers are the whole model's", async () => {
    const { remote, claimant, own, whole } = await setup();
    const network = new BatchedRemoteHosts(remote);
    const batching = new BatchingStageRunner(own);
    const stages = new LocalFirstStages({ self: claimant.address, signer: claimant, chainId: CHAIN_ID, shardRegistry: REGISTRY, runner: () => batching, remote: network });
    const announced = [[{ host: claimant.address, endpoint: "https://claimant.example" }], [{ host: remote.get("remote-1")!.wallet.address, endpoint: "remote-1" }]];
    const router = new ShardRouter({ transport: stages, hostsOf: async (_v, shard) => announced[shard], preferredHost: (v, s) => stages.preferredHost(v, s) });
    const runs = await Promise.all(inputs.map((input, i) => router.run({ requestId: BigInt(i + 1), versionId: 7n, shardCount: 2, input, inputHash: keccak256(input) })));
    runs.forEach((run, i) => {
      expect(Buffer.from(run.output).toString("hex")).to.equal(Buffer.from((whole[i] as { output: Uint8Array }).output).toString("hex"));
      expect(run.stages.map((s) => s.host)).to.deep.equal([claimant.address, remote.get("remote-1")!.wallet.address]);
    });
    expect([stages.local, batching.batches, batching.stages]).to.deep.equal([4, 1, 4]);
    expect(network.calls).to.deep.equal(["1x4@remote-1"]);
    expect(router.wire).to.deep.equal({ calls: 2, stages: 8 });
    for (const h of remote.values()) h.runner.dispose();
    own.dispose();
  });

  it("a local stage that fails puts the claimant in back-off and the stage is replayed on another host of the shard", async () => {
    const { remote, claimant, own, whole } = await setup();
    const network = new RemoteHosts(remote);
    own.dispose(); // its model gone: run() throws
    const broken = new ShardStageRunner([]);
    const serving = { serves: () => true, run: (v: bigint, s: number, x: Uint8Array) => broken.run(v, s, x) } as unknown as ShardStageRunner;
    const stages = new LocalFirstStages({ self: claimant.address, signer: claimant, chainId: CHAIN_ID, shardRegistry: REGISTRY, runner: () => serving, remote: network });
    const backoff = new HostBackoff();
    const announced = [
      [{ host: claimant.address, endpoint: "https://claimant.example" }, { host: remote.get("remote-0")!.wallet.address, endpoint: "remote-0" }],
      [{ host: remote.get("remote-1")!.wallet.address, endpoint: "remote-1" }],
    ];
    const router = new ShardRouter({ transport: stages, hostsOf: async (_v, shard) => announced[shard], preferredHost: (v, s) => stages.preferredHost(v, s), backoff });
    const run = await router.run({ requestId: 1n, versionId: 7n, shardCount: 2, input: inputs[2], inputHash: keccak256(inputs[2]) });
    expect(Buffer.from(run.output)).to.deep.equal(Buffer.from((whole[2] as { output: Uint8Array }).output));
    expect(run.replays).to.equal(1);
    expect(run.stages[0].host).to.equal(remote.get("remote-0")!.wallet.address);
    expect(backoff.failures(claimant.address)).to.equal(1);
    expect(stages.local).to.equal(0);
    // In back-off, the claimant is not preferred over the host that answered.
    network.calls.length = 0;
    await router.run({ requestId: 2n, versionId: 7n, shardCount: 2, input: inputs[3], inputHash: keccak256(inputs[3]) });
    expect(network.calls).to.deep.equal(["0@remote-0", "1@remote-1"]);
    for (const h of remote.values()) h.runner.dispose();
  });

  it("a local stage that runs past the stage timeout (its host busy with other callers) gives way to another host of the shard in time", async () => {
    const { remote, claimant, whole } = await setup();
    const network = new RemoteHosts(remote);
    const stuck = { serves: () => true, run: () => new Promise<Uint8Array>(() => undefined) };
    const stages = new LocalFirstStages({ self: claimant.address, signer: claimant, chainId: CHAIN_ID, shardRegistry: REGISTRY, runner: () => stuck, remote: network });
    const announced = [
      [{ host: claimant.address, endpoint: "https://claimant.example" }, { host: remote.get("remote-0")!.wallet.address, endpoint: "remote-0" }],
      [{ host: remote.get("remote-1")!.wallet.address, endpoint: "remote-1" }],
    ];
    const backoff = new HostBackoff();
    const router = new ShardRouter({ transport: stages, hostsOf: async (_v, shard) => announced[shard], preferredHost: (v, s) => stages.preferredHost(v, s), backoff, stageTimeoutMs: 200 });
    const started = Date.now();
    const run = await router.run({ requestId: 3n, versionId: 7n, shardCount: 2, input: inputs[1], inputHash: keccak256(inputs[1]) });
    expect(Date.now() - started).to.be.lessThan(2_000);
    expect(Buffer.from(run.output)).to.deep.equal(Buffer.from((whole[1] as { output: Uint8Array }).output));
    expect(run.stages[0].host).to.equal(remote.get("remote-0")!.wallet.address);
    expect(backoff.failures(claimant.address)).to.equal(1);
    for (const h of remote.values()) h.runner.dispose();
  });
});
