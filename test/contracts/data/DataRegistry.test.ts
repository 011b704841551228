import { expect } from "chai";
import { network } from "hardhat";
import { CAP_INFER, MIN_STAKE, deployTessera, signPermit } from "../../helpers/tessera.js";
import {
  CreditReason,
  DATASET_CID,
  DEFAULT_DATA_PARAMS,
  DatasetStatus,
  ENVELOPES_CID,
  MNIST_SCHEMA,
  NO_PERMIT,
  Reason,
  TOKEN,
  contribution,
  datasetIdOf,
  deployDataRegistry,
  registerValidator,
} from "../../helpers/data.js";

const { ethers, networkHelpers } = await network.create();
const { time } = networkHelpers;

const P = DEFAULT_DATA_PARAMS;
const POOL = 1_000n * TOKEN;
const STAKE = MIN_STAKE * 2n; // registerValidator's default
/** Four equally staked validators, 15 expected seats: each is drawn with certainty and holds 3.75 seats. */
const SEATS = 3_750n;
const SEAT_REWARD = (P.validatorReward * SEATS) / 1_000n;
const SEAT_SLASH = (P.dissentSlash * SEATS) / 1_000n;
const UPFRONT = (P.acceptReward * BigInt(P.upfrontRewardBps)) / 10_000n;

describe("DataRegistry", () => {
  async function fixture() {
    const [admin, treasury, alice, bob, v1, v2, v3, v4, inferrer, payer, outsider] = await ethers.getSigners();
    const d = await deployTessera(ethers, admin, treasury.address);
    const data = await deployDataRegistry(ethers, d, admin);
    const dataAddress = await data.getAddress();
    for (const v of [v1, v2, v3, v4]) await registerValidator(d, v);
    await registerValidator(d, inferrer, CAP_INFER);
    await data.grantRole(await data.ROYALTY_PAYER_ROLE(), payer.address);
    await d.token.mint(admin.address, POOL);
    await d.token.approve(dataAddress, POOL);
    await data.fundRewardPool(POOL);
    for (const who of [alice, bob, payer]) {
      await d.token.mint(who.address, 10_000n * TOKEN);
      await d.token.connect(who).approve(dataAddress, ethers.MaxUint256);
    }
    return { ...d, data, dataAddress, admin, alice, bob, v1, v2, v3, v4, inferrer, payer, outsider };
  }
  type World = Awaited<ReturnType<typeof fixture>>;

  async function contribute(w: World, seed = 1, overrides: Record<string, unknown> = {}) {
    const tx = await w.data.connect(w.alice).contribute(contribution(seed, overrides), NO_PERMIT);
    return datasetIdOf(w.data, await tx.wait());
  }

  /** Every validator votes; the committee is all four (equal stakes, 15 seats), so the last vote decides. */
  async function decided(w: World, id: bigint, accept: boolean, reason: number = Reason.Schema) {
    for (const v of [w.v1, w.v2, w.v3, w.v4]) await w.data.connect(v).vote(id, accept, accept ? Reason.Ok : reason);
    return id;
  }

  const accepted = async (w: World, seed = 1) => decided(w, await contribute(w, seed), true);

  const stakeOf = async (w: World, who: { address: string }) => (await w.workers.workerOf(who.address)).stake;

  describe("construction and parameters", () => {
    it("rejects zero addresses and out-of-range parameters", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const factory = await ethers.getContractFactory("DataRegistry");
      const token = await w.token.getAddress();
      const workers = await w.workers.getAddress();
      const cases: [string, string, string][] = [
        [ethers.ZeroAddress, token, workers],
        [w.admin.address, ethers.ZeroAddress, workers],
        [w.admin.address, token, ethers.ZeroAddress],
      ];
      for (const [admin, t, r] of cases) {
        await expect(factory.deploy(admin, t, r, P)).to.be.revertedWithCustomError(w.data, "DataRegistryZeroAddress");
      }
      const floor = Number(await w.workers.MIN_UNBONDING_DELAY());
      for (const bad of [
        { quorum: 0 },
        { committeeSize: 0, quorum: 0 },
        { committeeSize: 7, quorum: 8 },
        { committeeSize: 17, quorum: 8 },
        { upfrontRewardBps: 10_001 },
        { votingPeriod: 0 },
        { votingPeriod: floor },
      ]) {
        await expect(w.data.setParams({ ...P, ...bad })).to.be.revertedWithCustomError(
          w.data,
          "DataRegistryInvalidParams",
        );
      }
    });

    it("lets PARAMS_ROLE set parameters, snapshotted per dataset", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const before = await contribute(w, 1);
      const next = { ...P, bond: 20n * TOKEN, quorum: 16, committeeSize: 16, upfrontRewardBps: 10_000 };
      await expect(w.data.setParams(next)).to.emit(w.data, "ParamsUpdated");
      const p = await w.data.params();
      expect([p.bond, p.quorum, p.committeeSize, p.upfrontRewardBps]).to.deep.equal([20n * TOKEN, 16n, 16n, 10_000n]);
      const after = await contribute(w, 2);
      expect((await w.data.datasetOf(before)).bond).to.equal(P.bond);
      expect((await w.data.datasetOf(before)).quorum).to.equal(8n);
      expect((await w.data.datasetOf(before)).committeeSize).to.equal(15n);
      expect((await w.data.datasetOf(after)).bond).to.equal(20n * TOKEN);
      expect((await w.data.datasetOf(after)).committeeSize).to.equal(16n);
      await expect(w.data.connect(w.outsider).setParams(next))
        .to.be.revertedWithCustomError(w.data, "AccessControlUnauthorizedAccount")
        .withArgs(w.outsider.address, await w.data.PARAMS_ROLE());
      expect(await w.data.token()).to.equal(await w.token.getAddress());
      expect(await w.data.workerRegistry()).to.equal(await w.workers.getAddress());
    });
  });

  describe("contribute", () => {
    it("bonds through a permit, stores the record and emits everything the validators need", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      await w.token.connect(w.bob).approve(w.dataAddress, 0n);
      const deadline = BigInt((await time.latest()) + 3600);
      const sig = await signPermit(w.token, w.bob, w.dataAddress, P.bond, deadline);
      const args = contribution(7);
      const tx = w.data
        .connect(w.bob)
        .contribute(args, { value: P.bond, deadline, v: sig.v, r: sig.r, s: sig.s });
      await expect(tx).to.changeTokenBalances(ethers, w.token, [w.bob, w.data], [-P.bond, P.bond]);
      const seedBlock = BigInt((await (await tx).wait())!.blockNumber);
      await expect(tx)
        .to.emit(w.data, "DatasetContributed")
        .withArgs(
          1n,
          w.bob.address,
          MNIST_SCHEMA,
          args.commitment,
          DATASET_CID,
          1_000n,
          args.licenseId,
          ENVELOPES_CID,
          P.bond,
          seedBlock,
        );
      const ds = await w.data.datasetOf(1n);
      expect(ds.contributor).to.equal(w.bob.address);
      expect(ds.status).to.equal(DatasetStatus.Pending);
      expect(ds.votingDeadline).to.equal(0n); // the window opens when the committee is drawn
      const validation = await w.data.validationOf(1n);
      expect([validation.snapshotBlock, validation.seedBlock, validation.seed]).to.deep.equal([seedBlock, seedBlock, ethers.ZeroHash]);
      expect(ds.commitment).to.equal(args.commitment);
      expect(ds.schemaId).to.equal(MNIST_SCHEMA);
      expect(ds.sampleCount).to.equal(1_000n);
      expect(await w.data.datasetIdOf(w.bob.address, args.commitment)).to.equal(1n);
      expect(await w.data.datasetIdOf(w.alice.address, args.commitment)).to.equal(0n);
      expect(await w.data.datasetCount()).to.equal(1n);
      expect(await w.data.bondsHeld()).to.equal(P.bond);
    });

    it("falls back to the allowance when the permit was already used, and takes no tokens for a zero bond", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const deadline = BigInt((await time.latest()) + 3600);
      const sig = await signPermit(w.token, w.alice, w.dataAddress, P.bond, deadline);
      const permit = { value: P.bond, deadline, v: sig.v, r: sig.r, s: sig.s };
      await w.token.permit(w.alice.address, w.dataAddress, P.bond, deadline, sig.v, sig.r, sig.s); // front-run
      await expect(w.data.connect(w.alice).contribute(contribution(1), permit)).to.changeTokenBalance(
        ethers,
        w.token,
        w.alice,
        -P.bond,
      );
      await w.data.setParams({ ...P, bond: 0n });
      await expect(w.data.connect(w.outsider).contribute(contribution(2), NO_PERMIT)).to.changeTokenBalance(
        ethers,
        w.token,
        w.data,
        0n,
      );
    });

    it("rejects bad inputs with precise errors", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const c = w.data.connect(w.alice);
      const long = "0x" + "ab".repeat(65);
      await expect(c.contribute(contribution(1, { cid: "0x" }), NO_PERMIT)).to.be.revertedWithCustomError(
        w.data,
        "DataRegistryEmptyCid",
      );
      await expect(c.contribute(contribution(1, { cid: long }), NO_PERMIT))
        .to.be.revertedWithCustomError(w.data, "DataRegistryCidTooLong")
        .withArgs(65n, 64n);
      await expect(c.contribute(contribution(1, { keyEnvelopesCid: long }), NO_PERMIT))
        .to.be.revertedWithCustomError(w.data, "DataRegistryCidTooLong")
        .withArgs(65n, 64n);
      await expect(c.contribute(contribution(0), NO_PERMIT)).to.be.revertedWithCustomError(
        w.data,
        "DataRegistryZeroCommitment",
      );
      await expect(c.contribute(contribution(1, { sampleCount: 0 }), NO_PERMIT)).to.be.revertedWithCustomError(
        w.data,
        "DataRegistryZeroSamples",
      );
      await c.contribute(contribution(1, { keyEnvelopesCid: "0x" }), NO_PERMIT);
      await expect(c.contribute(contribution(1), NO_PERMIT))
        .to.be.revertedWithCustomError(w.data, "DataRegistryDuplicateCommitment")
        .withArgs(contribution(1).commitment, 1n);
      await expect(w.data.connect(w.outsider).contribute(contribution(2), NO_PERMIT))
        .to.be.revertedWithCustomError(w.token, "ERC20InsufficientAllowance")
        .withArgs(w.dataAddress, 0n, P.bond);
      await w.data.pause();
      await expect(c.contribute(contribution(3), NO_PERMIT)).to.be.revertedWithCustomError(w.data, "EnforcedPause");
      await w.data.unpause();
      await c.contribute(contribution(3), NO_PERMIT);
      // The same commitment from another contributor is its own record (a copy is judged on its own, see adversaries).
      await w.data.connect(w.bob).contribute(contribution(1), NO_PERMIT);
    });
  });

  describe("publishKeyEnvelopes", () => {
    it("lets the contributor of a live dataset publish envelopes, and nobody else", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const id = await contribute(w, 1, { keyEnvelopesCid: "0x" });
      await decided(w, id, false);
      const open = await contribute(w, 2, { keyEnvelopesCid: "0x" });
      await expect(w.data.connect(w.alice).publishKeyEnvelopes(open, ENVELOPES_CID))
        .to.emit(w.data, "KeyEnvelopesPublished")
        .withArgs(open, w.alice.address, ENVELOPES_CID);
      await expect(w.data.connect(w.alice).publishKeyEnvelopes(id, ENVELOPES_CID))
        .to.be.revertedWithCustomError(w.data, "DataRegistryDatasetClosed")
        .withArgs(id, DatasetStatus.Rejected);
      const acceptedId = await accepted(w, 3);
      await expect(w.data.connect(w.alice).publishKeyEnvelopes(acceptedId, ENVELOPES_CID))
        .to.emit(w.data, "KeyEnvelopesPublished")
        .withArgs(acceptedId, w.alice.address, ENVELOPES_CID);
      await expect(w.data.connect(w.bob).publishKeyEnvelopes(open, ENVELOPES_CID))
        .to.be.revertedWithCustomError(w.data, "DataRegistryNotContributor")
        .withArgs(open, w.bob.address, w.alice.address);
      await expect(w.data.connect(w.alice).publishKeyEnvelopes(open, "0x")).to.be.revertedWithCustomError(
        w.data,
        "DataRegistryEmptyCid",
      );
      await expect(w.data.connect(w.alice).publishKeyEnvelopes(99n, ENVELOPES_CID))
        .to.be.revertedWithCustomError(w.data, "DataRegistryUnknownDataset")
        .withArgs(99n);
    });
  });

  describe("committee draw", () => {
    it("is knowable from the block after the contribution, recorded by the first vote or drawCommittee", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const tx = await w.data.connect(w.alice).contribute(contribution(1), NO_PERMIT);
      const receipt = await tx.wait();
      const id = datasetIdOf(w.data, receipt);
      const seedBlock = await ethers.provider.getBlock(receipt!.blockNumber);
      // Views run in the latest block: the seed block's own hash is readable from the next one.
      expect(await w.data.committeeSeed(id)).to.equal(ethers.ZeroHash);
      expect(await w.data.isOnCommittee(id, w.v1.address)).to.equal(false);
      await networkHelpers.mine();
      expect(await w.data.committeeSeed(id)).to.equal(seedBlock!.hash);
      for (const v of [w.v1, w.v2, w.v3, w.v4]) expect(await w.data.isOnCommittee(id, v.address)).to.equal(true);
      expect(await w.data.isOnCommittee(id, w.alice.address)).to.equal(false);
      expect(await w.data.isOnCommittee(id, w.inferrer.address)).to.equal(false);
      const draw = w.data.connect(w.outsider).drawCommittee(id);
      const total = 4n * MIN_STAKE * 2n;
      const deadline = BigInt(await time.latest()) + 1n + BigInt(P.votingPeriod);
      await expect(draw).to.emit(w.data, "CommitteeDrawn").withArgs(id, seedBlock!.hash, total, deadline);
      const validation = await w.data.validationOf(id);
      expect([validation.seed, validation.totalStake, validation.unvotedStake]).to.deep.equal([seedBlock!.hash, total, total]);
      expect((await w.data.datasetOf(id)).votingDeadline).to.equal(deadline);
      await expect(w.data.drawCommittee(id))
        .to.be.revertedWithCustomError(w.data, "DataRegistryCommitteeAlreadyDrawn")
        .withArgs(id);
      await expect(w.data.drawCommittee(9n)).to.be.revertedWithCustomError(w.data, "DataRegistryUnknownDataset").withArgs(9n);
    });

    it("re-anchors a seed nobody drew within 256 blocks on a block the caller cannot know", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const id = await contribute(w);
      await networkHelpers.mine(257);
      expect(await w.data.committeeSeed(id)).to.equal(ethers.ZeroHash);
      expect(await w.data.isOnCommittee(id, w.v1.address)).to.equal(false);
      const seedBlock = (await w.data.validationOf(id)).seedBlock;
      await expect(w.data.connect(w.v1).vote(id, true, Reason.Ok))
        .to.be.revertedWithCustomError(w.data, "DataRegistrySeedExpired")
        .withArgs(id, seedBlock);
      const tx = await w.data.connect(w.outsider).drawCommittee(id);
      const anchored = BigInt((await tx.wait())!.blockNumber);
      await expect(tx).to.emit(w.data, "CommitteeSeedReanchored").withArgs(id, anchored);
      const d = await w.data.validationOf(id);
      expect([d.seedBlock, d.snapshotBlock]).to.deep.equal([anchored, seedBlock]); // stakes stay those of the contribution
      await expect(w.data.connect(w.v1).vote(id, true, Reason.Ok)).to.emit(w.data, "CommitteeDrawn");
    });

    it("cannot be drawn or voted in the contribution's own block, whose hash no one can read yet", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      await networkHelpers.mine(); // settle the fixture's block
      await ethers.provider.send("evm_setAutomine", [false]);
      const contributed = await w.data.connect(w.alice).contribute(contribution(1), NO_PERMIT);
      // Not estimable before the block: explicit gas.
      const drawn = await w.data.connect(w.outsider).drawCommittee(1n, { gasLimit: 500_000 });
      const voted = await w.data.connect(w.v1).vote(1n, true, Reason.Ok, { gasLimit: 500_000 });
      await networkHelpers.mine();
      await ethers.provider.send("evm_setAutomine", [true]);
      const seedBlock = BigInt((await contributed.wait())!.blockNumber);
      for (const tx of [drawn, voted]) {
        const receipt = await ethers.provider.getTransactionReceipt(tx.hash);
        expect([BigInt(receipt!.blockNumber), receipt!.status]).to.deep.equal([seedBlock, 0]);
      }
      await expect(drawn).to.be.revertedWithCustomError(w.data, "DataRegistrySeedNotReady").withArgs(1n, seedBlock);
      await expect(voted).to.be.revertedWithCustomError(w.data, "DataRegistrySeedNotReady").withArgs(1n, seedBlock);
      const validation = await w.data.validationOf(1n);
      expect([validation.seed, validation.seedBlock, validation.totalStake]).to.deep.equal([ethers.ZeroHash, seedBlock, 0n]);
      const d = await w.data.datasetOf(1n);
      expect([d.status, d.votingDeadline, d.acceptVotes]).to.deep.equal([DatasetStatus.Pending, 0n, 0n]);
      expect(await w.data.hasVoted(1n, w.v1.address)).to.equal(false);
      // In the very next block the seed block's hash is readable: the first vote draws the committee on it.
      const tx = await w.data.connect(w.v1).vote(1n, true, Reason.Ok);
      expect(BigInt((await tx.wait())!.blockNumber)).to.equal(seedBlock + 1n);
      await expect(tx).to.emit(w.data, "CommitteeDrawn");
      await expect(tx).to.emit(w.data, "DatasetVoted").withArgs(1n, w.v1.address, true, Reason.Ok, SEATS);
      const drawnNow = await w.data.validationOf(1n);
      const seedHash = (await ethers.provider.getBlock(seedBlock))!.hash;
      expect([drawnNow.seed, drawnNow.totalStake]).to.deep.equal([seedHash, 4n * STAKE]);
    });
  });

  describe("vote", () => {
    it("records a vote weighted by seats and opens the window on the first one", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const id = await contribute(w);
      const tx = w.data.connect(w.v1).vote(id, false, Reason.LabelNoise);
      await expect(tx).to.emit(w.data, "CommitteeDrawn");
      await expect(tx).to.emit(w.data, "DatasetVoted").withArgs(id, w.v1.address, false, Reason.LabelNoise, SEATS);
      await expect(tx).not.to.emit(w.data, "DatasetDecided");
      const d = await w.data.datasetOf(id);
      expect([d.status, d.rejectVotes, (await w.data.validationOf(id)).rejectSeats]).to.deep.equal([DatasetStatus.Pending, 1n, SEATS]);
      expect(await w.data.hasVoted(id, w.v1.address)).to.equal(true);
      expect(await w.data.hasVoted(id, w.v2.address)).to.equal(false);
      const ballots = await w.data.ballotsOf(id);
      expect(ballots.map((b) => [b.validator, b.accept, b.reasonCode, b.seats])).to.deep.equal([
        [w.v1.address, false, BigInt(Reason.LabelNoise), SEATS],
      ]);
      const validation = await w.data.validationOf(id);
      expect([validation.totalStake, validation.unvotedStake]).to.deep.equal([4n * STAKE, 3n * STAKE]);
    });

    it("decides nothing early: a majority that voted first waits for the window or the last voter", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const id = await contribute(w);
      for (const v of [w.v1, w.v2, w.v3]) {
        await expect(w.data.connect(v).vote(id, true, Reason.Ok)).not.to.emit(w.data, "DatasetDecided");
      }
      await expect(w.data.finalize(id))
        .to.be.revertedWithCustomError(w.data, "DataRegistryVotingOpen")
        .withArgs(id, (await w.data.datasetOf(id)).votingDeadline);
      // The last drawn validator still votes, and its vote counts.
      await expect(w.data.connect(w.v4).vote(id, false, Reason.Schema))
        .to.emit(w.data, "DatasetDecided")
        .withArgs(id, DatasetStatus.Accepted, Reason.Ok, 3n * SEATS, SEATS);
    });

    it("accepts: bond back, upfront reward, per-seat validator rewards, the dissenter slashed into the pool", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const id = await contribute(w);
      await w.data.connect(w.v1).vote(id, true, Reason.Ok);
      await w.data.connect(w.v4).vote(id, false, Reason.LabelNoise);
      await w.data.connect(w.v2).vote(id, true, Reason.Ok);
      const v4Stake = await stakeOf(w, w.v4);
      const tx = w.data.connect(w.v3).vote(id, true, Reason.Ok);
      await expect(tx).to.emit(w.data, "DatasetDecided").withArgs(id, DatasetStatus.Accepted, Reason.Ok, 3n * SEATS, SEATS);
      await expect(tx).to.emit(w.data, "Credited").withArgs(w.alice.address, id, CreditReason.BondRefund, P.bond);
      await expect(tx).to.emit(w.data, "Credited").withArgs(w.alice.address, id, CreditReason.AcceptReward, UPFRONT);
      for (const v of [w.v1, w.v2, w.v3]) {
        await expect(tx).to.emit(w.data, "Credited").withArgs(v.address, id, CreditReason.ValidatorReward, SEAT_REWARD);
      }
      await expect(tx).to.emit(w.data, "DissenterSlashed").withArgs(id, w.v4.address, SEAT_SLASH);
      expect(await stakeOf(w, w.v4)).to.equal(v4Stake - SEAT_SLASH);
      expect(await w.data.creditOf(w.v4.address)).to.equal(0n);
      expect(await w.data.rewardPool()).to.equal(POOL - UPFRONT - 3n * SEAT_REWARD + SEAT_SLASH);
      expect(await w.data.bondsHeld()).to.equal(0n);
      const d = await w.data.datasetOf(id);
      expect([d.status, (await w.data.validationOf(id)).deferredReward, d.bond]).to.deep.equal([DatasetStatus.Accepted, P.acceptReward - UPFRONT, 0n]);
    });

    it("rejects: the bond joins the pool (never the rejecters), reason with the most seats, accepters slashed", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const id = await contribute(w);
      await w.data.connect(w.v1).vote(id, false, Reason.LabelNoise);
      await w.data.connect(w.v2).vote(id, true, Reason.Ok);
      await w.data.connect(w.v3).vote(id, false, Reason.Schema);
      const tx = w.data.connect(w.v4).vote(id, false, Reason.Schema);
      await expect(tx).to.emit(w.data, "DatasetDecided").withArgs(id, DatasetStatus.Rejected, Reason.Schema, SEATS, 3n * SEATS);
      for (const v of [w.v1, w.v3, w.v4]) {
        await expect(tx).to.emit(w.data, "Credited").withArgs(v.address, id, CreditReason.ValidatorReward, SEAT_REWARD);
      }
      await expect(tx).to.emit(w.data, "DissenterSlashed").withArgs(id, w.v2.address, SEAT_SLASH);
      expect(await w.data.creditOf(w.alice.address)).to.equal(0n);
      expect(await w.data.rewardPool()).to.equal(POOL + P.bond - 3n * SEAT_REWARD + SEAT_SLASH);
      expect(await w.data.datasetIdOf(w.alice.address, contribution(1).commitment)).to.equal(0n);
    });

    it("caps rewards at what the pool holds", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      await w.data.setParams({ ...P, acceptReward: POOL, upfrontRewardBps: 10_000, dissentSlash: 0n });
      const id = await accepted(w);
      expect(await w.data.creditOf(w.alice.address)).to.equal(P.bond + POOL);
      expect(await w.data.creditOf(w.v1.address)).to.equal(0n);
      expect(await w.data.rewardPool()).to.equal(0n);
      expect((await w.data.validationOf(id)).deferredReward).to.equal(0n);
    });

    it("takes at most MAX_BALLOTS (40) ballots, however many validators the draw names", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      // On the real registry more than 40 of 15 expected seats are drawn with a probability of about 1e-7. Here
      // every account holds 1 of 42 stake units: each is drawn with probability 15/42, and 40 votes leave 1 unit
      // (the contributor's) unvoted, so that nothing but the ballot bound stops the 41st drawn voter.
      const stakes = await ethers.deployContract("FlatStakeRegistryMock", [1n, 42n]);
      const data = await ethers.deployContract("DataRegistry", [
        w.admin.address,
        await w.token.getAddress(),
        await stakes.getAddress(),
        P,
      ]);
      await w.token.connect(w.alice).approve(await data.getAddress(), P.bond);
      const id = datasetIdOf(data, await (await data.connect(w.alice).contribute(contribution(1), NO_PERMIT)).wait());
      await networkHelpers.mine(); // the seed block's hash is readable: anyone can tell who is drawn
      const maxBallots = await data.MAX_BALLOTS();
      expect(maxBallots).to.equal(40n);
      const drawn: string[] = [];
      for (let i = 0; drawn.length <= Number(maxBallots) && i < 1_000; i++) {
        const candidate = ethers.getAddress(ethers.dataSlice(ethers.id(`validator-${i}`), 12));
        if (await data.isOnCommittee(id, candidate)) drawn.push(candidate);
      }
      expect(drawn.length).to.equal(Number(maxBallots) + 1);
      const voters = [];
      for (const address of drawn) {
        await networkHelpers.impersonateAccount(address);
        await networkHelpers.setBalance(address, 10n ** 18n);
        voters.push(await ethers.getSigner(address));
      }
      // 39 accept; the 40th ballot (index 39) is a dissent.
      for (const [i, v] of voters.slice(0, 40).entries()) {
        const accept = i < 39;
        const tx = data.connect(v).vote(id, accept, accept ? Reason.Ok : Reason.Schema);
        await expect(tx)
          .to.emit(data, "DatasetVoted")
          .withArgs(id, v.address, accept, accept ? Reason.Ok : Reason.Schema, 1_000n);
        if (i === 39) await expect(tx).not.to.emit(data, "DatasetDecided");
      }
      const extra = voters[40];
      await expect(data.connect(extra).vote(id, true, Reason.Ok))
        .to.be.revertedWithCustomError(data, "DataRegistryBallotFull")
        .withArgs(id, maxBallots);
      expect(await data.hasVoted(id, extra.address)).to.equal(false);
      expect((await data.ballotsOf(id)).length).to.equal(40);
      const d = await data.datasetOf(id);
      expect([d.status, d.acceptVotes, d.rejectVotes]).to.deep.equal([DatasetStatus.Pending, 39n, 1n]);
      const validation = await data.validationOf(id);
      expect([validation.acceptSeats, validation.rejectSeats, validation.unvotedStake]).to.deep.equal([39_000n, 1_000n, 1n]);
      // The window closes on the 40 ballots, and the decision over them stands (the mock's slashes take nothing).
      await time.increaseTo(d.votingDeadline + 1n);
      const tx = data.finalize(id);
      await expect(tx).to.emit(data, "DatasetDecided").withArgs(id, DatasetStatus.Accepted, Reason.Ok, 39_000n, 1_000n);
      await expect(tx).to.emit(data, "Credited").withArgs(w.alice.address, id, CreditReason.BondRefund, P.bond);
      await expect(tx).to.emit(data, "DissenterSlashed").withArgs(id, voters[39].address, 0n);
    });

    it("rejects bad votes with precise errors", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      await expect(w.data.connect(w.v1).vote(1n, true, Reason.LabelNoise))
        .to.be.revertedWithCustomError(w.data, "DataRegistryInvalidReason")
        .withArgs(true, Reason.LabelNoise);
      await expect(w.data.connect(w.v1).vote(1n, false, Reason.Ok))
        .to.be.revertedWithCustomError(w.data, "DataRegistryInvalidReason")
        .withArgs(false, Reason.Ok);
      await expect(w.data.connect(w.v1).vote(1n, false, 7))
        .to.be.revertedWithCustomError(w.data, "DataRegistryInvalidReason")
        .withArgs(false, 7);
      await expect(w.data.connect(w.v1).vote(1n, true, Reason.Ok))
        .to.be.revertedWithCustomError(w.data, "DataRegistryUnknownDataset")
        .withArgs(1n);
      const id = await contribute(w);
      await registerValidator(w, w.bob);
      await expect(w.data.connect(w.alice).vote(id, true, Reason.Ok))
        .to.be.revertedWithCustomError(w.data, "DataRegistrySelfValidation")
        .withArgs(id, w.alice.address);
      await expect(w.data.connect(w.inferrer).vote(id, true, Reason.Ok))
        .to.be.revertedWithCustomError(w.data, "DataRegistryNotValidator")
        .withArgs(w.inferrer.address);
      // Registered after the contribution block: its stake does not count for this dataset.
      await expect(w.data.connect(w.bob).vote(id, true, Reason.Ok))
        .to.be.revertedWithCustomError(w.data, "DataRegistryNotDrawn")
        .withArgs(id, w.bob.address);
      await w.data.connect(w.v1).vote(id, true, Reason.Ok);
      await expect(w.data.connect(w.v1).vote(id, false, Reason.Schema))
        .to.be.revertedWithCustomError(w.data, "DataRegistryAlreadyVoted")
        .withArgs(id, w.v1.address);
      await w.workers.connect(w.v2).requestUnstake();
      await expect(w.data.connect(w.v2).vote(id, true, Reason.Ok))
        .to.be.revertedWithCustomError(w.data, "DataRegistryNotValidator")
        .withArgs(w.v2.address);
      const deadline = (await w.data.datasetOf(id)).votingDeadline;
      await time.increaseTo(deadline + 1n);
      await expect(w.data.connect(w.v3).vote(id, true, Reason.Ok))
        .to.be.revertedWithCustomError(w.data, "DataRegistryVotingClosed")
        .withArgs(id, deadline);
      await w.data.finalize(id);
      await expect(w.data.connect(w.v3).vote(id, true, Reason.Ok))
        .to.be.revertedWithCustomError(w.data, "DataRegistryNotPending")
        .withArgs(id, DatasetStatus.Undecided);
    });
  });

  describe("finalize", () => {
    it("after the deadline: Undecided below the quorum, bond back, commitment free, nobody slashed", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const id = await contribute(w);
      await expect(w.data.finalize(id)).to.be.revertedWithCustomError(w.data, "DataRegistryCommitteeNotDrawn").withArgs(id);
      await w.data.connect(w.v1).vote(id, false, Reason.Schema);
      await w.data.connect(w.v2).vote(id, false, Reason.Schema); // 7.5 seats < quorum of 8
      const deadline = (await w.data.datasetOf(id)).votingDeadline;
      await time.increaseTo(deadline - 1n);
      await expect(w.data.finalize(id)).to.be.revertedWithCustomError(w.data, "DataRegistryVotingOpen").withArgs(id, deadline);
      await time.increase(1);
      const tx = w.data.connect(w.outsider).finalize(id);
      await expect(tx).to.emit(w.data, "DatasetDecided").withArgs(id, DatasetStatus.Undecided, Reason.Undecided, 0n, 2n * SEATS);
      await expect(tx).to.emit(w.data, "Credited").withArgs(w.alice.address, id, CreditReason.BondRefund, P.bond);
      await expect(tx).not.to.emit(w.data, "DissenterSlashed");
      expect(await w.data.datasetIdOf(w.alice.address, contribution(1).commitment)).to.equal(0n);
      await expect(w.data.finalize(id))
        .to.be.revertedWithCustomError(w.data, "DataRegistryNotPending")
        .withArgs(id, DatasetStatus.Undecided);
      await expect(w.data.finalize(8n)).to.be.revertedWithCustomError(w.data, "DataRegistryUnknownDataset").withArgs(8n);
    });

    it("after the deadline: the side with more seats wins when the quorum voted; a tie is Undecided", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const win = await contribute(w, 1);
      const tie = await contribute(w, 2);
      for (const v of [w.v1, w.v2, w.v3]) await w.data.connect(v).vote(win, v !== w.v3, v === w.v3 ? Reason.Schema : Reason.Ok);
      for (const v of [w.v1, w.v2]) await w.data.connect(v).vote(tie, true, Reason.Ok);
      for (const v of [w.v3, w.v4]) await w.data.connect(v).vote(tie, false, Reason.Schema);
      await time.increaseTo((await w.data.datasetOf(win)).votingDeadline + 1n);
      await expect(w.data.finalize(win))
        .to.emit(w.data, "DatasetDecided")
        .withArgs(win, DatasetStatus.Accepted, Reason.Ok, 2n * SEATS, SEATS);
      expect((await w.data.datasetOf(tie)).status).to.equal(DatasetStatus.Undecided);
    });
  });

  describe("withdrawDataset", () => {
    it("returns the bond of a Pending dataset whose committee cannot be known yet (its own block)", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      await networkHelpers.mine(); // settle the fixture's block
      await ethers.provider.send("evm_setAutomine", [false]);
      const contributed = await w.data.connect(w.alice).contribute(contribution(1), NO_PERMIT);
      const withdrawn = await w.data.connect(w.alice).withdrawDataset(1n, { gasLimit: 500_000 }); // not estimable before the block
      await networkHelpers.mine();
      await ethers.provider.send("evm_setAutomine", [true]);
      expect((await contributed.wait())!.blockNumber).to.equal((await withdrawn.wait())!.blockNumber);
      const d = await w.data.datasetOf(1n);
      expect(d.status).to.equal(DatasetStatus.Withdrawn);
      expect(await w.data.creditOf(w.alice.address)).to.equal(P.bond);
      expect(await w.data.bondsHeld()).to.equal(0n);
      await expect(w.data.connect(w.alice).withdraw()).to.changeTokenBalances(
        ethers,
        w.token,
        [w.alice, w.data],
        [P.bond, -P.bond],
      );
      await expect(w.data.connect(w.alice).withdrawDataset(1n))
        .to.be.revertedWithCustomError(w.data, "DataRegistryDatasetClosed")
        .withArgs(1n, DatasetStatus.Withdrawn);
      await expect(w.data.connect(w.v1).vote(1n, true, Reason.Ok))
        .to.be.revertedWithCustomError(w.data, "DataRegistryNotPending")
        .withArgs(1n, DatasetStatus.Withdrawn);
    });

    it("returns the bond of a dataset whose seed expired before anyone drew", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const id = await contribute(w);
      await networkHelpers.mine(257);
      await expect(w.data.connect(w.bob).withdrawDataset(id))
        .to.be.revertedWithCustomError(w.data, "DataRegistryNotContributor")
        .withArgs(id, w.bob.address, w.alice.address);
      const tx = w.data.connect(w.alice).withdrawDataset(id);
      await expect(tx).to.emit(w.data, "DatasetWithdrawn").withArgs(id, w.alice.address, P.bond);
      await expect(tx).to.emit(w.data, "Credited").withArgs(w.alice.address, id, CreditReason.BondRefund, P.bond);
    });

    it("refuses a dataset whose committee was drawn even once the seed block's hash is no longer readable", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const drawn = await contribute(w, 1);
      const undrawn = await contribute(w, 2);
      await w.data.connect(w.v1).vote(drawn, false, Reason.Schema); // draws the committee, opens the window
      const seedBlock = (await w.data.validationOf(drawn)).seedBlock;
      await networkHelpers.mine(257); // both seed blocks' hashes expire, within the voting window
      expect(await time.latest()).to.be.lessThan(Number((await w.data.datasetOf(drawn)).votingDeadline));
      // Nobody drew the other one: nobody can have started on it, it may leave.
      await expect(w.data.connect(w.alice).withdrawDataset(undrawn)).to.emit(w.data, "DatasetWithdrawn");
      // The drawn one is under way: the contributor faces the decision, its bond stays held.
      await expect(w.data.connect(w.alice).withdrawDataset(drawn))
        .to.be.revertedWithCustomError(w.data, "DataRegistryValidationStarted")
        .withArgs(drawn, seedBlock);
      const d = await w.data.datasetOf(drawn);
      expect([d.status, d.bond]).to.deep.equal([DatasetStatus.Pending, P.bond]);
      expect(await w.data.bondsHeld()).to.equal(P.bond);
      expect(await w.data.creditOf(w.alice.address)).to.equal(P.bond); // the undrawn one's bond only
      for (const v of [w.v2, w.v3, w.v4]) await w.data.connect(v).vote(drawn, false, Reason.Schema);
      expect((await w.data.datasetOf(drawn)).status).to.equal(DatasetStatus.Rejected);
    });

    it("refuses once the committee is knowable, after use, and after rejection; an unused Accepted one leaves", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const id = await contribute(w, 1);
      const seedBlock = (await w.data.validationOf(id)).seedBlock;
      await expect(w.data.connect(w.alice).withdrawDataset(id))
        .to.be.revertedWithCustomError(w.data, "DataRegistryValidationStarted")
        .withArgs(id, seedBlock);
      await decided(w, id, true);
      const credit = await w.data.creditOf(w.alice.address);
      await expect(w.data.connect(w.alice).withdrawDataset(id))
        .to.emit(w.data, "DatasetWithdrawn")
        .withArgs(id, w.alice.address, 0n);
      expect(await w.data.creditOf(w.alice.address)).to.equal(credit);
      expect((await w.data.validationOf(id)).deferredReward).to.equal(0n);
      // The acceptance reward was paid: the same data cannot come back for a second one.
      await expect(w.data.connect(w.alice).contribute(contribution(1), NO_PERMIT))
        .to.be.revertedWithCustomError(w.data, "DataRegistryDuplicateCommitment")
        .withArgs(contribution(1).commitment, id);
      await expect(w.data.connect(w.payer).creditRoyalties([id], [1n], TOKEN))
        .to.be.revertedWithCustomError(w.data, "DataRegistryDatasetNotAccepted")
        .withArgs(id, DatasetStatus.Withdrawn);

      const used = await accepted(w, 2);
      await w.data.connect(w.payer).creditRoyalties([used], [10n], TOKEN);
      await expect(w.data.connect(w.alice).withdrawDataset(used))
        .to.be.revertedWithCustomError(w.data, "DataRegistryDatasetAlreadyUsed")
        .withArgs(used, 1n);

      const rejected = await decided(w, await contribute(w, 3), false);
      await expect(w.data.connect(w.alice).withdrawDataset(rejected))
        .to.be.revertedWithCustomError(w.data, "DataRegistryDatasetClosed")
        .withArgs(rejected, DatasetStatus.Rejected);
    });
  });

  describe("creditRoyalties", () => {
    it("pulls the amount and credits contributors pro rata to samples, dust to the last", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const a = await accepted(w, 1);
      const tx0 = await w.data.connect(w.bob).contribute(contribution(2), NO_PERMIT);
      const b = await decided(w, datasetIdOf(w.data, await tx0.wait()), true);
      const aliceBefore = await w.data.creditOf(w.alice.address);
      const bobBefore = await w.data.creditOf(w.bob.address);
      const amount = 100n * TOKEN + 1n;
      const tx = w.data.connect(w.payer).creditRoyalties([a, b], [100, 200], amount);
      await expect(tx).to.changeTokenBalances(ethers, w.token, [w.payer, w.data], [-amount, amount]);
      const aShare = (amount * 100n) / 300n;
      await expect(tx).to.emit(w.data, "RoyaltiesCredited").withArgs(a, w.alice.address, w.payer.address, 100n, aShare);
      await expect(tx)
        .to.emit(w.data, "RoyaltiesCredited")
        .withArgs(b, w.bob.address, w.payer.address, 200n, amount - aShare);
      // The first royalty of each dataset also releases its deferred acceptance reward from the pool.
      const deferred = P.acceptReward - UPFRONT;
      await expect(tx).to.emit(w.data, "Credited").withArgs(w.alice.address, a, CreditReason.DeferredAcceptReward, deferred);
      await expect(tx).to.emit(w.data, "Credited").withArgs(w.bob.address, b, CreditReason.DeferredAcceptReward, deferred);
      expect(await w.data.creditOf(w.alice.address)).to.equal(aliceBefore + aShare + deferred);
      expect(await w.data.creditOf(w.bob.address)).to.equal(bobBefore + amount - aShare + deferred);
      const ds = await w.data.datasetOf(a);
      expect([ds.royalties, ds.timesUsed, (await w.data.validationOf(a)).deferredReward]).to.deep.equal([aShare, 1n, 0n]);
      const again = w.data.connect(w.payer).creditRoyalties([a], [100], TOKEN);
      await expect(again).not.to.emit(w.data, "Credited");
    });

    it("rejects bad calls with precise errors", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const a = await accepted(w, 1);
      const pending = await contribute(w, 2);
      const p = w.data.connect(w.payer);
      await expect(w.data.connect(w.outsider).creditRoyalties([a], [1], TOKEN))
        .to.be.revertedWithCustomError(w.data, "AccessControlUnauthorizedAccount")
        .withArgs(w.outsider.address, await w.data.ROYALTY_PAYER_ROLE());
      await expect(p.creditRoyalties([a, a], [1], TOKEN))
        .to.be.revertedWithCustomError(w.data, "DataRegistryLengthMismatch")
        .withArgs(2n, 1n);
      await expect(p.creditRoyalties([], [], TOKEN))
        .to.be.revertedWithCustomError(w.data, "DataRegistryLengthMismatch")
        .withArgs(0n, 0n);
      await expect(p.creditRoyalties([a], [1], 0n)).to.be.revertedWithCustomError(w.data, "DataRegistryZeroAmount");
      await expect(p.creditRoyalties([a, pending], [1, 1], TOKEN))
        .to.be.revertedWithCustomError(w.data, "DataRegistryDatasetNotAccepted")
        .withArgs(pending, DatasetStatus.Pending);
      await expect(p.creditRoyalties([a, 77n], [1, 1], TOKEN))
        .to.be.revertedWithCustomError(w.data, "DataRegistryUnknownDataset")
        .withArgs(77n);
      await expect(p.creditRoyalties([a], [0], TOKEN))
        .to.be.revertedWithCustomError(w.data, "DataRegistryInvalidSamplesUsed")
        .withArgs(a, 0n, 1_000n);
      await expect(p.creditRoyalties([a], [1_001], TOKEN))
        .to.be.revertedWithCustomError(w.data, "DataRegistryInvalidSamplesUsed")
        .withArgs(a, 1_001n, 1_000n);
    });
  });

  describe("reward pool and withdraw", () => {
    it("funds the pool from anyone and pays each credit exactly once", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      await expect(w.data.connect(w.bob).fundRewardPool(0n)).to.be.revertedWithCustomError(
        w.data,
        "DataRegistryZeroAmount",
      );
      const tx = w.data.connect(w.bob).fundRewardPool(5n * TOKEN);
      await expect(tx).to.emit(w.data, "RewardPoolFunded").withArgs(w.bob.address, 5n * TOKEN, POOL + 5n * TOKEN);
      await expect(tx).to.changeTokenBalances(ethers, w.token, [w.bob, w.data], [-5n * TOKEN, 5n * TOKEN]);
      await accepted(w);
      const owed = P.bond + UPFRONT;
      await expect(w.data.connect(w.alice).withdraw())
        .to.emit(w.data, "Withdrawn")
        .withArgs(w.alice.address, owed);
      await expect(w.data.connect(w.alice).withdraw())
        .to.be.revertedWithCustomError(w.data, "DataRegistryNothingToWithdraw")
        .withArgs(w.alice.address);
      let credits = 0n;
      for (const v of [w.v1, w.v2, w.v3, w.v4]) credits += await w.data.creditOf(v.address);
      expect(credits).to.equal(4n * SEAT_REWARD);
      expect(await w.token.balanceOf(w.dataAddress)).to.equal((await w.data.rewardPool()) + credits);
    });
  });

  describe("views", () => {
    it("report unknown datasets precisely", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      for (const call of [
        w.data.datasetOf(5n),
        w.data.ballotsOf(5n),
        w.data.hasVoted(5n, w.v1.address),
        w.data.committeeSeed(5n),
        w.data.isOnCommittee(5n, w.v1.address),
        w.data.validationOf(5n),
      ]) {
        await expect(call).to.be.revertedWithCustomError(w.data, "DataRegistryUnknownDataset").withArgs(5n);
      }
      expect(await w.data.isValidator(w.v1.address)).to.equal(true);
      expect(await w.data.isValidator(w.outsider.address)).to.equal(false);
    });
  });
});
