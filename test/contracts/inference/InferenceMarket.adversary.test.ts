import { expect } from "chai";
import { network } from "hardhat";
import {
  DEFAULT_PARAMS,
  ETH,
  InputKind,
  MIN_STAKE,
  OutputKind,
  RequestStatus,
  SAMPLE_CID,
  deployTessera,
  registerInferrer,
  requestsOf,
  versionInput,
} from "../../helpers/tessera.js";

const { ethers, networkHelpers } = await network.create();
const { time } = networkHelpers;

const PRICE_WEI = 10n ** 15n;
const OUTPUT = "0x07";
const OUTPUT_HASH = ethers.keccak256(OUTPUT);
/** The fixture's version declares input shape [1, 28, 28, 1]: 784 values. */
const INPUT_ELEMENTS = 784;
const DeclineReason = { None: 0, InputUnavailable: 1, InputMalformed: 2, ModelUnavailable: 3 } as const;
const { claimWindow: _claimWindow, ...MARKET_PARAMS } = DEFAULT_PARAMS;
/** A lapse slash of a quarter of the minimum stake: a minimum-stake worker may hold 4 open claims. */
const BIG_SLASH = MIN_STAKE / 4n;

/**
 * The market as each adversary sees it: workers that claim and abandon, requesters that post what can never be
 * served, competitors, model owners and consumer contracts. Each test is the attack; it fails on the market
 * before the fix it names.
 */
describe("InferenceMarket adversaries", () => {
  async function fixture() {
    const [admin, treasury, owner, worker, worker2, alice, minimal, outsider] = await ethers.getSigners();
    const d = await deployTessera(ethers, admin, treasury.address);
    await d.models.connect(owner).registerModel("mnist-cnn", "ipfs://meta");
    await d.models.connect(owner).publishVersion(1n, versionInput()); // version 1: shape [1, 28, 28, 1]
    await registerInferrer(d, worker, [1n]);
    await registerInferrer(d, worker2, [1n]);
    await registerInferrer(d, minimal, [1n], MIN_STAKE);
    return { ...d, admin, treasury, owner, worker, worker2, alice, minimal, outsider };
  }
  type World = Awaited<ReturnType<typeof fixture>>;

  let salt = 0n;
  async function args(overrides: Record<string, unknown> = {}) {
    return {
      modelVersionId: 1n,
      deadline: (await time.latest()) + 600,
      callbackGasLimit: 0,
      salt: ++salt,
      inputKind: InputKind.Cid,
      input: SAMPLE_CID,
      ...overrides,
    };
  }

  async function openRequest(w: World, overrides: Record<string, unknown> = {}, value = PRICE_WEI) {
    const tx = await w.market.connect(w.alice).requestInference(await args(overrides), { value });
    return requestsOf(w.market, await tx.wait())[0];
  }

  async function openMany(w: World, n: number, overrides: Record<string, unknown> = {}) {
    const out = [];
    for (let i = 0; i < n; i++) out.push(await openRequest(w, overrides));
    return out;
  }

  describe("claim-and-abandon (issue 8 item 10): open claims are bounded by stake / lapseSlash", () => {
    it("a minimum-stake worker cannot hold more claims than its stake pays slashes for", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      await w.market.setParams({ ...MARKET_PARAMS, lapseSlash: BIG_SLASH });
      const rs = await openMany(w, 5);
      for (const r of rs.slice(0, 4)) await w.market.connect(w.minimal).claim(r.requestId);
      expect(await w.market.openClaimsOf(w.minimal.address)).to.equal(4n);
      await expect(w.market.connect(w.minimal).claim(rs[4].requestId))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketClaimsExceedStake")
        .withArgs(w.minimal.address, 5n, MIN_STAKE);
      // Abandoning every claim it holds costs it exactly its slashes: the treasury gets all of them.
      await time.increaseTo(rs[0].request.deadline + 1n);
      const before = await w.token.balanceOf(w.treasury.address);
      for (const r of rs.slice(0, 4)) {
        await expect(w.market.refund(r.request)).to.emit(w.market, "ClaimLapsed").withArgs(r.requestId, w.minimal.address, BIG_SLASH);
      }
      expect((await w.token.balanceOf(w.treasury.address)) - before).to.equal(4n * BIG_SLASH);
      expect((await w.workers.workerOf(w.minimal.address)).stake).to.equal(0n);
      expect(await w.market.openClaimsOf(w.minimal.address)).to.equal(0n);
    });

    it("claimBatch claims exactly up to the room the stake leaves and skips the rest", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      await w.market.setParams({ ...MARKET_PARAMS, lapseSlash: BIG_SLASH });
      const rs = await openMany(w, 6);
      await w.market.connect(w.minimal).claim(rs[0].requestId);
      const ids = rs.slice(1).map((r) => r.requestId);
      expect(await w.market.connect(w.minimal).claimBatch.staticCall(ids)).to.equal(3n);
      const tx = w.market.connect(w.minimal).claimBatch(ids);
      const expiry = BigInt((await time.latest()) + 1 + DEFAULT_PARAMS.claimWindow);
      await expect(tx).to.emit(w.market, "InferencesClaimed").withArgs(w.minimal.address, expiry, ids.slice(0, 3));
      expect(await w.market.openClaimsOf(w.minimal.address)).to.equal(4n);
      expect((await w.market.requestState(rs[4].requestId)).status).to.equal(RequestStatus.Open);
      expect((await w.market.requestState(rs[5].requestId)).status).to.equal(RequestStatus.Open);
      // No room left: nothing is claimed, nothing is emitted; another worker takes the rest.
      await expect(w.market.connect(w.minimal).claimBatch(ids.slice(3))).not.to.emit(w.market, "InferencesClaimed");
      const later = BigInt((await time.latest()) + 1 + DEFAULT_PARAMS.claimWindow);
      await expect(w.market.connect(w.worker).claimBatch(ids.slice(3)))
        .to.emit(w.market, "InferencesClaimed")
        .withArgs(w.worker.address, later, ids.slice(3));
    });

    it("releases a claim on fulfil, fulfillBatch, takeover and refund, which makes room again", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      await w.market.setParams({ ...MARKET_PARAMS, lapseSlash: BIG_SLASH });
      const rs = await openMany(w, 6);
      await w.market.connect(w.minimal).claimBatch(rs.slice(0, 4).map((r) => r.requestId));
      await w.market.connect(w.minimal).fulfill(rs[0].request, OutputKind.Inline, OUTPUT, OUTPUT_HASH);
      expect(await w.market.openClaimsOf(w.minimal.address)).to.equal(3n);
      await w.market.connect(w.minimal).fulfillBatch(
        [rs[1]].map((r) => ({ request: r.request, outputKind: OutputKind.Inline, output: OUTPUT, outputHash: OUTPUT_HASH })),
      );
      expect(await w.market.openClaimsOf(w.minimal.address)).to.equal(2n);
      await w.market.connect(w.minimal).claim(rs[4].requestId); // room again
      expect(await w.market.openClaimsOf(w.minimal.address)).to.equal(3n);
      await time.increase(DEFAULT_PARAMS.claimWindow + 1);
      await expect(w.market.connect(w.worker).claim(rs[2].requestId))
        .to.emit(w.market, "ClaimLapsed")
        .withArgs(rs[2].requestId, w.minimal.address, BIG_SLASH);
      expect(await w.market.openClaimsOf(w.minimal.address)).to.equal(2n);
      expect(await w.market.openClaimsOf(w.worker.address)).to.equal(1n);
      await expect(w.market.connect(w.worker2).fulfill(rs[3].request, OutputKind.Inline, OUTPUT, OUTPUT_HASH))
        .to.emit(w.market, "ClaimLapsed")
        .withArgs(rs[3].requestId, w.minimal.address, BIG_SLASH);
      expect(await w.market.openClaimsOf(w.minimal.address)).to.equal(1n);
      await time.increaseTo(rs[4].request.deadline + 1n);
      await w.market.refund(rs[4].request);
      await w.market.refund(rs[2].request);
      expect(await w.market.openClaimsOf(w.minimal.address)).to.equal(0n);
      expect(await w.market.openClaimsOf(w.worker.address)).to.equal(0n);
      expect(await w.market.openClaimsOf(w.worker2.address)).to.equal(0n);
    });

    it("with no lapse slash the stake bounds nothing: claimBatch claims every id, a takeover slashes nothing", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      await w.market.setParams({ ...MARKET_PARAMS, lapseSlash: 0n });
      const rs = await openMany(w, 6);
      const ids = rs.map((r) => r.requestId);
      expect(await w.market.connect(w.minimal).claimBatch.staticCall(ids)).to.equal(6n);
      const tx = w.market.connect(w.minimal).claimBatch(ids);
      const expiry = BigInt((await time.latest()) + 1 + DEFAULT_PARAMS.claimWindow);
      await expect(tx).to.emit(w.market, "InferencesClaimed").withArgs(w.minimal.address, expiry, ids);
      expect(await w.market.openClaimsOf(w.minimal.address)).to.equal(6n);
      for (const id of ids) expect((await w.market.requestState(id)).claimant).to.equal(w.minimal.address);
      // Abandoned claims are taken over at no cost to the lapsed claimant: nothing moves to the treasury.
      await time.increase(DEFAULT_PARAMS.claimWindow + 1);
      const takeover = w.market.connect(w.worker).claimBatch(ids.slice(0, 2));
      for (const id of ids.slice(0, 2)) {
        await expect(takeover).to.emit(w.market, "ClaimLapsed").withArgs(id, w.minimal.address, 0n);
      }
      await expect(takeover).to.changeTokenBalances(ethers, w.token, [w.treasury, w.workers], [0n, 0n]);
      expect((await w.workers.workerOf(w.minimal.address)).stake).to.equal(MIN_STAKE);
      expect(await w.market.openClaimsOf(w.minimal.address)).to.equal(4n);
      expect(await w.market.openClaimsOf(w.worker.address)).to.equal(2n);
    });

    it("a worker slashed below its open claims' exposure cannot claim more until it tops up", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      await w.market.setParams({ ...MARKET_PARAMS, lapseSlash: BIG_SLASH });
      const rs = await openMany(w, 3);
      await w.market.connect(w.minimal).claim(rs[0].requestId);
      await time.increase(DEFAULT_PARAMS.claimWindow + 1);
      await w.market.connect(w.worker).claim(rs[0].requestId); // minimal slashed: stake 750, below minStake
      await expect(w.market.connect(w.minimal).claim(rs[1].requestId))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketWorkerNotEligible")
        .withArgs(w.minimal.address, 1n);
      await w.token.mint(w.minimal.address, BIG_SLASH);
      await w.token.connect(w.minimal).approve(await w.workers.getAddress(), BIG_SLASH);
      await w.workers.connect(w.minimal).addStake(BIG_SLASH);
      await w.market.connect(w.minimal).claim(rs[1].requestId);
      expect(await w.market.openClaimsOf(w.minimal.address)).to.equal(1n);
    });
  });

  describe("unservable requests (issue 8 item 11) are refused when they are made", () => {
    it("rejects a callback gas limit above MAX_CALLBACK_GAS_LIMIT and serves one at the cap", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const max = await w.market.MAX_CALLBACK_GAS_LIMIT();
      expect(max).to.equal(2_000_000n);
      const consumer = await ethers.deployContract("MisbehavingConsumer", [await w.market.getAddress(), 1]); // burns its gas
      // 40M gas of callback fits in no block: the claimant would be slashed at refund.
      for (const limit of [40_000_000n, max + 1n]) {
        const fee = PRICE_WEI + limit * DEFAULT_PARAMS.callbackGasPriceWei;
        await expect(consumer.connect(w.alice).request(await args({ callbackGasLimit: limit }), { value: fee }))
          .to.be.revertedWithCustomError(w.market, "InferenceMarketCallbackGasTooHigh")
          .withArgs(limit, max);
        await expect(
          w.market.connect(w.alice).requestInferenceWithToken(await args({ callbackGasLimit: limit }), 10n ** 24n, {
            value: 0n, deadline: 0n, v: 0, r: ethers.ZeroHash, s: ethers.ZeroHash,
          }),
        )
          .to.be.revertedWithCustomError(w.market, "InferenceMarketCallbackGasTooHigh")
          .withArgs(limit, max);
      }
      const fee = PRICE_WEI + max * DEFAULT_PARAMS.callbackGasPriceWei;
      const tx = await consumer.connect(w.alice).request(await args({ callbackGasLimit: max }), { value: fee });
      const r = requestsOf(w.market, await tx.wait())[0];
      await w.market.connect(w.worker).claim(r.requestId);
      const fulfil = w.market.connect(w.worker).fulfill(r.request, OutputKind.Inline, OUTPUT, OUTPUT_HASH, { gasLimit: 2_200_000 });
      await expect(fulfil).to.emit(w.market, "InferenceCallbackFailed").withArgs(r.requestId);
      expect(await w.market.earnedOf(w.worker.address, 1n, ETH)).to.deep.equal([fee, (fee * 250n) / 10_000n]);
    });

    it("rejects an inline input whose size cannot be the version's declared input, at every edge", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      expect((await w.market.versionTerms(1n)).inputElements).to.equal(BigInt(INPUT_ELEMENTS));
      for (const length of [1, INPUT_ELEMENTS - 1, INPUT_ELEMENTS + 1, 3 * INPUT_ELEMENTS, 5 * INPUT_ELEMENTS]) {
        await expect(w.market.connect(w.alice).requestInference(await args({ inputKind: InputKind.Inline, input: "0x" + "01".repeat(length) }), { value: PRICE_WEI }))
          .to.be.revertedWithCustomError(w.market, "InferenceMarketInputSizeMismatch")
          .withArgs(length, INPUT_ELEMENTS);
      }
      for (const bytesPerValue of [1, 2, 4]) {
        const r = await openRequest(w, { inputKind: InputKind.Inline, input: "0x" + "01".repeat(bytesPerValue * INPUT_ELEMENTS) });
        expect((await w.market.requestState(r.requestId)).status).to.equal(RequestStatus.Open);
      }
      // 8 bytes per value (float64) is a valid size too, but above maxInlineInputBytes (4096).
      await expect(w.market.connect(w.alice).requestInference(await args({ inputKind: InputKind.Inline, input: "0x" + "01".repeat(8 * INPUT_ELEMENTS) }), { value: PRICE_WEI }))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketInputTooLarge")
        .withArgs(8 * INPUT_ELEMENTS, 4096);
    });

    it("checks no size for a version whose shape is unknown (empty, a zero dimension, or beyond uint32)", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const shapes = [[], [0, 784], [65_536, 65_536]];
      for (const [i, inputShape] of shapes.entries()) {
        await w.models.connect(w.owner).publishVersion(1n, versionInput({ inputShape }));
        const versionId = BigInt(i + 2);
        expect((await w.market.versionTerms(versionId)).inputElements).to.equal(0n);
        const r = await openRequest(w, { modelVersionId: versionId, inputKind: InputKind.Inline, input: "0x010203" });
        expect((await w.market.requestState(r.requestId)).status).to.equal(RequestStatus.Open);
      }
      await w.models.connect(w.owner).publishVersion(1n, versionInput({ inputShape: [65_535, 65_537] }));
      expect((await w.market.versionTerms(5n)).inputElements).to.equal(65_535n * 65_537n);
      await w.models.connect(w.owner).deprecateVersion(5n);
      expect(await w.market.versionTerms(5n)).to.deep.equal([true, false, PRICE_WEI, 10n ** 18n, 1_000n, 65_535n * 65_537n]);
    });

    it("rejects a CID input that is neither a CIDv1 nor a CIDv0", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const cidV0 = "0x1220" + "ab".repeat(32);
      for (const bad of ["0x02" + "ab".repeat(35), "0x1220" + "ab".repeat(33), "0x12", "0x1221" + "ab".repeat(32)]) {
        await expect(w.market.connect(w.alice).requestInference(await args({ input: bad }), { value: PRICE_WEI }))
          .to.be.revertedWithCustomError(w.market, "InferenceMarketMalformedCid");
      }
      const r = await openRequest(w, { input: cidV0 });
      expect((await w.market.requestState(r.requestId)).status).to.equal(RequestStatus.Open);
    });
  });

  describe("decline: the requester learns why, nobody can cancel anyone's request", () => {
    it("an eligible worker declines open requests with a reason; nothing else changes", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const [a, b, settled] = await openMany(w, 3);
      await w.market.connect(w.worker2).fulfill(settled.request, OutputKind.Inline, OUTPUT, OUTPUT_HASH);
      const ids = [a.requestId, b.requestId, settled.requestId, 999n];
      const reasons = [DeclineReason.InputUnavailable, DeclineReason.InputMalformed, DeclineReason.InputMalformed, DeclineReason.InputUnavailable];
      expect(await w.market.connect(w.worker).decline.staticCall(ids, reasons)).to.equal(2n);
      const tx = w.market.connect(w.worker).decline(ids, reasons);
      await expect(tx).to.emit(w.market, "InferenceDeclined").withArgs(a.requestId, w.worker.address, DeclineReason.InputUnavailable);
      await expect(tx).to.emit(w.market, "InferenceDeclined").withArgs(b.requestId, w.worker.address, DeclineReason.InputMalformed);
      const receipt = await (await tx).wait();
      expect(receipt!.logs).to.have.length(2);
      // The request is untouched: another worker claims and fulfils it.
      expect((await w.market.requestState(a.requestId)).status).to.equal(RequestStatus.Open);
      await w.market.connect(w.worker2).claim(a.requestId);
      await w.market.connect(w.worker2).fulfill(a.request, OutputKind.Inline, OUTPUT, OUTPUT_HASH);
    });

    it("ignores declines from non-workers and of expired requests, and rejects malformed calls", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const r = await openRequest(w, { deadline: (await time.latest()) + 30 });
      await expect(w.market.connect(w.outsider).decline([r.requestId], [DeclineReason.InputMalformed])).not.to.emit(w.market, "InferenceDeclined");
      await expect(w.market.connect(w.worker).decline([r.requestId], [])).to.be.revertedWithCustomError(w.market, "InferenceMarketInvalidDecline");
      await expect(w.market.connect(w.worker).decline([r.requestId], [DeclineReason.None])).to.be.revertedWithCustomError(w.market, "InferenceMarketInvalidDecline");
      await time.setNextBlockTimestamp(r.request.deadline);
      await expect(w.market.connect(w.worker).decline([r.requestId], [DeclineReason.InputMalformed])).to.emit(w.market, "InferenceDeclined");
      await expect(w.market.connect(w.worker).decline([r.requestId], [DeclineReason.InputMalformed])).not.to.emit(w.market, "InferenceDeclined");
    });
  });

  describe("model owner", () => {
    it("deprecating a version under open and claimed requests neither strands them nor the fees", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const open = await openRequest(w);
      const held = await openRequest(w);
      await w.market.connect(w.worker).claim(held.requestId);
      await w.models.connect(w.owner).deprecateVersion(1n);
      await expect(w.market.connect(w.alice).requestInference(await args(), { value: PRICE_WEI }))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketModelVersionDeprecated")
        .withArgs(1n);
      await w.market.connect(w.worker).fulfill(held.request, OutputKind.Inline, OUTPUT, OUTPUT_HASH);
      await w.market.connect(w.worker).claim(open.requestId);
      await w.market.connect(w.worker).fulfill(open.request, OutputKind.Inline, OUTPUT, OUTPUT_HASH);
      await w.market.settle(w.worker.address, [1n], ETH);
      expect(await w.market.creditOf(w.owner.address, ETH)).to.equal((2n * PRICE_WEI * 1_000n) / 10_000n);
      expect(await w.market.openClaimsOf(w.worker.address)).to.equal(0n);
    });

    it("cannot reprice open requests: a new price or royalty is a new version, and the id commits to the terms", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const r = await openRequest(w);
      await w.models.connect(w.owner).publishVersion(1n, versionInput({ priceWei: PRICE_WEI * 100n, royaltyBps: 9_000 }));
      await w.market.connect(w.worker).fulfill(r.request, OutputKind.Inline, OUTPUT, OUTPUT_HASH);
      expect(await w.market.earnedOf(w.worker.address, 1n, ETH)).to.deep.equal([PRICE_WEI, (PRICE_WEI * 250n) / 10_000n]);
      expect((await w.market.versionTerms(1n)).royaltyBps).to.equal(1_000n);
    });
  });

  describe("requester and refund timing", () => {
    it("cannot refund at the deadline to race a fulfilment; a worker fulfils at the deadline, nobody after", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const r = await openRequest(w);
      await w.market.connect(w.worker).claim(r.requestId);
      await time.setNextBlockTimestamp(r.request.deadline);
      await expect(w.market.connect(w.alice).refund(r.request))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketDeadlineNotPassed")
        .withArgs(r.requestId, r.request.deadline);
      await time.setNextBlockTimestamp(r.request.deadline);
      await w.market.connect(w.worker).fulfill(r.request, OutputKind.Inline, OUTPUT, OUTPUT_HASH);
      await expect(w.market.connect(w.alice).refund(r.request))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketRequestNotOpen")
        .withArgs(r.requestId);
      expect(await w.market.openClaimsOf(w.worker.address)).to.equal(0n);
    });
  });
});
