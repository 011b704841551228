import { expect } from "chai";
import { network } from "hardhat";
import {
  DEFAULT_PARAMS,
  ETH,
  InputKind,
  OutputKind,
  RequestStatus,
  SAMPLE_CID,
  UNBONDING_DELAY,
  deployTessera,
  registerInferrer,
  requestsOf,
  signPermit,
  versionInput,
  type InferenceRequestStruct,
} from "../../helpers/tessera.js";

const { ethers, networkHelpers } = await network.create();
const { time } = networkHelpers;

const PRICE_WEI = 10n ** 15n;
const PRICE_TOKEN = 10n ** 18n;
const ROYALTY_BPS = 1_000n;
const PROTOCOL_BPS = BigInt(DEFAULT_PARAMS.protocolFeeBps);
const LAPSE_SLASH = DEFAULT_PARAMS.lapseSlash;
const OUTPUT = "0x07";
const OUTPUT_HASH = ethers.keccak256(OUTPUT);

/** The tunable parameters (claimWindow is an immutable constructor argument). */
const { claimWindow: _claimWindow, ...MARKET_PARAMS } = DEFAULT_PARAMS;

describe("InferenceMarket", () => {
  async function fixture() {
    const [admin, treasury, owner, worker, worker2, alice, bob, outsider] = await ethers.getSigners();
    const d = await deployTessera(ethers, admin, treasury.address);
    await d.models.connect(owner).registerModel("mnist-cnn", "ipfs://meta");
    await d.models.connect(owner).publishVersion(1n, versionInput()); // version 1
    await d.models.connect(owner).publishVersion(1n, versionInput()); // version 2, deprecated below
    await d.models.connect(owner).deprecateVersion(2n);
    await registerInferrer(d, worker, [1n]);
    await registerInferrer(d, worker2, [1n]);
    await d.token.mint(alice.address, 10n ** 24n);
    const marketAddress = await d.market.getAddress();
    return { ...d, admin, treasury, owner, worker, worker2, alice, bob, outsider, marketAddress };
  }
  type World = Awaited<ReturnType<typeof fixture>>;

  async function args(overrides: Record<string, unknown> = {}) {
    return {
      modelVersionId: 1n,
      deadline: (await time.latest()) + 600,
      callbackGasLimit: 0,
      salt: 0n,
      inputKind: InputKind.Cid,
      input: SAMPLE_CID,
      ...overrides,
    };
  }

  async function openRequest(w: World, overrides: Record<string, unknown> = {}, value = PRICE_WEI) {
    const tx = await w.market.connect(w.alice).requestInference(await args(overrides), { value });
    return requestsOf(w.market, await tx.wait())[0];
  }

  async function claimed(w: World, overrides: Record<string, unknown> = {}, value = PRICE_WEI) {
    const r = await openRequest(w, overrides, value);
    await w.market.connect(w.worker).claim(r.requestId);
    return r;
  }

  function split(fee: bigint, royaltyBps = ROYALTY_BPS, protocolBps = PROTOCOL_BPS) {
    const royalty = (fee * royaltyBps) / 10_000n;
    const protocol = (fee * protocolBps) / 10_000n;
    return { royalty, protocol, worker: fee - royalty - protocol };
  }

  describe("construction and parameters", () => {
    it("rejects zero addresses and parameters that break the unbonding guarantee", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const base = [w.admin.address, await w.token.getAddress(), await w.workers.getAddress(), await w.models.getAddress()] as const;
      const factory = await ethers.getContractFactory("InferenceMarket");
      await expect(
        factory.deploy(w.admin.address, ETH, base[2], base[3], w.treasury.address, 60, MARKET_PARAMS),
      ).to.be.revertedWithCustomError(w.market, "InferenceMarketZeroAddress");
      await expect(factory.deploy(...base, ETH, 60, MARKET_PARAMS)).to.be.revertedWithCustomError(
        w.market,
        "InferenceMarketZeroAddress",
      );
      await expect(factory.deploy(...base, w.treasury.address, 0, MARKET_PARAMS)).to.be.revertedWithCustomError(
        w.market,
        "InferenceMarketInvalidParams",
      );
      expect(await w.market.claimWindow()).to.equal(BigInt(DEFAULT_PARAMS.claimWindow));
      const floor = Number(await w.workers.MIN_UNBONDING_DELAY());
      for (const bad of [
        { maxRequestLifetime: floor - 3600, refundGracePeriod: 3600 },
        { protocolFeeBps: 2_001 },
        { maxRequestLifetime: 0 },
        { maxInlineInputBytes: 0 },
      ]) {
        await expect(w.market.setParams({ ...MARKET_PARAMS, ...bad })).to.be.revertedWithCustomError(
          w.market,
          "InferenceMarketInvalidParams",
        );
      }
    });

    it("lets PARAMS_ROLE set parameters and the admin set the treasury", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const next = { ...MARKET_PARAMS, protocolFeeBps: 500 };
      await expect(w.market.setParams(next)).to.emit(w.market, "ParamsUpdated");
      expect((await w.market.params()).protocolFeeBps).to.equal(500n);
      await expect(w.market.setTreasury(w.bob.address)).to.emit(w.market, "TreasuryUpdated").withArgs(w.bob.address);
      expect(await w.market.treasury()).to.equal(w.bob.address);
      await expect(w.market.setTreasury(ETH)).to.be.revertedWithCustomError(w.market, "InferenceMarketZeroAddress");
      await expect(w.market.connect(w.outsider).setParams(next))
        .to.be.revertedWithCustomError(w.market, "AccessControlUnauthorizedAccount")
        .withArgs(w.outsider.address, await w.market.PARAMS_ROLE());
      expect(await w.market.paymentToken()).to.equal(await w.token.getAddress());
      expect(await w.market.workerRegistry()).to.equal(await w.workers.getAddress());
      expect(await w.market.modelRegistry()).to.equal(await w.models.getAddress());
    });
  });

  describe("requestInference", () => {
    it("escrows the fee, stores one open slot and emits the full terms", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const a = await args({ salt: 42n, callbackGasLimit: 0 });
      const tx = w.market.connect(w.alice).requestInference(a, { value: PRICE_WEI });
      await expect(tx).to.changeEtherBalances(ethers, [w.alice, w.market], [-PRICE_WEI, PRICE_WEI]);
      const [{ requestId, request }] = requestsOf(w.market, await (await tx).wait());
      expect(request).to.deep.equal({
        requester: w.alice.address,
        modelVersionId: 1n,
        paymentToken: ETH,
        fee: PRICE_WEI,
        deadline: BigInt(a.deadline),
        callbackGasLimit: 0n,
        royaltyBps: ROYALTY_BPS,
        protocolFeeBps: PROTOCOL_BPS,
        salt: 42n,
        inputHash: ethers.keccak256(SAMPLE_CID),
      });
      expect(await w.market.requestIdOf(request)).to.equal(requestId);
      await expect(tx)
        .to.emit(w.market, "InferenceRequested")
        .withArgs(requestId, w.alice.address, Object.values(request), InputKind.Cid, SAMPLE_CID);
      const state = await w.market.requestState(requestId);
      expect(state.status).to.equal(RequestStatus.Open);
      expect(state.deadline).to.equal(BigInt(a.deadline));
      expect(state.claimant).to.equal(ETH);
      expect(state.modelVersionId).to.equal(1n);
    });

    it("rejects unknown and deprecated versions", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      await expect(w.market.connect(w.alice).requestInference(await args({ modelVersionId: 99n }), { value: PRICE_WEI }))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketUnknownModelVersion")
        .withArgs(99n);
      await expect(w.market.connect(w.alice).requestInference(await args({ modelVersionId: 2n }), { value: PRICE_WEI }))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketModelVersionDeprecated")
        .withArgs(2n);
    });

    it("reads the version terms the ModelRegistry pushed, which only the registry can write", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      expect(await w.market.versionTerms(1n)).to.deep.equal([true, true, PRICE_WEI, PRICE_TOKEN, ROYALTY_BPS, 784n]);
      expect(await w.market.versionTerms(2n)).to.deep.equal([true, false, PRICE_WEI, PRICE_TOKEN, ROYALTY_BPS, 784n]);
      expect(await w.market.versionTerms(99n)).to.deep.equal([false, false, 0n, 0n, 0n, 0n]);
      await expect(w.market.connect(w.owner).onVersionTermsUpdated(1n, 0n, 0n, 0, 0, true, false))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketNotModelRegistry")
        .withArgs(w.owner.address);
    });

    it("rejects a fee below price plus callback gas", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      await expect(w.market.connect(w.alice).requestInference(await args(), { value: PRICE_WEI - 1n }))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketFeeTooLow")
        .withArgs(PRICE_WEI - 1n, PRICE_WEI);
      const minFee = PRICE_WEI + 100_000n * DEFAULT_PARAMS.callbackGasPriceWei;
      await expect(
        w.market.connect(w.alice).requestInference(await args({ callbackGasLimit: 100_000 }), { value: minFee - 1n }),
      )
        .to.be.revertedWithCustomError(w.market, "InferenceMarketFeeTooLow")
        .withArgs(minFee - 1n, minFee);
    });

    it("rejects a deadline in the past, now, or beyond maxRequestLifetime", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const now = await time.latest();
      await time.setNextBlockTimestamp(now + 1);
      const latest = BigInt(now + 1 + DEFAULT_PARAMS.maxRequestLifetime);
      await expect(w.market.connect(w.alice).requestInference(await args({ deadline: now }), { value: PRICE_WEI }))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketInvalidDeadline")
        .withArgs(now, latest);
      await time.setNextBlockTimestamp(now + 2);
      const tooFar = now + 3 + DEFAULT_PARAMS.maxRequestLifetime;
      await expect(w.market.connect(w.alice).requestInference(await args({ deadline: tooFar }), { value: PRICE_WEI }))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketInvalidDeadline")
        .withArgs(tooFar, latest + 1n);
    });

    it("rejects empty and oversized inputs", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      await expect(
        w.market.connect(w.alice).requestInference(await args({ input: "0x" }), { value: PRICE_WEI }),
      ).to.be.revertedWithCustomError(w.market, "InferenceMarketEmptyInput");
      const bigCid = "0x" + "01".repeat(65);
      await expect(w.market.connect(w.alice).requestInference(await args({ input: bigCid }), { value: PRICE_WEI }))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketInputTooLarge")
        .withArgs(65n, 64n);
      const bigInline = "0x" + "01".repeat(4097);
      await expect(
        w.market
          .connect(w.alice)
          .requestInference(await args({ inputKind: InputKind.Inline, input: bigInline }), { value: PRICE_WEI }),
      )
        .to.be.revertedWithCustomError(w.market, "InferenceMarketInputTooLarge")
        .withArgs(4097n, 4096n);
      await openRequest(w, { inputKind: InputKind.Inline, input: "0x" + "01".repeat(4 * 784) }); // float32 pixels
    });

    it("rejects a duplicate id (same terms and salt in the same second)", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const a = await args();
      await networkHelpers.mine(); // keep both txs in separate blocks but with identical terms
      const { requestId } = await openRequest(w, { deadline: a.deadline });
      await expect(w.market.connect(w.alice).requestInference(a, { value: PRICE_WEI }))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketDuplicateRequest")
        .withArgs(requestId);
    });

    it("rejects a split above 100% and a fee above uint96", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      await w.models.connect(w.owner).publishVersion(1n, versionInput({ royaltyBps: 9_900 })); // version 3
      await expect(w.market.connect(w.alice).requestInference(await args({ modelVersionId: 3n }), { value: PRICE_WEI }))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketSplitTooHigh")
        .withArgs(9_900n, PROTOCOL_BPS);
      const huge = 2n ** 96n;
      await networkHelpers.setBalance(w.alice.address, huge * 2n);
      await expect(w.market.connect(w.alice).requestInference(await args(), { value: huge }))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketFeeTooHigh")
        .withArgs(huge);
    });
  });

  describe("requestInferenceWithToken", () => {
    it("pulls the fee with a permit in the same tx (no approve)", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const a = await args();
      const permit = await signPermit(w.token, w.alice, w.marketAddress, PRICE_TOKEN, BigInt(a.deadline));
      expect(await w.token.allowance(w.alice.address, w.marketAddress)).to.equal(0n);
      const tx = w.market
        .connect(w.alice)
        .requestInferenceWithToken(a, PRICE_TOKEN, { value: PRICE_TOKEN, deadline: a.deadline, v: permit.v, r: permit.r, s: permit.s });
      await expect(tx).to.changeTokenBalances(ethers, w.token, [w.alice, w.market], [-PRICE_TOKEN, PRICE_TOKEN]);
      const [{ request }] = requestsOf(w.market, await (await tx).wait());
      expect(request.paymentToken).to.equal(await w.token.getAddress());
      expect(request.fee).to.equal(PRICE_TOKEN);
    });

    it("still succeeds when the permit was front-run, and works with a plain approve", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const a = await args();
      const permit = await signPermit(w.token, w.alice, w.marketAddress, PRICE_TOKEN, BigInt(a.deadline));
      await w.token.permit(w.alice.address, w.marketAddress, PRICE_TOKEN, a.deadline, permit.v, permit.r, permit.s);
      const p = { value: PRICE_TOKEN, deadline: a.deadline, v: permit.v, r: permit.r, s: permit.s };
      await expect(w.market.connect(w.alice).requestInferenceWithToken(a, PRICE_TOKEN, p)).to.changeTokenBalance(
        ethers,
        w.token,
        w.market,
        PRICE_TOKEN,
      );
      await w.token.connect(w.alice).approve(w.marketAddress, PRICE_TOKEN);
      const none = { value: 0n, deadline: 0n, v: 0, r: ethers.ZeroHash, s: ethers.ZeroHash };
      await expect(
        w.market.connect(w.alice).requestInferenceWithToken(await args({ salt: 1n }), PRICE_TOKEN, none),
      ).to.changeTokenBalance(ethers, w.token, w.market, PRICE_TOKEN);
    });

    it("rejects a token fee below price plus callback gas", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const none = { value: 0n, deadline: 0n, v: 0, r: ethers.ZeroHash, s: ethers.ZeroHash };
      const minFee = PRICE_TOKEN + 10n * DEFAULT_PARAMS.callbackGasPriceToken;
      await expect(
        w.market.connect(w.alice).requestInferenceWithToken(await args({ callbackGasLimit: 10 }), minFee - 1n, none),
      )
        .to.be.revertedWithCustomError(w.market, "InferenceMarketFeeTooLow")
        .withArgs(minFee - 1n, minFee);
    });
  });

  describe("claim", () => {
    it("claims an open request exclusively for claimWindow", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const { requestId } = await openRequest(w);
      const tx = w.market.connect(w.worker).claim(requestId);
      const expiry = BigInt((await time.latest()) + 1 + DEFAULT_PARAMS.claimWindow);
      await expect(tx).to.emit(w.market, "InferencesClaimed").withArgs(w.worker.address, expiry, [requestId]);
      const state = await w.market.requestState(requestId);
      expect(state.status).to.equal(RequestStatus.Claimed);
      expect(state.claimant).to.equal(w.worker.address);
      expect(state.claimExpiry).to.equal(expiry);
      await expect(w.market.connect(w.worker2).claim(requestId))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketAlreadyClaimed")
        .withArgs(requestId, w.worker.address, expiry);
      await expect(w.market.connect(w.worker).claim(requestId))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketAlreadyClaimed")
        .withArgs(requestId, w.worker.address, expiry);
    });

    it("rejects unknown ids, expired requests, and ineligible or unstaking workers", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      await expect(w.market.connect(w.worker).claim(123n))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketRequestNotOpen")
        .withArgs(123n);
      const r = await openRequest(w);
      await expect(w.market.connect(w.outsider).claim(r.requestId))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketWorkerNotEligible")
        .withArgs(w.outsider.address, 1n);
      await w.workers.connect(w.worker).requestUnstake();
      await expect(w.market.connect(w.worker).claim(r.requestId))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketWorkerNotEligible")
        .withArgs(w.worker.address, 1n);
      await time.increaseTo(r.request.deadline + 1n);
      await expect(w.market.connect(w.worker2).claim(r.requestId))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketRequestExpired")
        .withArgs(r.requestId, r.request.deadline);
    });

    it("lets another worker take over a lapsed claim and slashes the lapsed claimant to the treasury", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const { requestId } = await claimed(w);
      await time.increase(DEFAULT_PARAMS.claimWindow + 1);
      const tx = w.market.connect(w.worker2).claim(requestId);
      await expect(tx).to.emit(w.market, "ClaimLapsed").withArgs(requestId, w.worker.address, LAPSE_SLASH);
      await expect(tx).to.changeTokenBalances(
        ethers,
        w.token,
        [w.treasury, w.workers],
        [LAPSE_SLASH, -LAPSE_SLASH],
      );
      expect((await w.workers.workerOf(w.worker.address)).stake).to.equal(2_000n * 10n ** 18n - LAPSE_SLASH);
      expect((await w.market.requestState(requestId)).claimant).to.equal(w.worker2.address);
    });

    it("lets the claimant still fulfil a lapsed claim nobody took over", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const r = await claimed(w);
      await time.increase(DEFAULT_PARAMS.claimWindow + 10);
      await expect(w.market.connect(w.worker).fulfill(r.request, OutputKind.Inline, OUTPUT, OUTPUT_HASH)).to.emit(
        w.market,
        "InferenceFulfilled",
      );
    });
  });

  describe("claimBatch", () => {
    it("claims what it can, skips the rest, and emits one event with the claimed ids", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const a = await openRequest(w, { salt: 1n });
      const b = await openRequest(w, { salt: 2n });
      const takenByOther = await openRequest(w, { salt: 3n });
      await w.market.connect(w.worker2).claim(takenByOther.requestId);
      const short = await openRequest(w, { salt: 4n, deadline: (await time.latest()) + 5 });
      await time.increase(10);
      const ids = [a.requestId, 999n, takenByOther.requestId, short.requestId, b.requestId];
      expect(await w.market.connect(w.worker).claimBatch.staticCall(ids)).to.equal(2n);
      const tx = w.market.connect(w.worker).claimBatch(ids);
      const expiry = BigInt((await time.latest()) + 1 + DEFAULT_PARAMS.claimWindow);
      await expect(tx)
        .to.emit(w.market, "InferencesClaimed")
        .withArgs(w.worker.address, expiry, [a.requestId, b.requestId]);
    });

    it("requestStates reads a batch as requestState reads each: unknown, open, claimed by either worker, past its deadline", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const open = await openRequest(w, { salt: 1n });
      const mine = await openRequest(w, { salt: 2n });
      const other = await openRequest(w, { salt: 3n });
      await w.market.connect(w.worker).claim(mine.requestId);
      await w.market.connect(w.worker2).claim(other.requestId);
      const ids = [open.requestId, 999n, mine.requestId, other.requestId, open.requestId];
      const batch = await w.market.requestStates(ids);
      const each = await Promise.all(ids.map((id) => w.market.requestState(id)));
      expect(batch.map((s) => [...s])).to.deep.equal(each.map((s) => [...s]));
      expect(batch.map((s) => s.status)).to.deep.equal([RequestStatus.Open, RequestStatus.None, RequestStatus.Claimed, RequestStatus.Claimed, RequestStatus.Open]);
      expect(batch[2].claimant).to.equal(w.worker.address);
      expect(batch[3].claimant).to.equal(w.worker2.address);
      expect(await w.market.requestStates([])).to.deep.equal([]);
    });

    it("checks eligibility per version, slashes lapsed claimants, and emits nothing when nothing was claimed", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      await w.models.connect(w.owner).publishVersion(1n, versionInput()); // version 3, not served by anyone
      const v1 = await openRequest(w, { salt: 1n });
      const v3 = await openRequest(w, { salt: 2n, modelVersionId: 3n });
      const v1b = await openRequest(w, { salt: 3n });
      await w.market.connect(w.worker2).claim(v1b.requestId);
      await time.increase(DEFAULT_PARAMS.claimWindow + 1);
      const tx = w.market.connect(w.worker).claimBatch([v1.requestId, v3.requestId, v1b.requestId]);
      await expect(tx).to.emit(w.market, "ClaimLapsed").withArgs(v1b.requestId, w.worker2.address, LAPSE_SLASH);
      await expect(tx).to.changeTokenBalance(ethers, w.token, w.treasury, LAPSE_SLASH);
      await expect(w.market.connect(w.outsider).claimBatch([v3.requestId])).not.to.emit(w.market, "InferencesClaimed");
    });
  });

  describe("fulfill", () => {
    it("adds the fee and its protocol fee to the worker's earnings in one word, deletes the slot", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const r = await claimed(w);
      const tx = w.market.connect(w.worker).fulfill(r.request, OutputKind.Inline, OUTPUT, OUTPUT_HASH);
      await expect(tx)
        .to.emit(w.market, "InferenceFulfilled")
        .withArgs(r.requestId, w.worker.address, OutputKind.Inline, OUTPUT_HASH, OUTPUT);
      await expect(tx).to.changeEtherBalance(ethers, w.market, 0n);
      const s = split(PRICE_WEI);
      expect(await w.market.earnedOf(w.worker.address, 1n, ETH)).to.deep.equal([PRICE_WEI, s.protocol]);
      expect(await w.market.creditOf(w.worker.address, ETH)).to.equal(0n);
      expect((await w.market.requestState(r.requestId)).status).to.equal(RequestStatus.None);
    });

    it("lets an eligible worker fulfil an unclaimed request without claiming (optimistic), not an ineligible one", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const open = await openRequest(w, { salt: 9n });
      await expect(w.market.connect(w.outsider).fulfill(open.request, OutputKind.Inline, OUTPUT, OUTPUT_HASH))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketWorkerNotEligible")
        .withArgs(w.outsider.address, 1n);
      const tx = w.market.connect(w.worker).fulfill(open.request, OutputKind.Inline, OUTPUT, OUTPUT_HASH);
      await expect(tx)
        .to.emit(w.market, "InferenceFulfilled")
        .withArgs(open.requestId, w.worker.address, OutputKind.Inline, OUTPUT_HASH, OUTPUT);
      await expect(tx).not.to.emit(w.market, "ClaimLapsed");
      expect(await w.market.earnedOf(w.worker.address, 1n, ETH)).to.deep.equal([PRICE_WEI, split(PRICE_WEI).protocol]);
    });

    it("lets another eligible worker fulfil over a lapsed claim, slashing the lapsed claimant", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const r = await claimed(w);
      await time.increase(DEFAULT_PARAMS.claimWindow + 1);
      const tx = w.market.connect(w.worker2).fulfill(r.request, OutputKind.Inline, OUTPUT, OUTPUT_HASH);
      await expect(tx).to.emit(w.market, "ClaimLapsed").withArgs(r.requestId, w.worker.address, LAPSE_SLASH);
      await expect(tx).to.changeTokenBalance(ethers, w.token, w.treasury, LAPSE_SLASH);
      expect((await w.market.earnedOf(w.worker2.address, 1n, ETH))[0]).to.equal(PRICE_WEI);
    });

    it("rejects a non-claimant, a double fulfil, forged terms and a late fulfil", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const r = await claimed(w);
      await expect(w.market.connect(w.worker2).fulfill(r.request, OutputKind.Inline, OUTPUT, OUTPUT_HASH))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketNotClaimant")
        .withArgs(r.requestId, w.worker2.address, w.worker.address);
      const forged = { ...r.request, fee: r.request.fee * 10n };
      const forgedId = await w.market.requestIdOf(forged);
      await expect(w.market.connect(w.worker).fulfill(forged, OutputKind.Inline, OUTPUT, OUTPUT_HASH))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketRequestNotOpen")
        .withArgs(forgedId);
      await w.market.connect(w.worker).fulfill(r.request, OutputKind.Inline, OUTPUT, OUTPUT_HASH);
      await expect(w.market.connect(w.worker).fulfill(r.request, OutputKind.Inline, OUTPUT, OUTPUT_HASH))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketRequestNotOpen")
        .withArgs(r.requestId);

      const late = await claimed(w, { salt: 5n });
      await time.increaseTo(late.request.deadline + 1n);
      await expect(w.market.connect(w.worker).fulfill(late.request, OutputKind.Cid, SAMPLE_CID, OUTPUT_HASH))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketRequestExpired")
        .withArgs(late.requestId, late.request.deadline);
    });

    it("accepts a fulfil exactly at the deadline", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const r = await claimed(w);
      await time.setNextBlockTimestamp(r.request.deadline);
      await expect(w.market.connect(w.worker).fulfill(r.request, OutputKind.Inline, OUTPUT, OUTPUT_HASH)).to.emit(
        w.market,
        "InferenceFulfilled",
      );
    });
  });

  describe("callbacks", () => {
    async function consumerRequest(w: World, mode: number, gasLimit = 100_000) {
      const consumer = await ethers.deployContract("MisbehavingConsumer", [w.marketAddress, mode]);
      const a = await args({ callbackGasLimit: gasLimit });
      const fee = PRICE_WEI + BigInt(gasLimit) * DEFAULT_PARAMS.callbackGasPriceWei;
      const tx = await consumer.connect(w.alice).request(a, { value: fee });
      const r = requestsOf(w.market, await tx.wait())[0];
      await w.market.connect(w.worker).claim(r.requestId);
      return { consumer, ...r, fee };
    }

    for (const [name, mode] of [
      ["reverts", 0],
      ["burns all its gas", 1],
    ] as const) {
      it(`pays the worker and emits InferenceCallbackFailed when the callback ${name}`, async () => {
        const w = await networkHelpers.loadFixture(fixture);
        const r = await consumerRequest(w, mode);
        const tx = w.market.connect(w.worker).fulfill(r.request, OutputKind.Inline, OUTPUT, OUTPUT_HASH);
        await expect(tx).to.emit(w.market, "InferenceCallbackFailed").withArgs(r.requestId);
        await expect(tx).to.emit(w.market, "InferenceFulfilled");
        expect(await w.market.earnedOf(w.worker.address, 1n, ETH)).to.deep.equal([r.fee, split(r.fee).protocol]);
      });
    }

    it("does not copy a huge return payload, and a good callback emits no failure", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const bomb = await consumerRequest(w, 2, 300_000);
      const tx = w.market.connect(w.worker).fulfill(bomb.request, OutputKind.Inline, OUTPUT, OUTPUT_HASH);
      await expect(tx).not.to.emit(w.market, "InferenceCallbackFailed");
      const receipt = await (await tx).wait();
      expect(receipt!.gasUsed).to.be.lessThan(400_000n);
      const good = await consumerRequest(w, 3);
      await expect(w.market.connect(w.worker).fulfill(good.request, OutputKind.Inline, OUTPUT, OUTPUT_HASH)).not.to.emit(
        w.market,
        "InferenceCallbackFailed",
      );
      expect(await good.consumer.calls()).to.equal(1n);
    });

    it("reverts when the worker leaves too little gas for the callback", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const r = await consumerRequest(w, 3, 1_000_000);
      await expect(
        w.market.connect(w.worker).fulfill(r.request, OutputKind.Inline, OUTPUT, OUTPUT_HASH, { gasLimit: 500_000 }),
      ).to.be.revertedWithCustomError(w.market, "InferenceMarketInsufficientGasForCallback");
      expect((await w.market.requestState(r.requestId)).status).to.equal(RequestStatus.Claimed);
    });

    it("blocks a callback that re-enters withdraw or fulfil (the fulfilment stands)", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const attacker = await ethers.deployContract("ReentrantReceiver", [w.marketAddress]);
      const other = await claimed(w, { salt: 77n });
      await attacker.setFulfilTarget(other.request);
      const fee = PRICE_WEI + 200_000n * DEFAULT_PARAMS.callbackGasPriceWei;
      const tx = await attacker.request(await args({ callbackGasLimit: 200_000 }), { value: fee });
      const r = requestsOf(w.market, await tx.wait())[0];
      await w.market.connect(w.worker).claim(r.requestId);
      await expect(w.market.connect(w.worker).fulfill(r.request, OutputKind.Inline, OUTPUT, OUTPUT_HASH))
        .to.emit(w.market, "InferenceCallbackFailed")
        .withArgs(r.requestId);
      expect(await attacker.reentries()).to.equal(0n); // the re-entering call reverted, undoing the counter
      expect((await w.market.requestState(other.requestId)).status).to.equal(RequestStatus.Claimed);

      const withdrawer = await ethers.deployContract("ReentrantReceiver", [w.marketAddress]);
      const wtx = await withdrawer.request(await args({ callbackGasLimit: 200_000, salt: 78n }), { value: fee });
      const wr = requestsOf(w.market, await wtx.wait())[0];
      await w.market.connect(w.worker).claim(wr.requestId);
      const [before] = await w.market.earnedOf(w.worker.address, 1n, ETH);
      await expect(w.market.connect(w.worker).fulfill(wr.request, OutputKind.Inline, OUTPUT, OUTPUT_HASH))
        .to.emit(w.market, "InferenceCallbackFailed")
        .withArgs(wr.requestId);
      expect((await w.market.earnedOf(w.worker.address, 1n, ETH))[0]).to.equal(before + fee);
    });
  });

  describe("fulfillBatch", () => {
    it("settles many requests in ETH and token, writing each (version, currency) earnings word once", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const eth = [await claimed(w, { salt: 1n }), await claimed(w, { salt: 2n }, PRICE_WEI * 3n)];
      await w.token.connect(w.alice).approve(w.marketAddress, PRICE_TOKEN);
      const none = { value: 0n, deadline: 0n, v: 0, r: ethers.ZeroHash, s: ethers.ZeroHash };
      const ttx = await w.market.connect(w.alice).requestInferenceWithToken(await args({ salt: 3n }), PRICE_TOKEN, none);
      const tok = requestsOf(w.market, await ttx.wait())[0];
      await w.market.connect(w.worker).claim(tok.requestId);
      await w.models.connect(w.owner).publishVersion(1n, versionInput({ royaltyBps: 0 })); // version 3
      await w.workers.connect(w.worker).setServedModels([3n], true);
      const v3 = await claimed(w, { salt: 4n, modelVersionId: 3n });
      const all = [...eth, tok, v3];
      const items = all.map((r) => ({ request: r.request, outputKind: OutputKind.Inline, output: OUTPUT, outputHash: OUTPUT_HASH }));
      const tx = w.market.connect(w.worker).fulfillBatch(items);
      for (const r of all) {
        await expect(tx)
          .to.emit(w.market, "InferenceFulfilled")
          .withArgs(r.requestId, w.worker.address, OutputKind.Inline, OUTPUT_HASH, OUTPUT);
      }
      const e1 = split(PRICE_WEI);
      const e2 = split(PRICE_WEI * 3n);
      const e3 = split(PRICE_WEI, 0n);
      const t = split(PRICE_TOKEN);
      const tokenAddress = await w.token.getAddress();
      const me = w.worker.address;
      expect(await w.market.earnedOf(me, 1n, ETH)).to.deep.equal([PRICE_WEI * 4n, e1.protocol + e2.protocol]);
      expect(await w.market.earnedOf(me, 3n, ETH)).to.deep.equal([PRICE_WEI, e3.protocol]);
      expect(await w.market.earnedOf(me, 1n, tokenAddress)).to.deep.equal([PRICE_TOKEN, t.protocol]);
      await w.market.settle(me, [1n, 3n], ETH);
      await w.market.settle(me, [1n], tokenAddress);
      const royalty1 = (PRICE_WEI * 4n * ROYALTY_BPS) / 10_000n; // one rounding over the summed fees
      expect(await w.market.creditOf(w.owner.address, ETH)).to.equal(royalty1);
      expect(await w.market.creditOf(me, ETH)).to.equal(PRICE_WEI * 5n - royalty1 - e1.protocol - e2.protocol - e3.protocol);
      expect(await w.market.creditOf(me, tokenAddress)).to.equal(t.worker);
      expect(await w.market.creditOf(w.treasury.address, tokenAddress)).to.equal(t.protocol);
    });

    it("reverts the whole batch on a bad item, runs callbacks after the state is written", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const good = await claimed(w, { salt: 1n });
      const foreign = await openRequest(w, { salt: 2n });
      await w.market.connect(w.worker2).claim(foreign.requestId);
      const item = (r: { request: InferenceRequestStruct }) => ({
        request: r.request,
        outputKind: OutputKind.Inline,
        output: OUTPUT,
        outputHash: OUTPUT_HASH,
      });
      await expect(w.market.connect(w.worker).fulfillBatch([item(good), item(foreign)]))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketNotClaimant")
        .withArgs(foreign.requestId, w.worker.address, w.worker2.address);
      const consumer = await ethers.deployContract("MisbehavingConsumer", [w.marketAddress, 0]);
      const fee = PRICE_WEI + 50_000n * DEFAULT_PARAMS.callbackGasPriceWei;
      const ctx = await consumer.connect(w.alice).request(await args({ callbackGasLimit: 50_000, salt: 3n }), { value: fee });
      const withCallback = requestsOf(w.market, await ctx.wait())[0];
      await w.market.connect(w.worker).claim(withCallback.requestId);
      await expect(w.market.connect(w.worker).fulfillBatch([item(good), item(withCallback)]))
        .to.emit(w.market, "InferenceCallbackFailed")
        .withArgs(withCallback.requestId);
    });
  });

  describe("fulfillBatch, optimistic", () => {
    it("fulfils unclaimed and lapsed requests for an eligible worker, asking eligibility once per version", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const open = [await openRequest(w, { salt: 1n }), await openRequest(w, { salt: 2n })];
      const lapsed = await openRequest(w, { salt: 3n });
      await w.market.connect(w.worker2).claim(lapsed.requestId);
      const mine = await claimed(w, { salt: 4n });
      await time.increase(DEFAULT_PARAMS.claimWindow + 1);
      const all = [...open, lapsed, mine];
      const items = all.map((r) => ({ request: r.request, outputKind: OutputKind.Inline, output: OUTPUT, outputHash: OUTPUT_HASH }));
      await expect(w.market.connect(w.outsider).fulfillBatch(items))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketWorkerNotEligible")
        .withArgs(w.outsider.address, 1n);
      const tx = w.market.connect(w.worker).fulfillBatch(items);
      await expect(tx).to.emit(w.market, "ClaimLapsed").withArgs(lapsed.requestId, w.worker2.address, LAPSE_SLASH);
      await expect(tx).to.changeTokenBalance(ethers, w.token, w.treasury, LAPSE_SLASH);
      for (const r of all) await expect(tx).to.emit(w.market, "InferenceFulfilled").withArgs(r.requestId, w.worker.address, OutputKind.Inline, OUTPUT_HASH, OUTPUT);
      expect((await w.market.earnedOf(w.worker.address, 1n, ETH))[0]).to.equal(PRICE_WEI * 4n);
    });
  });

  describe("refund", () => {
    it("credits the whole fee to the requester after the deadline, and is permissionless", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const r = await openRequest(w);
      await expect(w.market.connect(w.bob).refund(r.request))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketDeadlineNotPassed")
        .withArgs(r.requestId, r.request.deadline);
      await time.increaseTo(r.request.deadline + 1n);
      await expect(w.market.connect(w.bob).refund(r.request))
        .to.emit(w.market, "InferenceRefunded")
        .withArgs(r.requestId, w.alice.address, ETH, PRICE_WEI);
      expect(await w.market.creditOf(w.alice.address, ETH)).to.equal(PRICE_WEI);
      await expect(w.market.connect(w.alice).withdraw(ETH)).to.changeEtherBalances(
        ethers,
        [w.alice, w.market],
        [PRICE_WEI, -PRICE_WEI],
      );
      await expect(w.market.connect(w.bob).refund(r.request))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketRequestNotOpen")
        .withArgs(r.requestId);
    });

    it("slashes a claimant that never fulfilled", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const r = await claimed(w);
      await time.increaseTo(r.request.deadline + 1n);
      const tx = w.market.connect(w.bob).refund(r.request);
      await expect(tx).to.emit(w.market, "ClaimLapsed").withArgs(r.requestId, w.worker.address, LAPSE_SLASH);
      await expect(tx).to.changeTokenBalance(ethers, w.token, w.treasury, LAPSE_SLASH);
    });

    it("rejects a refund after fulfil", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const r = await claimed(w);
      await w.market.connect(w.worker).fulfill(r.request, OutputKind.Inline, OUTPUT, OUTPUT_HASH);
      await time.increaseTo(r.request.deadline + 1n);
      await expect(w.market.refund(r.request))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketRequestNotOpen")
        .withArgs(r.requestId);
    });

    it("slashes nothing when lapseSlash is zero", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      await w.market.setParams({ ...MARKET_PARAMS, lapseSlash: 0n });
      const r = await claimed(w);
      await time.increaseTo(r.request.deadline + 1n);
      await expect(w.market.refund(r.request)).to.emit(w.market, "ClaimLapsed").withArgs(r.requestId, w.worker.address, 0n);
    });

    it("guarantees the claimant cannot unbond before its obligations can be slashed", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const r = await claimed(w, { deadline: (await time.latest()) + DEFAULT_PARAMS.maxRequestLifetime - 5 });
      await w.workers.connect(w.worker).requestUnstake();
      const unlock = (await time.latest()) + UNBONDING_DELAY;
      await time.increaseTo(r.request.deadline + BigInt(DEFAULT_PARAMS.refundGracePeriod));
      await expect(w.workers.connect(w.worker).withdrawStake())
        .to.be.revertedWithCustomError(w.workers, "WorkerRegistryStakeLocked")
        .withArgs(w.worker.address, unlock);
      await expect(w.market.refund(r.request)).to.emit(w.market, "ClaimLapsed").withArgs(r.requestId, w.worker.address, LAPSE_SLASH);
    });
  });

  describe("settle and withdraw", () => {
    it("splits a worker's earnings: royalty to the current owner, protocol fees to the treasury, the rest to the worker", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const r = await claimed(w, {}, PRICE_WEI * 7n + 3n);
      await w.market.connect(w.worker).fulfill(r.request, OutputKind.Inline, OUTPUT, OUTPUT_HASH);
      const s = split(PRICE_WEI * 7n + 3n);
      await w.models.connect(w.owner).transferModelOwnership(1n, w.bob.address);
      await w.models.connect(w.bob).acceptModelOwnership(1n);
      const tx = w.market.connect(w.outsider).settle(w.worker.address, [1n, 2n, 1n], ETH);
      await expect(tx)
        .to.emit(w.market, "EarningsSettled")
        .withArgs(w.worker.address, 1n, ETH, w.bob.address, s.worker, s.royalty, s.protocol);
      expect((await (await tx).wait())!.logs.length).to.equal(1); // version 2 had nothing, the repeated 1 was cleared
      expect(await w.market.creditOf(w.bob.address, ETH)).to.equal(s.royalty);
      expect(await w.market.creditOf(w.treasury.address, ETH)).to.equal(s.protocol);
      expect(await w.market.earnedOf(w.worker.address, 1n, ETH)).to.deep.equal([0n, 0n]);
      expect(s.royalty + s.protocol + s.worker).to.equal(PRICE_WEI * 7n + 3n);
      await expect(w.market.connect(w.worker).withdraw(ETH)).to.changeEtherBalances(
        ethers,
        [w.worker, w.market],
        [s.worker, -s.worker],
      );
      await expect(w.market.connect(w.treasury).withdraw(ETH))
        .to.emit(w.market, "Withdrawn")
        .withArgs(w.treasury.address, ETH, s.protocol);
      await expect(w.market.connect(w.bob).withdraw(ETH)).to.changeEtherBalance(ethers, w.bob, s.royalty);
      expect(await ethers.provider.getBalance(w.marketAddress)).to.equal(0n);
    });

    it("pays token credits and rejects withdrawing nothing", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const tokenAddress = await w.token.getAddress();
      await w.token.connect(w.alice).approve(w.marketAddress, PRICE_TOKEN);
      const none = { value: 0n, deadline: 0n, v: 0, r: ethers.ZeroHash, s: ethers.ZeroHash };
      const tx = await w.market.connect(w.alice).requestInferenceWithToken(await args(), PRICE_TOKEN, none);
      const r = requestsOf(w.market, await tx.wait())[0];
      await w.market.connect(w.worker).claim(r.requestId);
      await w.market.connect(w.worker).fulfill(r.request, OutputKind.Cid, SAMPLE_CID, OUTPUT_HASH);
      const s = split(PRICE_TOKEN);
      await expect(w.market.connect(w.worker).withdraw(tokenAddress))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketNothingToWithdraw")
        .withArgs(w.worker.address, tokenAddress); // earnings are credited by settle
      await w.market.settle(w.worker.address, [1n], tokenAddress);
      await expect(w.market.connect(w.worker).withdraw(tokenAddress)).to.changeTokenBalances(
        ethers,
        w.token,
        [w.worker, w.market],
        [s.worker, -s.worker],
      );
      await expect(w.market.connect(w.worker).withdraw(tokenAddress))
        .to.be.revertedWithCustomError(w.market, "InferenceMarketNothingToWithdraw")
        .withArgs(w.worker.address, tokenAddress);
      await expect(w.market.connect(w.owner).withdraw(tokenAddress)).to.changeTokenBalance(ethers, w.token, w.owner, s.royalty);
    });

    it("a receiver that re-enters withdraw makes the withdraw revert and keeps its credit", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const attacker = await ethers.deployContract("ReentrantReceiver", [w.marketAddress]);
      const tx = await attacker.request(await args(), { value: PRICE_WEI });
      const r = requestsOf(w.market, await tx.wait())[0];
      await time.increaseTo(r.request.deadline + 1n);
      await w.market.refund(r.request);
      const attackerAddress = await attacker.getAddress();
      await expect(attacker.withdraw()).to.be.revertedWithCustomError(w.market, "ReentrancyGuardReentrantCall");
      expect(await w.market.creditOf(attackerAddress, ETH)).to.equal(PRICE_WEI);
      expect(await ethers.provider.getBalance(w.marketAddress)).to.equal(PRICE_WEI);
    });
  });

  describe("pause", () => {
    it("blocks new requests only: claims, fulfil, refund, settle and withdraw keep working", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const r = await claimed(w, { salt: 1n });
      const open = await openRequest(w, { salt: 2n });
      const expiring = await openRequest(w, { salt: 3n });
      await expect(w.market.connect(w.outsider).pause())
        .to.be.revertedWithCustomError(w.market, "AccessControlUnauthorizedAccount")
        .withArgs(w.outsider.address, await w.market.PAUSER_ROLE());
      await w.market.pause();
      await expect(
        w.market.connect(w.alice).requestInference(await args({ salt: 9n }), { value: PRICE_WEI }),
      ).to.be.revertedWithCustomError(w.market, "EnforcedPause");
      const none = { value: 0n, deadline: 0n, v: 0, r: ethers.ZeroHash, s: ethers.ZeroHash };
      await expect(
        w.market.connect(w.alice).requestInferenceWithToken(await args(), PRICE_TOKEN, none),
      ).to.be.revertedWithCustomError(w.market, "EnforcedPause");
      // Requests already paid for keep being served.
      await expect(w.market.connect(w.worker).claimBatch([open.requestId])).to.emit(w.market, "InferencesClaimed");
      await w.market.connect(w.worker).fulfill(r.request, OutputKind.Inline, OUTPUT, OUTPUT_HASH);
      await w.market.connect(w.worker).fulfill(open.request, OutputKind.Inline, OUTPUT, OUTPUT_HASH);
      await expect(w.market.connect(w.worker).claim(expiring.requestId)).to.emit(w.market, "InferencesClaimed");
      await time.increaseTo(expiring.request.deadline + 1n);
      await w.market.refund(expiring.request);
      await w.market.settle(w.worker.address, [1n], ETH);
      await w.market.connect(w.worker).withdraw(ETH);
      await w.market.connect(w.alice).withdraw(ETH);
      await w.market.unpause();
      await expect(w.market.connect(w.alice).requestInference(await args({ salt: 10n }), { value: PRICE_WEI })).to.emit(
        w.market,
        "InferenceRequested",
      );
    });
  });
});
