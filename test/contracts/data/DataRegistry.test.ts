import { expect } from "chai";
import { network } from "hardhat";
import { CAP_INFER, CAP_VALIDATE, deployTessera, signPermit } from "../../helpers/tessera.js";
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

  async function accepted(w: World, seed = 1) {
    const id = await contribute(w, seed);
    await w.data.connect(w.v1).vote(id, true, Reason.Ok);
    await w.data.connect(w.v2).vote(id, true, Reason.Ok);
    return id;
  }

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
        { quorum: 0, validatorsPerDataset: 0 },
        { quorum: 2, validatorsPerDataset: 1 },
        { quorum: 2, validatorsPerDataset: 4 },
        { quorum: 9, validatorsPerDataset: 16 },
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
      const next = { ...P, bond: 20n * TOKEN, quorum: 3, validatorsPerDataset: 5 };
      await expect(w.data.setParams(next)).to.emit(w.data, "ParamsUpdated");
      const p = await w.data.params();
      expect([p.bond, p.quorum, p.validatorsPerDataset]).to.deep.equal([20n * TOKEN, 3n, 5n]);
      const after = await contribute(w, 2);
      expect((await w.data.datasetOf(before)).bond).to.equal(P.bond);
      expect((await w.data.datasetOf(before)).quorum).to.equal(2n);
      expect((await w.data.datasetOf(after)).bond).to.equal(20n * TOKEN);
      expect((await w.data.datasetOf(after)).maxVotes).to.equal(5n);
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
      const votingDeadline = BigInt(await time.latest()) + BigInt(P.votingPeriod);
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
          votingDeadline,
        );
      const ds = await w.data.datasetOf(1n);
      expect(ds.contributor).to.equal(w.bob.address);
      expect(ds.status).to.equal(DatasetStatus.Pending);
      expect(ds.votingDeadline).to.equal(votingDeadline);
      expect(ds.commitment).to.equal(args.commitment);
      expect(ds.schemaId).to.equal(MNIST_SCHEMA);
      expect(ds.sampleCount).to.equal(1_000n);
      expect(await w.data.datasetIdOf(args.commitment)).to.equal(1n);
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
      await expect(w.data.connect(w.bob).contribute(contribution(1), NO_PERMIT))
        .to.be.revertedWithCustomError(w.data, "DataRegistryDuplicateCommitment")
        .withArgs(contribution(1).commitment, 1n);
      await expect(w.data.connect(w.outsider).contribute(contribution(2), NO_PERMIT))
        .to.be.revertedWithCustomError(w.token, "ERC20InsufficientAllowance")
        .withArgs(w.dataAddress, 0n, P.bond);
      await w.data.pause();
      await expect(c.contribute(contribution(3), NO_PERMIT)).to.be.revertedWithCustomError(w.data, "EnforcedPause");
      await w.data.unpause();
      await c.contribute(contribution(3), NO_PERMIT);
    });
  });

  describe("publishKeyEnvelopes", () => {
    it("lets the contributor of a live dataset publish envelopes, and nobody else", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const id = await contribute(w, 1, { keyEnvelopesCid: "0x" });
      await expect(w.data.connect(w.alice).publishKeyEnvelopes(id, ENVELOPES_CID))
        .to.emit(w.data, "KeyEnvelopesPublished")
        .withArgs(id, w.alice.address, ENVELOPES_CID);
      await expect(w.data.connect(w.bob).publishKeyEnvelopes(id, ENVELOPES_CID))
        .to.be.revertedWithCustomError(w.data, "DataRegistryNotContributor")
        .withArgs(id, w.bob.address, w.alice.address);
      await expect(w.data.connect(w.alice).publishKeyEnvelopes(id, "0x")).to.be.revertedWithCustomError(
        w.data,
        "DataRegistryEmptyCid",
      );
      await expect(w.data.connect(w.alice).publishKeyEnvelopes(99n, ENVELOPES_CID))
        .to.be.revertedWithCustomError(w.data, "DataRegistryUnknownDataset")
        .withArgs(99n);
      await w.data.connect(w.alice).withdrawDataset(id);
      await expect(w.data.connect(w.alice).publishKeyEnvelopes(id, ENVELOPES_CID))
        .to.be.revertedWithCustomError(w.data, "DataRegistryDatasetClosed")
        .withArgs(id, DatasetStatus.Withdrawn);
    });
  });

  describe("vote", () => {
    it("records a non-deciding vote", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const id = await contribute(w);
      await expect(w.data.connect(w.v1).vote(id, false, Reason.LabelNoise))
        .to.emit(w.data, "DatasetVoted")
        .withArgs(id, w.v1.address, false, Reason.LabelNoise);
      const ds = await w.data.datasetOf(id);
      expect([ds.status, ds.acceptVotes, ds.rejectVotes]).to.deep.equal([DatasetStatus.Pending, 0n, 1n]);
      expect(await w.data.ballotsOf(id)).to.deep.equal([[w.v1.address, false, BigInt(Reason.LabelNoise)]]);
      expect(await w.data.hasVoted(id, w.v1.address)).to.equal(true);
      expect(await w.data.hasVoted(id, w.v2.address)).to.equal(false);
    });

    it("accepts at quorum: bond back, rewards from the pool, the dissenter slashed into the pool", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const id = await contribute(w);
      await w.data.connect(w.v3).vote(id, false, Reason.Schema);
      await w.data.connect(w.v1).vote(id, true, Reason.Ok);
      const stakeBefore = await stakeOf(w, w.v3);
      const tx = w.data.connect(w.v2).vote(id, true, Reason.Ok);
      await expect(tx).to.changeTokenBalances(ethers, w.token, [w.data, w.workers], [P.dissentSlash, -P.dissentSlash]);
      await expect(tx).to.emit(w.data, "DatasetDecided").withArgs(id, DatasetStatus.Accepted, Reason.Ok, 2n, 1n);
      await expect(tx).to.emit(w.data, "Credited").withArgs(w.alice.address, id, CreditReason.BondRefund, P.bond);
      await expect(tx)
        .to.emit(w.data, "Credited")
        .withArgs(w.alice.address, id, CreditReason.AcceptReward, P.acceptReward);
      for (const v of [w.v1, w.v2]) {
        await expect(tx)
          .to.emit(w.data, "Credited")
          .withArgs(v.address, id, CreditReason.ValidatorReward, P.validatorReward);
        expect(await w.data.creditOf(v.address)).to.equal(P.validatorReward);
      }
      await expect(tx).to.emit(w.data, "DissenterSlashed").withArgs(id, w.v3.address, P.dissentSlash);
      expect(await stakeOf(w, w.v3)).to.equal(stakeBefore - P.dissentSlash);
      expect(await w.data.creditOf(w.alice.address)).to.equal(P.bond + P.acceptReward);
      expect(await w.data.creditOf(w.v3.address)).to.equal(0n);
      expect(await w.data.rewardPool()).to.equal(POOL - P.acceptReward - 2n * P.validatorReward + P.dissentSlash);
      expect(await w.data.bondsHeld()).to.equal(0n);
      const ds = await w.data.datasetOf(id);
      expect([ds.status, ds.reasonCode, ds.bond]).to.deep.equal([DatasetStatus.Accepted, 0n, 0n]);
      await expect(w.data.connect(w.v4).vote(id, true, Reason.Ok))
        .to.be.revertedWithCustomError(w.data, "DataRegistryNotPending")
        .withArgs(id, DatasetStatus.Accepted);
    });

    it("rejects at quorum: the bond split among the rejecters (dust to the decider), majority reason", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const bond = 10n * TOKEN + 1n;
      await w.data.setParams({ ...P, bond, dissentSlash: 0n });
      const id = await contribute(w);
      await w.data.connect(w.v1).vote(id, false, Reason.DuplicateSamples);
      await w.data.connect(w.v3).vote(id, true, Reason.Ok);
      const stakeBefore = await stakeOf(w, w.v3);
      const tx = w.data.connect(w.v2).vote(id, false, Reason.Schema);
      await expect(tx)
        .to.emit(w.data, "DatasetDecided")
        .withArgs(id, DatasetStatus.Rejected, Reason.Schema, 1n, 2n);
      await expect(tx).not.to.emit(w.data, "DissenterSlashed");
      expect(await w.data.creditOf(w.v1.address)).to.equal(bond / 2n);
      expect(await w.data.creditOf(w.v2.address)).to.equal(bond - bond / 2n);
      expect(await w.data.creditOf(w.alice.address)).to.equal(0n);
      expect(await w.data.creditOf(w.v3.address)).to.equal(0n);
      expect(await stakeOf(w, w.v3)).to.equal(stakeBefore);
      expect(await w.data.rewardPool()).to.equal(POOL);
      expect((await w.data.datasetOf(id)).reasonCode).to.equal(BigInt(Reason.Schema));
      // The commitment is free again: the data can come back with, say, fixed envelopes.
      expect(await w.data.datasetIdOf(contribution(1).commitment)).to.equal(0n);
      await contribute(w, 1);
    });

    it("slashes accept voters of a rejected dataset and picks the most frequent reason", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      await w.data.setParams({ ...P, quorum: 3, validatorsPerDataset: 5 });
      const [, , , , , , , , , , , v5, v6] = await ethers.getSigners();
      await registerValidator(w, v5);
      await registerValidator(w, v6);
      const id = await contribute(w);
      await w.data.connect(w.v1).vote(id, false, Reason.Decryption);
      await w.data.connect(w.v2).vote(id, true, Reason.Ok);
      await w.data.connect(w.v3).vote(id, false, Reason.CommitmentMismatch);
      await w.data.connect(w.v4).vote(id, true, Reason.Ok);
      const tx = w.data.connect(v5).vote(id, false, Reason.CommitmentMismatch);
      await expect(tx)
        .to.emit(w.data, "DatasetDecided")
        .withArgs(id, DatasetStatus.Rejected, Reason.CommitmentMismatch, 2n, 3n);
      await expect(tx).to.emit(w.data, "DissenterSlashed").withArgs(id, w.v2.address, P.dissentSlash);
      await expect(tx).to.emit(w.data, "DissenterSlashed").withArgs(id, w.v4.address, P.dissentSlash);
      await expect(tx).to.changeTokenBalance(ethers, w.token, w.data, 2n * P.dissentSlash);
      const share = P.bond / 3n;
      expect(await w.data.creditOf(w.v1.address)).to.equal(share);
      expect(await w.data.creditOf(v5.address)).to.equal(P.bond - 2n * share);
      expect(await w.data.rewardPool()).to.equal(POOL + 2n * P.dissentSlash);
      await expect(w.data.connect(v6).vote(id, true, Reason.Ok))
        .to.be.revertedWithCustomError(w.data, "DataRegistryNotPending")
        .withArgs(id, DatasetStatus.Rejected);
    });

    it("caps rewards at what the pool holds", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      await w.data.setParams({ ...P, acceptReward: POOL - 3n * TOKEN });
      const id = await accepted(w);
      expect(await w.data.creditOf(w.alice.address)).to.equal(P.bond + POOL - 3n * TOKEN);
      expect(await w.data.creditOf(w.v1.address)).to.equal(3n * TOKEN);
      expect(await w.data.creditOf(w.v2.address)).to.equal(0n);
      expect(await w.data.rewardPool()).to.equal(0n);
      expect((await w.data.datasetOf(id)).status).to.equal(DatasetStatus.Accepted);
    });

    it("rejects bad votes with precise errors", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const id = await contribute(w);
      await expect(w.data.connect(w.v1).vote(99n, true, Reason.Ok))
        .to.be.revertedWithCustomError(w.data, "DataRegistryUnknownDataset")
        .withArgs(99n);
      for (const [accept, code] of [
        [true, Reason.Schema],
        [false, Reason.Ok],
        [false, 7],
        [false, Reason.Undecided],
      ] as const) {
        await expect(w.data.connect(w.v1).vote(id, accept, code))
          .to.be.revertedWithCustomError(w.data, "DataRegistryInvalidReason")
          .withArgs(accept, code);
      }
      await expect(w.data.connect(w.outsider).vote(id, true, Reason.Ok))
        .to.be.revertedWithCustomError(w.data, "DataRegistryNotValidator")
        .withArgs(w.outsider.address);
      await expect(w.data.connect(w.inferrer).vote(id, true, Reason.Ok))
        .to.be.revertedWithCustomError(w.data, "DataRegistryNotValidator")
        .withArgs(w.inferrer.address);
      await w.workers.connect(w.v4).requestUnstake();
      expect(await w.data.isValidator(w.v4.address)).to.equal(false);
      await expect(w.data.connect(w.v4).vote(id, true, Reason.Ok))
        .to.be.revertedWithCustomError(w.data, "DataRegistryNotValidator")
        .withArgs(w.v4.address);
      await w.workers.setMinStake(10n ** 28n);
      await expect(w.data.connect(w.v3).vote(id, true, Reason.Ok))
        .to.be.revertedWithCustomError(w.data, "DataRegistryNotValidator")
        .withArgs(w.v3.address);
      await w.workers.setMinStake(1n);
      await registerValidator(w, w.alice, CAP_VALIDATE | CAP_INFER);
      await expect(w.data.connect(w.alice).vote(id, true, Reason.Ok))
        .to.be.revertedWithCustomError(w.data, "DataRegistrySelfValidation")
        .withArgs(id, w.alice.address);
      await w.data.connect(w.v1).vote(id, true, Reason.Ok);
      await expect(w.data.connect(w.v1).vote(id, false, Reason.Schema))
        .to.be.revertedWithCustomError(w.data, "DataRegistryAlreadyVoted")
        .withArgs(id, w.v1.address);
      const deadline = (await w.data.datasetOf(id)).votingDeadline;
      await time.increaseTo(deadline + 1n);
      await expect(w.data.connect(w.v2).vote(id, true, Reason.Ok))
        .to.be.revertedWithCustomError(w.data, "DataRegistryVotingClosed")
        .withArgs(id, deadline);
    });

    it("closes a full ballot without quorum; finalize then needs no deadline", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      await w.data.setParams({ ...P, quorum: 3, validatorsPerDataset: 4 });
      const [, , , , , , , , , , , v5] = await ethers.getSigners();
      await registerValidator(w, v5);
      const id = await contribute(w);
      await expect(w.data.finalize(id))
        .to.be.revertedWithCustomError(w.data, "DataRegistryVotingOpen")
        .withArgs(id, (await w.data.datasetOf(id)).votingDeadline);
      await w.data.connect(w.v1).vote(id, true, Reason.Ok);
      await w.data.connect(w.v2).vote(id, false, Reason.Schema);
      await w.data.connect(w.v3).vote(id, true, Reason.Ok);
      await w.data.connect(w.v4).vote(id, false, Reason.Schema);
      await expect(w.data.connect(v5).vote(id, true, Reason.Ok))
        .to.be.revertedWithCustomError(w.data, "DataRegistryBallotFull")
        .withArgs(id, 4n);
      const tx = w.data.connect(w.outsider).finalize(id);
      await expect(tx).to.emit(w.data, "DatasetDecided").withArgs(id, DatasetStatus.Undecided, Reason.Undecided, 2n, 2n);
      await expect(tx).not.to.emit(w.data, "DissenterSlashed");
      expect(await w.data.creditOf(w.alice.address)).to.equal(P.bond);
      for (const v of [w.v1, w.v2, w.v3, w.v4]) expect(await w.data.creditOf(v.address)).to.equal(0n);
    });
  });

  describe("finalize", () => {
    it("after the deadline: Undecided, bond back, commitment free, nobody slashed", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const id = await contribute(w);
      await w.data.connect(w.v1).vote(id, false, Reason.Schema);
      const deadline = (await w.data.datasetOf(id)).votingDeadline;
      await expect(w.data.finalize(id))
        .to.be.revertedWithCustomError(w.data, "DataRegistryVotingOpen")
        .withArgs(id, deadline);
      await time.increaseTo(deadline + 1n);
      const tx = w.data.connect(w.outsider).finalize(id);
      await expect(tx).to.emit(w.data, "DatasetDecided").withArgs(id, DatasetStatus.Undecided, Reason.Undecided, 0n, 1n);
      await expect(tx).to.emit(w.data, "Credited").withArgs(w.alice.address, id, CreditReason.BondRefund, P.bond);
      expect(await w.data.creditOf(w.alice.address)).to.equal(P.bond);
      expect(await w.data.creditOf(w.v1.address)).to.equal(0n);
      expect(await w.data.bondsHeld()).to.equal(0n);
      expect(await w.data.datasetIdOf(contribution(1).commitment)).to.equal(0n);
      await expect(w.data.finalize(id))
        .to.be.revertedWithCustomError(w.data, "DataRegistryNotPending")
        .withArgs(id, DatasetStatus.Undecided);
      await expect(w.data.finalize(42n)).to.be.revertedWithCustomError(w.data, "DataRegistryUnknownDataset").withArgs(42n);
    });
  });

  describe("withdrawDataset", () => {
    it("returns the bond of a Pending dataset nobody voted on", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const id = await contribute(w);
      await expect(w.data.connect(w.bob).withdrawDataset(id))
        .to.be.revertedWithCustomError(w.data, "DataRegistryNotContributor")
        .withArgs(id, w.bob.address, w.alice.address);
      const tx = w.data.connect(w.alice).withdrawDataset(id);
      await expect(tx).to.emit(w.data, "DatasetWithdrawn").withArgs(id, w.alice.address, P.bond);
      await expect(tx).to.emit(w.data, "Credited").withArgs(w.alice.address, id, CreditReason.BondRefund, P.bond);
      expect((await w.data.datasetOf(id)).status).to.equal(DatasetStatus.Withdrawn);
      expect(await w.data.bondsHeld()).to.equal(0n);
      await expect(w.data.connect(w.alice).withdraw()).to.changeTokenBalances(
        ethers,
        w.token,
        [w.alice, w.data],
        [P.bond, -P.bond],
      );
      await expect(w.data.connect(w.alice).withdrawDataset(id))
        .to.be.revertedWithCustomError(w.data, "DataRegistryDatasetClosed")
        .withArgs(id, DatasetStatus.Withdrawn);
      await expect(w.data.connect(w.v1).vote(id, true, Reason.Ok))
        .to.be.revertedWithCustomError(w.data, "DataRegistryNotPending")
        .withArgs(id, DatasetStatus.Withdrawn);
    });

    it("refuses once voting started, after use, and after rejection; an unused Accepted one leaves", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const id = await contribute(w, 1);
      await w.data.connect(w.v1).vote(id, true, Reason.Ok);
      await expect(w.data.connect(w.alice).withdrawDataset(id))
        .to.be.revertedWithCustomError(w.data, "DataRegistryValidationStarted")
        .withArgs(id, 1n);
      await w.data.connect(w.v2).vote(id, true, Reason.Ok);
      const credit = await w.data.creditOf(w.alice.address);
      await expect(w.data.connect(w.alice).withdrawDataset(id))
        .to.emit(w.data, "DatasetWithdrawn")
        .withArgs(id, w.alice.address, 0n);
      expect(await w.data.creditOf(w.alice.address)).to.equal(credit);
      await expect(w.data.connect(w.payer).creditRoyalties([id], [1n], TOKEN))
        .to.be.revertedWithCustomError(w.data, "DataRegistryDatasetNotAccepted")
        .withArgs(id, DatasetStatus.Withdrawn);

      const used = await accepted(w, 2);
      await w.data.connect(w.payer).creditRoyalties([used], [10n], TOKEN);
      await expect(w.data.connect(w.alice).withdrawDataset(used))
        .to.be.revertedWithCustomError(w.data, "DataRegistryDatasetAlreadyUsed")
        .withArgs(used, 1n);

      const rejected = await contribute(w, 3);
      await w.data.connect(w.v1).vote(rejected, false, Reason.Schema);
      await w.data.connect(w.v2).vote(rejected, false, Reason.Schema);
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
      const b = datasetIdOf(w.data, await tx0.wait());
      await w.data.connect(w.v1).vote(b, true, Reason.Ok);
      await w.data.connect(w.v3).vote(b, true, Reason.Ok);
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
      expect(await w.data.creditOf(w.alice.address)).to.equal(aliceBefore + aShare);
      expect(await w.data.creditOf(w.bob.address)).to.equal(bobBefore + amount - aShare);
      const ds = await w.data.datasetOf(a);
      expect([ds.royalties, ds.timesUsed]).to.deep.equal([aShare, 1n]);
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
      const owed = P.bond + P.acceptReward;
      await expect(w.data.connect(w.alice).withdraw())
        .to.emit(w.data, "Withdrawn")
        .withArgs(w.alice.address, owed);
      await expect(w.data.connect(w.alice).withdraw())
        .to.be.revertedWithCustomError(w.data, "DataRegistryNothingToWithdraw")
        .withArgs(w.alice.address);
      expect(await w.token.balanceOf(w.dataAddress)).to.equal(
        (await w.data.rewardPool()) + (await w.data.creditOf(w.v1.address)) + (await w.data.creditOf(w.v2.address)),
      );
    });
  });

  describe("views", () => {
    it("report unknown datasets precisely", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      for (const call of [w.data.datasetOf(5n), w.data.ballotsOf(5n), w.data.hasVoted(5n, w.v1.address)]) {
        await expect(call).to.be.revertedWithCustomError(w.data, "DataRegistryUnknownDataset").withArgs(5n);
      }
      expect(await w.data.isValidator(w.v1.address)).to.equal(true);
      expect(await w.data.isValidator(w.outsider.address)).to.equal(false);
    });
  });
});
