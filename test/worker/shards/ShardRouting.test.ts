import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { type HDNodeWallet, keccak256, Wallet } from "ethers";
import { EmbeddedContentStore } from "../../../worker/src/ipfs/EmbeddedContentStore.js";
import { selectBackend, type Tf } from "../../../worker/src/ml/backend.js";
import { readManifest, type CodecChoice } from "../../../worker/src/ml/ModelArtifacts.js";
import { float32Bytes, readFloat32s } from "../../../worker/src/ml/codecs/LittleEndian.js";
import { predictSettled } from "../../../worker/src/ml/Prediction.js";
import { loadShard, SHARD_CODECS } from "../../../worker/src/ml/sharding/ShardArtifacts.js";
import { HostBackoff } from "../../../worker/src/shards/HostBackoff.js";
import { storeShardedModel } from "../../../worker/src/shards/ShardedModels.js";
import { NoLiveHostError, ShardRouter, type StageCall, type StageTransport } from "../../../worker/src/shards/ShardRouter.js";
import { ShardStageRunner } from "../../../worker/src/shards/ShardStageRunner.js";
import { signStage, stageSigner } from "../../../worker/src/shards/StageSignature.js";
import { buildTestMlp } from "../ml/sharding/fixtures.js";
import { InputKind, type PendingInference } from "../../../worker/src/inference/PendingInference.js";
import { DeclineReason } from "../../../worker/src/inference/RequestInput.js";
import { routeShardedRequests, type ShardedWork } from "../../../worker/src/inference/ShardedRequests.js";
import { silentLogger } from "../../../worker/src/logger.js";

const CHAIN_ID = 31337n;
const REGISTRY = "0x00000000000000000000000000000000000000aa";
const CLASS_CODECS: CodecChoice = { inputCodec: { name: "float32-tensor" }, outputCodec: { name: "class-index", scoreBits: 16 } };
// The raw float32 codecs in and out: those every shard's own manifest names.
const RAW_CODECS = SHARD_CODECS;

/**
 * Hosts in one process: each runs its own runner and signs with its own key, as a ShardServer would; the tests make a
 * host fail or lie on purpose.
 */
class InProcessHosts implements StageTransport {
  readonly calls: string[] = [];
  readonly failing = new Set<string>();
  readonly lying = new Set<string>();
  constructor(private readonly hosts: Map<string, { wallet: Wallet | HDNodeWallet; runner: ShardStageRunner }>) {}

  async runStage(endpoint: string, expectedHost: string, stage: StageCall) {
    this.calls.push(`${stage.shardIndex}@${endpoint}`);
    const host = this.hosts.get(endpoint);
    if (host === undefined || this.failing.has(endpoint)) throw Object.assign(new Error(`${endpoint} unreachable`), { retryable: true });
    const output = await host.runner.run(stage.versionId, stage.shardIndex, stage.input);
    const claim = { requestId: stage.requestId, modelVersionId: stage.versionId, shardIndex: stage.shardIndex, inputHash: stage.inputHash, outputHash: keccak256(output) };
    const signed = await signStage(this.lying.has(endpoint) ? Wallet.createRandom() : host.wallet, CHAIN_ID, REGISTRY, claim);
    // The client's check (ShardClient does the same): the stage is signed by the host it was sent to.
    if (stageSigner(CHAIN_ID, REGISTRY, claim, signed.signature) !== expectedHost) throw Object.assign(new Error("bad signature"), { retryable: false });
    return { output, stage: signed };
  }
}

describe("Sharded inference across hosts: stage runners, routing, failover and back-off", function () {
  this.timeout(120_000);
  let tf: Tf;
  let directory: string;
  let store: EmbeddedContentStore;
  const inputs = Array.from({ length: 8 }, (_, i) => float32Bytes(Array.from({ length: 32 }, (_, j) => Math.sin(i * 7 + j) * 2)));

  before(async () => {
    ({ tf } = await selectBackend());
    directory = await mkdtemp(path.join(tmpdir(), "tessera-routing-"));
    store = await EmbeddedContentStore.open(directory);
  });

  after(async () => {
    await store.close();
    await rm(directory, { recursive: true, force: true });
  });

  /** The model stored whole and cut into `count` shards, each loaded by its own host (runner) from its CID. */
  async function hostsFor(count: number, codecs: CodecChoice) {
    const model = buildTestMlp(tf);
    const stored = await storeShardedModel(store, model, { shards: count }, codecs, { name: "test mlp" });
    const manifest = await readManifest(store, stored.whole.manifestCid);
    const hosts = new Map<string, { wallet: Wallet | HDNodeWallet; runner: ShardStageRunner }>();
    for (const shard of stored.shards) {
      const loaded = await loadShard(store, shard.manifestCid, shard.contentHash);
      hosts.set(`host-${shard.index}`, { wallet: Wallet.createRandom(), runner: new ShardStageRunner([{ versionId: 7n, shardIndex: shard.index, shardCount: count, model: loaded, codecs: manifest }]) });
    }
    const whole = await predictSettled(model, manifest, inputs);
    return { model, stored, manifest, hosts, whole };
  }

  for (const count of [2, 3, 4]) {
    it(`${count} shards on ${count} hosts answer byte for byte as the whole model (class index), and the raw outputs agree within 1e-5`, async () => {
      const { model, stored, hosts, whole } = await hostsFor(count, CLASS_CODECS);
      expect(stored.records.map((r) => r.firstLayer)).to.deep.equal(stored.shards.map((s) => s.firstLayer));
      expect(stored.records[0].firstLayer).to.equal(0);
      expect(stored.records.at(-1)!.endLayer).to.equal(7);
      expect(stored.records.every((r) => r.costWeight >= 1 && r.byteSize > 0n)).to.equal(true);
      const transport = new InProcessHosts(hosts);
      const entries = [...hosts.entries()].map(([endpoint, h], i) => ({ i, entry: { host: h.wallet.address, endpoint } }));
      const router = new ShardRouter({ transport, hostsOf: async (_v, shard) => entries.filter((e) => e.i === shard).map((e) => e.entry) });
      for (const [i, input] of inputs.entries()) {
        const run = await router.run({ requestId: BigInt(i + 1), versionId: 7n, shardCount: count, input, inputHash: keccak256(input) });
        expect(whole[i].ok).to.equal(true);
        expect(Buffer.from(run.output).toString("hex")).to.equal(Buffer.from((whole[i] as { output: Uint8Array }).output).toString("hex"));
        expect(run.stages.map((s) => s.host)).to.deep.equal(entries.map((e) => e.entry.host));
        expect(run.stages[0].inputHash).to.equal(keccak256(input));
        for (let s = 1; s < count; s++) expect(run.stages[s].inputHash).to.equal(run.stages[s - 1].outputHash);
        expect(run.stages.at(-1)!.outputHash).to.equal(keccak256(run.output));
        expect(run.replays).to.equal(0);
      }
      model.dispose();

      // Raw outputs (a float32-tensor answer of 24 significant bits): within 1e-5 of model.predict.
      const raw = await hostsFor(count, RAW_CODECS);
      const rawRouter = new ShardRouter({
        transport: new InProcessHosts(raw.hosts),
        hostsOf: async (_v, shard) => [...raw.hosts.entries()].filter((_, j) => j === shard).map(([endpoint, h]) => ({ host: h.wallet.address, endpoint })),
      });
      const expected = tf.tidy(() => (raw.model.predict(tf.tensor(readFloat32s(inputs[0]), [1, 32])) as import("@tensorflow/tfjs").Tensor).dataSync());
      const got = readFloat32s((await rawRouter.run({ requestId: 99n, versionId: 7n, shardCount: count, input: inputs[0], inputHash: keccak256(inputs[0]) })).output);
      expect(got.length).to.equal(10);
      const maxDiff = Math.max(...Array.from(got, (v, k) => Math.abs(v - expected[k])));
      expect(maxDiff).to.be.at.most(1e-5);
      raw.model.dispose();
    });
  }

  it("failover: a host that is down is replaced by another host of its shard (the stage replayed from its input), then avoided while in back-off", async () => {
    const { model, stored, manifest, hosts, whole } = await hostsFor(3, CLASS_CODECS);
    // A second host of shard 1 (its own key, its own copy of the shard).
    const spare = await loadShard(store, stored.shards[1].manifestCid, stored.shards[1].contentHash);
    hosts.set("spare-1", { wallet: Wallet.createRandom(), runner: new ShardStageRunner([{ versionId: 7n, shardIndex: 1, shardCount: 3, model: spare, codecs: manifest }]) });
    const transport = new InProcessHosts(hosts);
    const entry = (endpoint: string) => ({ host: hosts.get(endpoint)!.wallet.address, endpoint });
    const announced = [[entry("host-0")], [entry("host-1"), entry("spare-1")], [entry("host-2")]];
    let clock = 1_000_000;
    const backoff = new HostBackoff({ baseMs: 1_000, now: () => clock });
    const router = new ShardRouter({ transport, hostsOf: async (_v, shard) => announced[shard], backoff });

    transport.failing.add("host-1");
    const run = await router.run({ requestId: 1n, versionId: 7n, shardCount: 3, input: inputs[0], inputHash: keccak256(inputs[0]) });
    expect(Buffer.from(run.output)).to.deep.equal(Buffer.from((whole[0] as { output: Uint8Array }).output));
    expect(run.replays).to.equal(1);
    expect(run.stages[1].host).to.equal(entry("spare-1").host);
    expect(transport.calls).to.deep.equal(["0@host-0", "1@host-1", "1@spare-1", "2@host-2"]);

    // In back-off, the failed host is not asked first any more, even though it is back.
    transport.failing.delete("host-1");
    transport.calls.length = 0;
    await router.run({ requestId: 2n, versionId: 7n, shardCount: 3, input: inputs[1], inputHash: keccak256(inputs[1]) });
    expect(transport.calls).to.deep.equal(["0@host-0", "1@spare-1", "2@host-2"]);
    // After its back-off (1 s for a first failure) it is a candidate again, after the hosts with fewer failures: when
    // the spare goes down, the stage goes to it.
    clock += 1_001;
    transport.failing.add("spare-1");
    transport.calls.length = 0;
    const third = await router.run({ requestId: 3n, versionId: 7n, shardCount: 3, input: inputs[2], inputHash: keccak256(inputs[2]) });
    expect(transport.calls).to.deep.equal(["0@host-0", "1@spare-1", "1@host-1", "2@host-2"]);
    expect(third.stages[1].host).to.equal(entry("host-1").host);
    expect(backoff.failures(entry("host-1").host)).to.equal(0);
    model.dispose();
  });

  it("a host answering with another key's signature is skipped like a dead one; a shard with no live host names the shard", async () => {
    const { model, hosts } = await hostsFor(2, CLASS_CODECS);
    const transport = new InProcessHosts(hosts);
    const entry = (endpoint: string) => ({ host: hosts.get(endpoint)!.wallet.address, endpoint });
    transport.lying.add("host-1");
    const router = new ShardRouter({ transport, hostsOf: async (_v, shard) => [[entry("host-0")], [entry("host-1")]][shard] });
    const failure = await router.run({ requestId: 1n, versionId: 7n, shardCount: 2, input: inputs[0], inputHash: keccak256(inputs[0]) }).catch((e: unknown) => e);
    expect(failure).to.be.instanceOf(NoLiveHostError);
    expect((failure as NoLiveHostError).shardIndex).to.equal(1);
    expect((failure as Error).message).to.equal(`no host of shard 1 of version 7 could run its stage (tried ${entry("host-1").host})`);
    const empty = new ShardRouter({ transport, hostsOf: async (_v, shard) => (shard === 0 ? [entry("host-0")] : []) });
    const none = await empty.run({ requestId: 2n, versionId: 7n, shardCount: 2, input: inputs[0], inputHash: keccak256(inputs[0]) }).catch((e: unknown) => e);
    expect((none as Error).message).to.equal("shard 1 of version 7 has no announced host");
    model.dispose();
  });

  it("a processor's sharded requests whose shard's hosts all stay busy are left open for a later look (hostsBusy), not declined; a shard without hosts is declined", async () => {
    const { model, stored, hosts } = await hostsFor(2, CLASS_CODECS);
    const busy: StageTransport = { runStage: async () => Promise.reject(Object.assign(new Error("stage refused (429 BUSY)"), { status: 429, serverCode: "BUSY", retryable: true })) };
    const entry = { host: hosts.get("host-0")!.wallet.address, endpoint: "host-0" };
    const work = (i: number): ShardedWork => ({
      item: { requestId: BigInt(100 + i), terms: { modelVersionId: 7n, inputHash: keccak256(inputs[i]) } as PendingInference["terms"], inputKind: InputKind.Inline, input: inputs[i], blockNumber: 1, txHash: "0x" },
    });
    const version = { manifestCid: stored.whole.manifestCid, shardCount: 2 };
    const deps = (router: ShardRouter) => ({ router, store, logger: silentLogger });
    const waiting = [work(0), work(1)];
    await routeShardedRequests(deps(new ShardRouter({ transport: busy, hostsOf: async () => [entry], stageTimeoutMs: 150 })), 7n, version, waiting);
    for (const w of waiting) {
      expect(w.decline).to.equal(undefined);
      expect(w.hostsBusy).to.equal(`every host of shard 0 of version 7 stayed busy for 150 ms (tried ${entry.host})`);
    }
    const gone = [work(2)];
    await routeShardedRequests(deps(new ShardRouter({ transport: busy, hostsOf: async () => [] })), 7n, version, gone);
    expect([gone[0]!.hostsBusy, gone[0]!.decline]).to.deep.equal([undefined, { reason: DeclineReason.ModelUnavailable, detail: "shard 0 of version 7 has no announced host" }]);
    model.dispose();
  });
});
