import { expect } from "chai";
import { network } from "hardhat";
import { AbiCoder, keccak256 } from "ethers";
import { CAP_VALIDATE, MIN_STAKE, deployTessera } from "../../helpers/tessera.js";
import {
  CreditReason,
  DEFAULT_DATA_PARAMS,
  DatasetStatus,
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
const HONEST_STAKE = MIN_STAKE * 2n;

/**
 * Adversaries of the DataRegistry, one strategy per test, each against the deployed parameters
 * (15 expected committee seats, quorum 8 seats, 20 % of the accept reward upfront). Three honest
 * validators hold 2,000 TSR each; the attacker's identities hold the minimum stake (1,000 TSR).
 */
describe("DataRegistry adversaries", () => {
  async function fixture() {
    const [admin, treasury, alice, mallory, h1, h2, h3, s1, s2, s3, payer, anyone] = await ethers.getSigners();
    const d = await deployTessera(ethers, admin, treasury.address);
    const data = await deployDataRegistry(ethers, d, admin);
    const dataAddress = await data.getAddress();
    for (const v of [h1, h2, h3]) await registerValidator(d, v);
    await data.grantRole(await data.ROYALTY_PAYER_ROLE(), payer.address);
    await d.token.mint(admin.address, POOL);
    await d.token.approve(dataAddress, POOL);
    await data.fundRewardPool(POOL);
    for (const who of [alice, mallory, payer]) {
      await d.token.mint(who.address, 10_000n * TOKEN);
      await d.token.connect(who).approve(dataAddress, ethers.MaxUint256);
    }
    return { ...d, data, dataAddress, alice, mallory, honest: [h1, h2, h3], sybils: [s1, s2, s3], payer, anyone };
  }
  type World = Awaited<ReturnType<typeof fixture>>;

  /** What `account` holds in tokens, registry credit and stake: the attacker's whole position. */
  async function positionOf(w: World, accounts: { address: string }[]) {
    let total = 0n;
    for (const a of accounts) {
      total += (await w.token.balanceOf(a.address)) + (await w.data.creditOf(a.address)) + (await w.workers.workerOf(a.address)).stake;
    }
    return total;
  }

  describe("contributor + Sybil validators (issue 8 item 1)", () => {
    it("cannot accept its own junk in one block: the window waits for the honest committee, which rejects it", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      for (const s of w.sybils) await registerValidator(w, s, CAP_VALIDATE, MIN_STAKE);
      const attacker = [w.mallory, ...w.sybils];
      const before = await positionOf(w, attacker);
      const id = datasetIdOf(w.data, await (await w.data.connect(w.mallory).contribute(contribution(66), NO_PERMIT)).wait());
      // On the old registry these two votes reached the quorum of 2 and accepted the junk at once.
      for (const s of w.sybils) {
        await expect(w.data.connect(s).vote(id, true, Reason.Ok)).not.to.emit(w.data, "DatasetDecided");
      }
      expect((await w.data.datasetOf(id)).status).to.equal(DatasetStatus.Pending);
      await w.data.connect(w.honest[0]).vote(id, false, Reason.LabelNoise);
      await w.data.connect(w.honest[1]).vote(id, false, Reason.LabelNoise);
      const last = w.data.connect(w.honest[2]).vote(id, false, Reason.LabelNoise);
      // 9,000 TSR of validator stake, 15 seats: honest 3 x 3.333 seats, Sybils 3 x 1.666 seats.
      await expect(last).to.emit(w.data, "DatasetDecided").withArgs(id, DatasetStatus.Rejected, Reason.LabelNoise, 4_998n, 9_999n);
      for (const s of w.sybils) await expect(last).to.emit(w.data, "DissenterSlashed").withArgs(id, s.address, (P.dissentSlash * 1_666n) / 1_000n);
      // The attacker lost its bond (into the pool) and three dissent slashes; it gained nothing.
      const slashes = 3n * ((P.dissentSlash * 1_666n) / 1_000n);
      expect(await positionOf(w, attacker)).to.equal(before - P.bond - slashes);
      expect(await w.data.rewardPool()).to.equal(POOL + P.bond + slashes - 3n * ((P.validatorReward * 3_333n) / 1_000n));
    });

    it("cannot add stake or identities after the contribution block: they are not on the committee", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const id = datasetIdOf(w.data, await (await w.data.connect(w.mallory).contribute(contribution(67), NO_PERMIT)).wait());
      await registerValidator(w, w.sybils[0], CAP_VALIDATE, 100n * MIN_STAKE);
      expect(await w.data.isOnCommittee(id, w.sybils[0].address)).to.equal(false);
      await expect(w.data.connect(w.sybils[0]).vote(id, true, Reason.Ok))
        .to.be.revertedWithCustomError(w.data, "DataRegistryNotDrawn")
        .withArgs(id, w.sybils[0].address);
    });

    it("gains no expected seats by splitting its stake over identities (sortition, 4,000 draws)", async () => {
      // The contract's rule, evaluated off chain over many seeds: one identity of stake S against ten of S / 10.
      const total = 100n * TOKEN;
      const committee = 15n;
      const seatsOf = (stake: bigint) => {
        const seats = (stake * committee * 1_000n) / total;
        return seats < 1_000n ? 1_000n : seats;
      };
      const drawn = (seed: string, id: bigint, who: string, stake: bigint) =>
        BigInt(keccak256(AbiCoder.defaultAbiCoder().encode(["bytes32", "uint64", "address"], [seed, id, who]))) % total < stake * committee;
      const whole = 4n * TOKEN;
      const pieces = Array.from({ length: 10 }, (_, i) => ethers.getAddress("0x" + (i + 1).toString(16).padStart(40, "0")));
      let wholeSeats = 0n;
      let splitSeats = 0n;
      const draws = 4_000;
      for (let k = 0; k < draws; ++k) {
        const seed = keccak256(AbiCoder.defaultAbiCoder().encode(["uint256"], [k]));
        if (drawn(seed, 1n, pieces[0], whole)) wholeSeats += seatsOf(whole);
        for (const p of pieces) if (drawn(seed, 1n, p, whole / 10n)) splitSeats += seatsOf(whole / 10n);
      }
      // Expected seats: 4 % of the stake x 15 seats = 0.6 seats per draw, split or not.
      const expected = 0.6 * draws * 1_000;
      expect(Number(wholeSeats)).to.be.closeTo(expected, expected * 0.08);
      expect(Number(splitSeats)).to.be.closeTo(expected, expected * 0.08);
    });
  });

  describe("a coalition holding the majority (issue 8 item 1)", () => {
    it("earns the same per seat for rejecting an honest dataset as for accepting it: the bond goes to the pool", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const coalition = w.honest.slice(0, 2); // 2 of 3 equal stakes: a majority of seats
      const honest = w.honest[2];
      const id = datasetIdOf(w.data, await (await w.data.connect(w.alice).contribute(contribution(1), NO_PERMIT)).wait());
      for (const v of coalition) await w.data.connect(v).vote(id, false, Reason.DuplicateSamples);
      const tx = w.data.connect(honest).vote(id, true, Reason.Ok);
      await expect(tx).to.emit(w.data, "DatasetDecided").withArgs(id, DatasetStatus.Rejected, Reason.DuplicateSamples, 5_000n, 10_000n);
      const seatReward = (P.validatorReward * 5_000n) / 1_000n;
      for (const v of coalition) {
        await expect(tx).to.emit(w.data, "Credited").withArgs(v.address, id, CreditReason.ValidatorReward, seatReward);
        expect(await w.data.creditOf(v.address)).to.equal(seatReward); // no share of the bond
      }
      expect(await w.data.rewardPool()).to.equal(POOL + P.bond - 2n * seatReward + (P.dissentSlash * 5_000n) / 1_000n);
    });
  });

  describe("a copier of a pending contribution (issue 8 item 4)", () => {
    it("gets its own record and never blocks the author, who registers the same commitment", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const args = contribution(5);
      // Mallory copies Alice's pending transaction and gets it mined first.
      const copy = datasetIdOf(w.data, await (await w.data.connect(w.mallory).contribute(args, NO_PERMIT)).wait());
      // On the old registry this reverted with DataRegistryDuplicateCommitment: the author was locked out.
      const original = datasetIdOf(w.data, await (await w.data.connect(w.alice).contribute(args, NO_PERMIT)).wait());
      expect(await w.data.datasetIdOf(w.mallory.address, args.commitment)).to.equal(copy);
      expect(await w.data.datasetIdOf(w.alice.address, args.commitment)).to.equal(original);
      // Validators open the key envelopes, find them sealed by Alice, not Mallory (DatasetValidator test), and reject.
      for (const v of w.honest) await w.data.connect(v).vote(copy, false, Reason.CommitmentMismatch);
      for (const v of w.honest) await w.data.connect(v).vote(original, true, Reason.Ok);
      expect((await w.data.datasetOf(copy)).status).to.equal(DatasetStatus.Rejected);
      expect((await w.data.datasetOf(original)).status).to.equal(DatasetStatus.Accepted);
      expect(await w.data.creditOf(w.mallory.address)).to.equal(0n); // the copier's bond stays in the pool
    });
  });

  describe("a contributor dodging the decision (issue 8 item 13)", () => {
    it("cannot withdraw once the committee is knowable, even before the first vote lands", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const id = datasetIdOf(w.data, await (await w.data.connect(w.alice).contribute(contribution(9), NO_PERMIT)).wait());
      // No vote yet (the old registry let this through), but from the next block every validator can know it is drawn.
      await networkHelpers.mine();
      expect(await w.data.isOnCommittee(id, w.honest[0].address)).to.equal(true);
      await expect(w.data.connect(w.alice).withdrawDataset(id))
        .to.be.revertedWithCustomError(w.data, "DataRegistryValidationStarted")
        .withArgs(id, (await w.data.validationOf(id)).seedBlock);
    });
  });

  describe("a validator", () => {
    it("that is not drawn cannot vote; one that is drawn but silent forfeits its reward", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      await w.data.setParams({ ...P, committeeSize: 1, quorum: 1 }); // each of 3 equal stakes drawn with p = 1/3
      let id = 0n;
      let outsider: (typeof w.honest)[number] | undefined;
      for (let seed = 100; outsider === undefined; ++seed) {
        id = datasetIdOf(w.data, await (await w.data.connect(w.alice).contribute(contribution(seed), NO_PERMIT)).wait());
        await networkHelpers.mine();
        const flags = await Promise.all(w.honest.map((v) => w.data.isOnCommittee(id, v.address)));
        if (flags.some((f) => f) && flags.some((f) => !f)) outsider = w.honest[flags.indexOf(false)];
      }
      await expect(w.data.connect(outsider).vote(id, true, Reason.Ok))
        .to.be.revertedWithCustomError(w.data, "DataRegistryNotDrawn")
        .withArgs(id, outsider.address);
      const drawn = [];
      for (const v of w.honest) if (await w.data.isOnCommittee(id, v.address)) drawn.push(v);
      await w.data.connect(drawn[0]).vote(id, true, Reason.Ok);
      await time.increaseTo((await w.data.datasetOf(id)).votingDeadline + 1n);
      await w.data.connect(w.anyone).finalize(id);
      expect((await w.data.datasetOf(id)).status).to.equal(DatasetStatus.Accepted);
      for (const v of drawn.slice(1)) expect(await w.data.creditOf(v.address)).to.equal(0n);
      expect(await w.data.creditOf(drawn[0].address)).to.be.greaterThan(0n);
    });

    it("cannot escape a dissent slash by unstaking after its vote: the stake stays until long after the deadline", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const id = datasetIdOf(w.data, await (await w.data.connect(w.alice).contribute(contribution(3), NO_PERMIT)).wait());
      await w.data.connect(w.honest[0]).vote(id, true, Reason.Ok);
      await w.workers.connect(w.honest[0]).requestUnstake();
      await w.data.connect(w.honest[1]).vote(id, false, Reason.Schema);
      await time.increase(3_600);
      await expect(w.workers.connect(w.honest[0]).withdrawStake()).to.be.revertedWithCustomError(w.workers, "WorkerRegistryStakeLocked");
      await w.data.connect(w.honest[2]).vote(id, false, Reason.Schema);
      expect((await w.workers.workerOf(w.honest[0].address)).stake).to.equal(HONEST_STAKE - (P.dissentSlash * 5_000n) / 1_000n);
    });
  });

  describe("anyone", () => {
    it("draws a committee nobody drew, and finalizes a dataset its committee left undecided", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const id = datasetIdOf(w.data, await (await w.data.connect(w.alice).contribute(contribution(4), NO_PERMIT)).wait());
      await expect(w.data.connect(w.anyone).drawCommittee(id)).to.emit(w.data, "CommitteeDrawn");
      await time.increaseTo((await w.data.datasetOf(id)).votingDeadline + 1n);
      await expect(w.data.connect(w.anyone).finalize(id))
        .to.emit(w.data, "Credited")
        .withArgs(w.alice.address, id, CreditReason.BondRefund, P.bond);
    });
  });

  describe("a royalty payer", () => {
    it("releases the deferred acceptance reward once, at the first royalty, and never beyond the pool", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const id = datasetIdOf(w.data, await (await w.data.connect(w.alice).contribute(contribution(8), NO_PERMIT)).wait());
      for (const v of w.honest) await w.data.connect(v).vote(id, true, Reason.Ok);
      const deferred = (await w.data.validationOf(id)).deferredReward;
      expect(deferred).to.equal(P.acceptReward - (P.acceptReward * BigInt(P.upfrontRewardBps)) / 10_000n);
      const first = w.data.connect(w.payer).creditRoyalties([id], [10], 1n);
      await expect(first).to.emit(w.data, "Credited").withArgs(w.alice.address, id, CreditReason.DeferredAcceptReward, deferred);
      await expect(w.data.connect(w.payer).creditRoyalties([id], [10], 1n)).not.to.emit(w.data, "Credited");
    });
  });

  describe("the admin", () => {
    it("cannot change the committee or quorum of a dataset already contributed", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const id = datasetIdOf(w.data, await (await w.data.connect(w.alice).contribute(contribution(2), NO_PERMIT)).wait());
      await w.data.setParams({ ...P, committeeSize: 1, quorum: 1 });
      for (const v of w.honest) expect(await w.data.isOnCommittee(id, v.address)).to.equal(true);
      const d = await w.data.datasetOf(id);
      expect([d.committeeSize, d.quorum]).to.deep.equal([15n, 8n]);
    });
  });
});
