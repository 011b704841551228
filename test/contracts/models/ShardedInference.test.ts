import { expect } from "chai";
import hre, { network } from "hardhat";
import { signStage, stageDigest, type SignedStage } from "../../../worker/src/shards/StageSignature.js";
import {
  DEFAULT_PARAMS,
  ETH,
  InputKind,
  OutputKind,
  RequestStatus,
  SAMPLE_CID,
  SHARD_RELEASE_DELAY,
  UNBONDING_DELAY,
  deployTessera,
  registerInferrer,
  requestsOf,
  versionInput,
  type InferenceRequestStruct,
} from "../../helpers/tessera.js";

const { ethers, networkHelpers } = await network.create();
const { time } = networkHelpers;

const PRICE_WEI = 10n ** 15n + 7n; // not divisible by the weights: the rounding is exercised
const ROYALTY_BPS = 1_000n;
const PROTOCOL_BPS = BigInt(DEFAULT_PARAMS.protocolFeeBps);
const OUTPUT = "0x07";
const OUTPUT_HASH = ethers.keccak256(OUTPUT);
const h = (label: string) => ethers.keccak256(ethers.toUtf8Bytes(label));

/** A shard record as ModelRegistry.publishShardedVersion takes it. */
function shard(firstLayer: number, endLayer: number, costWeight: number, i = firstLayer) {
  return { firstLayer, endLayer, costWeight, byteSize: 1_000n * BigInt(costWeight), contentHash: h(`shard ${i}`), weightsCid: SAMPLE_CID };
}

/**
 * The model-shard registry on chain: sharded versions (ModelRegistry), their hosts (ShardRegistry) and the fulfilment
 * of a sharded request with its signed pipeline (InferenceMarket.fulfillSharded), attacks first.
 */
describe("Sharded versions, shard hosts and pipeline fulfilment", () => {
  async function fixture() {
    const [admin, treasury, owner, claimant, host0, host1, host2, alice, outsider] = await ethers.getSigners();
    const d = await deployTessera(ethers, admin, treasury.address);
    await d.models.connect(owner).registerModel("mlp", "ipfs://meta");
    await d.models.connect(owner).publishVersion(1n, versionInput({ priceWei: PRICE_WEI })); // 1: whole
    // 2: three shards with weights 1, 2, 3 over layers [0,2) [2,5) [5,6).
    await d.models.connect(owner).publishShardedVersion(1n, versionInput({ priceWei: PRICE_WEI }), [shard(0, 2, 1), shard(2, 5, 2), shard(5, 6, 3)]);
    await registerInferrer(d, claimant, [1n, 2n]);
    for (const host of [host0, host1, host2, outsider]) await registerInferrer(d, host, []);
    const hosts = [host0, host1, host2];
    for (let i = 0; i < 3; i++) await d.shards.connect(hosts[i]).announce(2n, i, `https://host${i}.example:8443`);
    const chainId = (await ethers.provider.getNetwork()).chainId;
    return { ...d, admin, treasury, owner, claimant, hosts, alice, outsider, chainId, shardsAddress: await d.shards.getAddress() };
  }
  type World = Awaited<ReturnType<typeof fixture>>;

  async function open(w: World, versionId = 2n, input = "0x" + "01".repeat(784)): Promise<{ requestId: bigint; request: InferenceRequestStruct }> {
    const tx = await w.market.connect(w.alice).requestInference(
      { modelVersionId: versionId, deadline: (await time.latest()) + 600, callbackGasLimit: 0, salt: BigInt(Math.floor(Math.random() * 1e9)), inputKind: InputKind.Inline, input },
      { value: PRICE_WEI },
    );
    return requestsOf(w.market, await tx.wait())[0];
  }

  /** The honest pipeline of a request: stage i maps hash(i) to hash(i+1), the last one to the answer. */
  async function pipeline(w: World, requestId: bigint, request: InferenceRequestStruct, signers = w.hosts): Promise<SignedStage[]> {
    const hashes = [request.inputHash, h("act 1"), h("act 2"), OUTPUT_HASH];
    return Promise.all(
      signers.map((host, i) => signStage(host, w.chainId, w.shardsAddress, { requestId, modelVersionId: 2n, shardIndex: i, inputHash: hashes[i], outputHash: hashes[i + 1] })),
    );
  }

  const item = (request: InferenceRequestStruct, output = OUTPUT, outputHash = OUTPUT_HASH) => ({ request, outputKind: OutputKind.Inline as number, output, outputHash });

  describe("ModelRegistry: sharded versions", () => {
    it("records the shards in order, with events, views and the shard count; the whole-model version has none", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      expect((await w.models.getVersion(2n)).shardCount).to.equal(3n);
      expect((await w.models.getVersion(1n)).shardCount).to.equal(1n);
      const shards = await w.models.getShards(2n);
      expect(shards.map((s) => [s.firstLayer, s.endLayer, s.costWeight, s.byteSize])).to.deep.equal([
        [0n, 2n, 1n, 1_000n],
        [2n, 5n, 2n, 2_000n],
        [5n, 6n, 3n, 3_000n],
      ]);
      expect(await w.models.shardPlan(2n)).to.deep.equal([true, [1n, 2n, 3n]]);
      expect(await w.models.getShards(1n)).to.deep.equal([]);
      const logs = await w.models.queryFilter(w.models.filters.ShardPublished(2n));
      expect(logs.map((l) => [l.args.index, l.args.firstLayer, l.args.endLayer, l.args.contentHash])).to.deep.equal([
        [0n, 0n, 2n, h("shard 0")],
        [1n, 2n, 5n, h("shard 2")],
        [2n, 5n, 6n, h("shard 5")],
      ]);
      await expect(w.models.getShards(99n)).to.be.revertedWithCustomError(w.models, "ModelRegistryUnknownVersion").withArgs(99n);
      expect(await w.market.versionTerms(2n)).to.deep.equal([true, true, PRICE_WEI, 10n ** 18n, ROYALTY_BPS, 784n]);
    });

    it("refuses shard lists that are not one contiguous cover from layer 0, or have empty shards, before storing anything", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const publish = (shards: ReturnType<typeof shard>[]) => w.models.connect(w.owner).publishShardedVersion(1n, versionInput(), shards);
      await expect(publish([shard(0, 2, 1)])).to.be.revertedWithCustomError(w.models, "ModelRegistryShardCount").withArgs(1n, 16n);
      await expect(publish(Array.from({ length: 17 }, (_, i) => shard(i, i + 1, 1)))).to.be.revertedWithCustomError(w.models, "ModelRegistryShardCount").withArgs(17n, 16n);
      const sixteen = Array.from({ length: 16 }, (_, i) => shard(i, i + 1, 1));
      await expect(publish(sixteen)).to.emit(w.models, "VersionPublished"); // exactly the maximum
      await expect(publish([shard(1, 2, 1), shard(2, 3, 1)])).to.be.revertedWithCustomError(w.models, "ModelRegistryShardLayers").withArgs(0n, 1n, 2n, 0n);
      await expect(publish([shard(0, 2, 1), shard(3, 4, 1)])).to.be.revertedWithCustomError(w.models, "ModelRegistryShardLayers").withArgs(1n, 3n, 4n, 2n); // gap
      await expect(publish([shard(0, 2, 1), shard(1, 4, 1)])).to.be.revertedWithCustomError(w.models, "ModelRegistryShardLayers").withArgs(1n, 1n, 4n, 2n); // overlap
      await expect(publish([shard(0, 2, 1), shard(2, 2, 1)])).to.be.revertedWithCustomError(w.models, "ModelRegistryShardLayers").withArgs(1n, 2n, 2n, 2n); // empty
      await expect(publish([shard(0, 2, 1), shard(2, 3, 0)])).to.be.revertedWithCustomError(w.models, "ModelRegistryShardInvalid").withArgs(1n);
      await expect(publish([shard(0, 2, 1), { ...shard(2, 3, 1), weightsCid: "0x" }])).to.be.revertedWithCustomError(w.models, "ModelRegistryShardInvalid").withArgs(1n);
      await expect(publish([shard(0, 2, 1), { ...shard(2, 3, 1), byteSize: 0n }])).to.be.revertedWithCustomError(w.models, "ModelRegistryShardInvalid").withArgs(1n);
      await expect(w.models.connect(w.outsider).publishShardedVersion(1n, versionInput(), [shard(0, 1, 1), shard(1, 2, 1)]))
        .to.be.revertedWithCustomError(w.models, "ModelRegistryNotModelOwner");
      expect(await w.models.versionCount()).to.equal(3n);
    });
  });

  describe("ShardRegistry: hosts announce, withdraw and release", () => {
    it("lists a shard's hosts with their endpoints in one view; an announcement binds the host's stake once", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const [host0] = w.hosts;
      expect(await w.shards.hostsOf(2n, 0)).to.deep.equal([[host0.address], ["https://host0.example:8443"]]);
      expect(await w.shards.hostCount(2n, 1)).to.equal(1n);
      expect(await w.workers.obligationsOf(host0.address)).to.equal(1n);
      // A second host on shard 0; the first one moves its endpoint (no second obligation).
      await expect(w.shards.connect(w.outsider).announce(2n, 0, "/ip4/10.0.0.9/tcp/4001"))
        .to.emit(w.shards, "HostAnnounced").withArgs(2n, 0n, w.outsider.address, "/ip4/10.0.0.9/tcp/4001");
      await w.shards.connect(host0).announce(2n, 0, "https://host0.example:9443");
      expect(await w.workers.obligationsOf(host0.address)).to.equal(1n);
      expect(await w.shards.hostsOf(2n, 0)).to.deep.equal([[host0.address, w.outsider.address], ["https://host0.example:9443", "/ip4/10.0.0.9/tcp/4001"]]);
    });

    it("refuses announcements a router could not use: no such shard, a deprecated or whole version, a bad endpoint, an ineligible host", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const [host0] = w.hosts;
      await expect(w.shards.connect(host0).announce(2n, 3, "https://x")).to.be.revertedWithCustomError(w.shards, "ShardRegistryNoSuchShard").withArgs(2n, 3n);
      await expect(w.shards.connect(host0).announce(1n, 0, "https://x")).to.be.revertedWithCustomError(w.shards, "ShardRegistryNoSuchShard").withArgs(1n, 0n);
      await expect(w.shards.connect(host0).announce(99n, 0, "https://x")).to.be.revertedWithCustomError(w.models, "ModelRegistryUnknownVersion").withArgs(99n);
      await expect(w.shards.connect(host0).announce(2n, 0, "")).to.be.revertedWithCustomError(w.shards, "ShardRegistryInvalidEndpoint");
      await expect(w.shards.connect(host0).announce(2n, 0, "x".repeat(257))).to.be.revertedWithCustomError(w.shards, "ShardRegistryInvalidEndpoint");
      await w.shards.connect(host0).announce(2n, 0, "x".repeat(256)); // exactly the limit
      await expect(w.shards.connect(w.alice).announce(2n, 0, "https://x")).to.be.revertedWithCustomError(w.shards, "ShardRegistryHostNotEligible").withArgs(w.alice.address);
      await w.workers.connect(w.outsider).requestUnstake();
      await expect(w.shards.connect(w.outsider).announce(2n, 0, "https://x")).to.be.revertedWithCustomError(w.shards, "ShardRegistryHostNotEligible");
      await w.models.connect(w.owner).deprecateVersion(2n);
      await expect(w.shards.connect(host0).announce(2n, 1, "https://x")).to.be.revertedWithCustomError(w.shards, "ShardRegistryNoSuchShard").withArgs(2n, 1n);
    });

    it("a host cannot leave with its stake while its signatures still count: withdraw, then release only after the delay (exact edge)", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const [, , host2] = w.hosts;
      await expect(w.shards.connect(w.outsider).withdraw(2n, 2)).to.be.revertedWithCustomError(w.shards, "ShardRegistryNotAnnounced");
      const tx = await w.shards.connect(host2).withdraw(2n, 2);
      const releasableAt = BigInt((await time.latest()) + SHARD_RELEASE_DELAY);
      await expect(tx).to.emit(w.shards, "HostWithdrawn").withArgs(2n, 2n, host2.address, releasableAt);
      expect(await w.shards.hostCount(2n, 2)).to.equal(0n);
      expect(await w.shards.hostRecord(host2.address, 2n, 2)).to.deep.equal([2n, releasableAt, "https://host2.example:8443"]);
      await expect(w.shards.connect(host2).withdraw(2n, 2)).to.be.revertedWithCustomError(w.shards, "ShardRegistryNotAnnounced");
      // Unstaking waits for the unbonding delay, and then still for the announcement's obligation.
      await w.workers.connect(host2).requestUnstake();
      await time.increase(UNBONDING_DELAY);
      await expect(w.workers.connect(host2).withdrawStake()).to.be.revertedWithCustomError(w.workers, "WorkerRegistryStakeBonded").withArgs(host2.address, 1n);
      // SHARD_RELEASE_DELAY (30 h) < UNBONDING_DELAY (7 d): the release is due; one second before it is not.
      const fresh = await networkHelpers.loadFixture(fixture);
      await fresh.shards.connect(fresh.hosts[2]).withdraw(2n, 2);
      const at = (await fresh.shards.hostRecord(fresh.hosts[2].address, 2n, 2)).releasableAt;
      await time.setNextBlockTimestamp(at);
      await expect(fresh.shards.release(fresh.hosts[2].address, 2n, 2)).to.be.revertedWithCustomError(fresh.shards, "ShardRegistryNotReleasable").withArgs(fresh.hosts[2].address, 2n, 2n, at);
      await time.setNextBlockTimestamp(at + 1n);
      await expect(fresh.shards.connect(fresh.alice).release(fresh.hosts[2].address, 2n, 2)).to.emit(fresh.shards, "HostReleased").withArgs(2n, 2n, fresh.hosts[2].address);
      expect(await fresh.workers.obligationsOf(fresh.hosts[2].address)).to.equal(0n);
      expect(await fresh.shards.hostRecord(fresh.hosts[2].address, 2n, 2)).to.deep.equal([0n, 0n, ""]);
      await expect(fresh.shards.release(fresh.hosts[2].address, 2n, 2)).to.be.revertedWithCustomError(fresh.shards, "ShardRegistryNotReleasable");
    });

    it("a withdrawn host that comes back keeps its one obligation and is routed to again", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const [host0] = w.hosts;
      await w.shards.connect(host0).withdraw(2n, 0);
      await w.shards.connect(host0).announce(2n, 0, "https://back.example");
      expect(await w.workers.obligationsOf(host0.address)).to.equal(1n);
      expect(await w.shards.hostRecord(host0.address, 2n, 0)).to.deep.equal([1n, 0n, "https://back.example"]);
      await expect(w.shards.release(host0.address, 2n, 0)).to.be.revertedWithCustomError(w.shards, "ShardRegistryNotReleasable");
    });
  });

  describe("InferenceMarket.fulfillSharded", () => {
    it("a host that stops being an eligible worker (unstaking) is no longer routed to, yet a pipeline it already signed is paid", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const [host0] = w.hosts;
      await w.shards.connect(w.outsider).announce(2n, 0, "https://spare.example");
      const { requestId, request } = await open(w);
      await w.market.connect(w.claimant).claim(requestId);
      const stages = await pipeline(w, requestId, request); // host0 ran shard 0
      await w.workers.connect(host0).requestUnstake();
      expect(await w.workers.isEligible(host0.address, 2)).to.equal(false); // CAP_INFER
      expect(await w.shards.hostsOf(2n, 0)).to.deep.equal([[w.outsider.address], ["https://spare.example"]]);
      expect(await w.shards.hostCount(2n, 0)).to.equal(2n);
      await expect(w.market.connect(w.claimant).fulfillSharded(item(request), stages)).to.emit(w.market, "ShardedFulfilmentPaid");
      expect(await w.market.creditOf(host0.address, ETH)).to.be.greaterThan(0n);
      // Its stake is still bound by the announcement: it cannot leave with it until it withdraws and the delay passes.
      expect(await w.workers.obligationsOf(host0.address)).to.equal(1n);
    });

    it("pays the owner, the treasury and every host by its shard's cost weight, to the wei, and settles the request", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const { requestId, request } = await open(w);
      await w.market.connect(w.claimant).claim(requestId);
      const stages = await pipeline(w, requestId, request);
      const tx = await w.market.connect(w.claimant).fulfillSharded(item(request), stages);
      const royalty = (PRICE_WEI * ROYALTY_BPS) / 10_000n;
      const protocol = (PRICE_WEI * PROTOCOL_BPS) / 10_000n;
      const pool = PRICE_WEI - royalty - protocol;
      const amounts = [pool / 6n, (pool * 2n) / 6n];
      amounts.push(pool - amounts[0] - amounts[1]);
      await expect(tx).to.emit(w.market, "ShardedFulfilmentPaid").withArgs(requestId, ETH, w.owner.address, royalty, protocol, w.hosts.map((x) => x.address), amounts);
      await expect(tx).to.emit(w.market, "InferenceFulfilled").withArgs(requestId, w.claimant.address, OutputKind.Inline, OUTPUT_HASH, OUTPUT);
      expect(await w.market.creditOf(w.owner.address, ETH)).to.equal(royalty);
      expect(await w.market.creditOf(w.treasury.address, ETH)).to.equal(protocol);
      for (let i = 0; i < 3; i++) expect(await w.market.creditOf(w.hosts[i].address, ETH)).to.equal(amounts[i]);
      expect(await w.market.creditOf(w.claimant.address, ETH)).to.equal(0n);
      expect(royalty + protocol + amounts.reduce((a, b) => a + b)).to.equal(PRICE_WEI);
      expect((await w.market.requestState(requestId)).status).to.equal(RequestStatus.None);
      expect(await w.market.openClaimsOf(w.claimant.address)).to.equal(0n);
      // Every credit can be withdrawn: the market holds exactly what it owes.
      for (const who of [w.owner, w.treasury, ...w.hosts]) await w.market.connect(who).withdraw(ETH);
      expect(await ethers.provider.getBalance(await w.market.getAddress())).to.equal(0n);
    });

    it("attack: a claimant that routed through the hosts cannot skip paying them with the whole-model fulfil (single or batch)", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const { requestId, request } = await open(w);
      await w.market.connect(w.claimant).claim(requestId);
      await expect(w.market.connect(w.claimant).fulfill(request, OutputKind.Inline, OUTPUT, OUTPUT_HASH))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketShardedVersion").withArgs(2n);
      const whole = await open(w, 1n);
      await expect(w.market.connect(w.claimant).fulfillBatch([item(whole.request), item(request)]))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketShardedVersion").withArgs(2n);
      // A whole-model version still takes the ordinary path, and the sharded one cannot go through fulfillSharded's.
      await w.market.connect(w.claimant).fulfillBatch([item(whole.request)]);
      const wholeClaimed = await open(w, 1n);
      await w.market.connect(w.claimant).claim(wholeClaimed.requestId);
      await expect(w.market.connect(w.claimant).fulfillSharded(item(wholeClaimed.request), []))
        .to.be.revertedWithCustomError(w.shards, "ShardPipelineLength").withArgs(1n, 0n, 0n);
    });

    it("attack: a forged or spliced pipeline is refused before anything is paid (links, answer, signatures, replay, hosts)", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const { requestId, request } = await open(w);
      await w.market.connect(w.claimant).claim(requestId);
      const honest = await pipeline(w, requestId, request);
      const fulfil = (stages: SignedStage[], it = item(request)) => w.market.connect(w.claimant).fulfillSharded(it, stages);

      await expect(fulfil(honest.slice(0, 2))).to.be.revertedWithCustomError(w.shards, "ShardPipelineLength").withArgs(2n, 2n, 3n);
      await expect(fulfil([...honest, honest[2]])).to.be.revertedWithCustomError(w.shards, "ShardPipelineLength").withArgs(2n, 4n, 3n);
      // Not the request's input at stage 0; a stage that did not take the previous stage's output.
      const other = await open(w, 2n, "0x" + "02".repeat(784));
      const foreign = await pipeline(w, requestId, other.request);
      await expect(fulfil([foreign[0], honest[1], honest[2]])).to.be.revertedWithCustomError(w.shards, "ShardPipelineBrokenLink").withArgs(0n);
      const skipped = await signStage(w.hosts[1], w.chainId, w.shardsAddress, { requestId, modelVersionId: 2n, shardIndex: 1, inputHash: h("made up"), outputHash: h("act 2") });
      await expect(fulfil([honest[0], skipped, honest[2]])).to.be.revertedWithCustomError(w.shards, "ShardPipelineBrokenLink").withArgs(1n);
      // The pipeline's answer is not the answer posted; an inline answer that is not the hashed one.
      const otherAnswer = ethers.keccak256("0x08");
      await expect(fulfil(honest, item(request, "0x08", otherAnswer))).to.be.revertedWithCustomError(w.shards, "ShardPipelineWrongAnswer").withArgs(OUTPUT_HASH, otherAnswer);
      await expect(fulfil(honest, item(request, "0x08", OUTPUT_HASH))).to.be.revertedWithCustomError(w.market, "InferenceMarketOutputHashMismatch").withArgs(otherAnswer, OUTPUT_HASH);
      // A CID answer is held to the same rule: the CID's bytes are what the last host signed, not any well-formed CID.
      await expect(fulfil(honest, { request, outputKind: OutputKind.Cid, output: SAMPLE_CID, outputHash: OUTPUT_HASH }))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketOutputHashMismatch").withArgs(ethers.keccak256(SAMPLE_CID), OUTPUT_HASH);
      // A stage whose host field is not its signer; a signature from another request (replay); a shard-0 signature used as shard 1.
      await expect(fulfil([{ ...honest[0], host: w.outsider.address }, honest[1], honest[2]])).to.be.revertedWithCustomError(w.shards, "ShardPipelineBadSignature").withArgs(0n);
      const replayed = await pipeline(w, other.requestId, request); // same hashes, signed for the other request
      await expect(fulfil([honest[0], replayed[1], honest[2]])).to.be.revertedWithCustomError(w.shards, "ShardPipelineBadSignature").withArgs(1n);
      const asShard0 = await signStage(w.hosts[1], w.chainId, w.shardsAddress, { requestId, modelVersionId: 2n, shardIndex: 0, inputHash: h("act 1"), outputHash: h("act 2") });
      await expect(fulfil([honest[0], asShard0, honest[2]])).to.be.revertedWithCustomError(w.shards, "ShardPipelineBadSignature").withArgs(1n);
      await expect(fulfil([honest[0], { ...honest[1], signature: "0x1234" }, honest[2]])).to.be.revertedWithCustomError(w.shards, "ShardPipelineBadSignature").withArgs(1n);
      // A staked worker that does not host shard 1 signs it (a Sybil of the claimant's, say).
      const sybil = await pipeline(w, requestId, request, [w.hosts[0], w.outsider, w.hosts[2]]);
      await expect(fulfil(sybil)).to.be.revertedWithCustomError(w.shards, "ShardPipelineNotHost").withArgs(1n, w.outsider.address);
      // Nothing moved; the honest pipeline still goes through.
      expect(await w.market.creditOf(w.hosts[0].address, ETH)).to.equal(0n);
      await fulfil(honest);
      expect(await w.market.creditOf(w.hosts[0].address, ETH)).to.be.greaterThan(0n);
    });

    it("the digest the worker library signs is the registry's; the claim's exclusivity holds for sharded requests too", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const stage = { requestId: 5n, modelVersionId: 2n, shardIndex: 1, inputHash: h("a"), outputHash: h("b") };
      expect(await w.shards.stageDigest(5n, 2n, 1, h("a"), h("b"))).to.equal(stageDigest(w.chainId, w.shardsAddress, stage));
      const { requestId, request } = await open(w);
      await w.market.connect(w.claimant).claim(requestId);
      const stages = await pipeline(w, requestId, request);
      // A host front-running the claimant with the stages it saw is refused while the claim holds.
      await expect(w.market.connect(w.hosts[0]).fulfillSharded(item(request), stages))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketNotClaimant").withArgs(requestId, w.hosts[0].address, w.claimant.address);
      // Attack: on an unclaimed request, an eligible worker whose Sybils announced every shard re-signs the public
      // pipeline's hashes and front-runs the honest fulfilment to take the hosts' pay. Sharded requests need a claim.
      await w.workers.connect(w.outsider).setServedModels([2n], true);
      for (let i = 0; i < 3; i++) await w.shards.connect(w.outsider).announce(2n, i, "https://sybil.example");
      const unclaimed = await open(w, 2n, "0x" + "06".repeat(784));
      const resigned = await pipeline(w, unclaimed.requestId, unclaimed.request, [w.outsider, w.outsider, w.outsider]);
      await expect(w.market.connect(w.outsider).fulfillSharded(item(unclaimed.request), resigned))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketShardedNeedsClaim").withArgs(unclaimed.requestId);
    });

    it("a host that withdrew still answers for its stage until its release time, not after (exact edge)", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      await w.shards.connect(w.hosts[1]).withdraw(2n, 1);
      const releasableAt = (await w.shards.hostRecord(w.hosts[1].address, 2n, 1)).releasableAt;
      await time.increaseTo(releasableAt - 100n);
      const first = await open(w);
      await w.market.connect(w.claimant).claim(first.requestId);
      await time.setNextBlockTimestamp(releasableAt);
      await w.market.connect(w.claimant).fulfillSharded(item(first.request), await pipeline(w, first.requestId, first.request));
      expect(await w.market.creditOf(w.hosts[1].address, ETH)).to.be.greaterThan(0n);
      // Past it: the signature no longer counts (its stake may be released), so the stage needs a live host.
      const second = await open(w);
      await w.market.connect(w.claimant).claim(second.requestId);
      await expect(w.market.connect(w.claimant).fulfillSharded(item(second.request), await pipeline(w, second.requestId, second.request)))
        .to.be.revertedWithCustomError(w.shards, "ShardPipelineNotHost").withArgs(1n, w.hosts[1].address);
    });

    it("pays in TSR the same way: the shares are credited in the request's currency", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const price = 10n ** 18n;
      await w.token.mint(w.alice.address, price);
      await w.token.connect(w.alice).approve(await w.market.getAddress(), price);
      const none = { value: 0n, deadline: 0n, v: 0, r: ethers.ZeroHash, s: ethers.ZeroHash };
      const tx = await w.market.connect(w.alice).requestInferenceWithToken(
        { modelVersionId: 2n, deadline: (await time.latest()) + 600, callbackGasLimit: 0, salt: 1n, inputKind: InputKind.Inline, input: "0x" + "03".repeat(784) },
        price,
        none,
      );
      const { requestId, request } = requestsOf(w.market, await tx.wait())[0];
      await w.market.connect(w.claimant).claim(requestId);
      await w.market.connect(w.claimant).fulfillSharded(item(request), await pipeline(w, requestId, request));
      const tokenAddress = await w.token.getAddress();
      const pool = price - (price * ROYALTY_BPS) / 10_000n - (price * PROTOCOL_BPS) / 10_000n;
      expect(await w.market.creditOf(w.hosts[0].address, tokenAddress)).to.equal(pool / 6n);
      expect(await w.market.creditOf(w.hosts[2].address, tokenAddress)).to.equal(pool - pool / 6n - (pool * 2n) / 6n);
      expect(await w.market.creditOf(w.hosts[0].address, ETH)).to.equal(0n);
      expect(await w.market.creditOf(w.owner.address, tokenAddress)).to.equal((price * ROYALTY_BPS) / 10_000n);
    });

    it("a contract customer gets the sharded answer through its callback, the fee covering the callback's gas", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const consumer = await ethers.deployContract("MnistDigitConsumer", [await w.market.getAddress()], w.alice);
      const callbackGas = 100_000;
      const fee = PRICE_WEI + BigInt(callbackGas) * (await w.market.params()).callbackGasPriceWei;
      const tx = await consumer.ask(2n, "0x" + "09".repeat(784), (await time.latest()) + 600, callbackGas, { value: fee });
      const { requestId, request } = requestsOf(w.market, await tx.wait())[0];
      await w.market.connect(w.claimant).claim(requestId);
      const stages = await pipeline(w, requestId, request);
      await expect(w.market.connect(w.claimant).fulfillSharded(item(request), stages))
        .to.emit(consumer, "DigitAnswered")
        .withArgs(requestId, 7n);
      expect(await consumer.answerOf(requestId)).to.deep.equal([7n, true]);
    });

    it("with no ShardRegistry set (set once, by the admin), a sharded request cannot be fulfilled", async () => {
      const [admin, treasury, owner, claimant, host0, host1] = await ethers.getSigners();
      const d = await deployTessera(ethers, admin, treasury.address);
      const bare = await ethers.deployContract("InferenceMarket", [admin.address, await d.token.getAddress(), await d.workers.getAddress(), await d.models.getAddress(), treasury.address, 60, paramsOf()]);
      expect(await bare.shardRegistry()).to.equal(ethers.ZeroAddress);
      await expect(bare.connect(claimant).fulfillSharded(item(noRequest(claimant.address)), [])).to.be.revertedWithCustomError(bare, "InferenceMarketNoShardRegistry");
      await expect(bare.setShardRegistry(ethers.ZeroAddress)).to.be.revertedWithCustomError(bare, "InferenceMarketZeroAddress");
      // A registry whose withdrawn hosts' signatures could expire before a request's deadline is refused; so are
      // later parameters that outlive it (the request lifetime is 24 h).
      await expect(ethers.deployContract("ShardRegistry", [ethers.ZeroAddress, await d.models.getAddress(), 1]))
        .to.be.revertedWithCustomError(d.shards, "ShardRegistryZeroAddress");
      await expect(ethers.deployContract("ShardRegistry", [await d.workers.getAddress(), ethers.ZeroAddress, 1]))
        .to.be.revertedWithCustomError(d.shards, "ShardRegistryZeroAddress");
      const short = await ethers.deployContract("ShardRegistry", [await d.workers.getAddress(), await d.models.getAddress(), 24 * 3600 - 1]);
      await expect(bare.setShardRegistry(await short.getAddress())).to.be.revertedWithCustomError(bare, "InferenceMarketInvalidParams");
      const exact = await ethers.deployContract("ShardRegistry", [await d.workers.getAddress(), await d.models.getAddress(), 24 * 3600]);
      await bare.setShardRegistry(await exact.getAddress());
      await expect(bare.setParams({ ...paramsOf(), maxRequestLifetime: 24 * 3600 + 1 })).to.be.revertedWithCustomError(bare, "InferenceMarketInvalidParams");
      await expect(d.market.setShardRegistry(await d.shards.getAddress())).to.be.revertedWithCustomError(d.market, "InferenceMarketShardRegistryAlreadySet").withArgs(await d.shards.getAddress());
      await expect(d.market.connect(owner).setShardRegistry(owner.address)).to.be.revertedWithCustomError(d.market, "AccessControlUnauthorizedAccount");
      expect(await bare.shardRegistry()).to.equal(await exact.getAddress());
      void host0;
      void host1;
    });
  });

  describe("gas", () => {
    it("of a sharded fulfilment (claimed, inline answer) by shard count: each extra shard costs a signature check, its calldata, a host record and a weight read, and a credit (about 21k)", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const signers = await ethers.getSigners();
      const hosts = signers.slice(9, 13);
      for (const host of hosts) await registerInferrer(w, host, []);
      const gas: Record<string, number> = {};
      for (const count of [2, 3, 4]) {
        const shards = Array.from({ length: count }, (_, i) => shard(i, i + 1, 1 + i));
        await w.models.connect(w.owner).publishShardedVersion(1n, versionInput({ priceWei: PRICE_WEI }), shards);
        const versionId = await w.models.versionCount();
        await w.workers.connect(w.claimant).setServedModels([versionId], true);
        for (let i = 0; i < count; i++) await w.shards.connect(hosts[i]).announce(versionId, i, `https://h${i}.example`);
        // Steady state: every party already holds a credit (as after the first request).
        for (const input of ["0x" + "04".repeat(784), "0x" + "05".repeat(784)]) {
          const tx = await w.market.connect(w.alice).requestInference(
            { modelVersionId: versionId, deadline: (await time.latest()) + 600, callbackGasLimit: 0, salt: 1n, inputKind: InputKind.Inline, input },
            { value: PRICE_WEI },
          );
          const { requestId, request } = requestsOf(w.market, await tx.wait())[0];
          await w.market.connect(w.claimant).claim(requestId);
          const hashes = [request.inputHash, ...Array.from({ length: count - 1 }, (_, i) => h(`a${i}`)), OUTPUT_HASH];
          const stages = await Promise.all(
            hosts.slice(0, count).map((host, i) => signStage(host, w.chainId, w.shardsAddress, { requestId, modelVersionId: versionId, shardIndex: i, inputHash: hashes[i], outputHash: hashes[i + 1] })),
          );
          const receipt = await (await w.market.connect(w.claimant).fulfillSharded(item(request), stages)).wait();
          gas[`fulfillSharded, ${count} shards`] = Number(receipt!.gasUsed);
        }
      }
      console.table(gas);
      const perShard = [gas["fulfillSharded, 3 shards"] - gas["fulfillSharded, 2 shards"], gas["fulfillSharded, 4 shards"] - gas["fulfillSharded, 3 shards"]];
      console.log(`      gas per extra shard: ${perShard.join(", ")}`);
      // Ceilings only on the uninstrumented build: coverage instrumentation adds gas to every line.
      if (!hre.globalOptions.coverage) {
        for (const extra of perShard) expect(extra).to.be.lessThan(22_000);
        expect(gas["fulfillSharded, 2 shards"]).to.be.lessThan(115_000);
      }
      // Either way every extra shard costs about the same (linear in the shard count).
      expect(Math.abs(perShard[1] - perShard[0])).to.be.lessThan(perShard[0] / 10);
    });
  });

  function noRequest(requester: string): InferenceRequestStruct {
    return { requester, modelVersionId: 1n, paymentToken: ETH, fee: 0n, deadline: 0n, callbackGasLimit: 0n, royaltyBps: 0n, protocolFeeBps: 0n, salt: 0n, inputHash: ethers.ZeroHash };
  }

  function paramsOf() {
    const { claimWindow: _c, ...params } = DEFAULT_PARAMS;
    return params;
  }
});
