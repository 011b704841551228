import { expect } from "chai";
import { network } from "hardhat";
import { CAP_INFER, CAP_TRAIN, CAP_VALIDATE, MIN_STAKE, SAMPLE_PUBKEY, UNBONDING_DELAY } from "../../helpers/tessera.js";

const { ethers, networkHelpers } = await network.create();
const { time } = networkHelpers;

describe("WorkerRegistry", () => {
  const STAKE = MIN_STAKE * 3n;

  async function fixture() {
    const [admin, slasher, worker, other, recipient] = await ethers.getSigners();
    const token = await ethers.deployContract("TesseraToken", [admin.address, 10n ** 27n]);
    await token.grantRole(await token.MINTER_ROLE(), admin.address);
    const registry = await ethers.deployContract("WorkerRegistry", [
      admin.address,
      await token.getAddress(),
      MIN_STAKE,
      UNBONDING_DELAY,
    ]);
    await registry.grantRole(await registry.SLASHER_ROLE(), slasher.address);
    const registryAddress = await registry.getAddress();
    for (const s of [worker, other]) {
      await token.mint(s.address, STAKE * 10n);
      await token.connect(s).approve(registryAddress, ethers.MaxUint256);
    }
    return { token, registry, registryAddress, admin, slasher, worker, other, recipient };
  }

  async function registered() {
    const f = await fixture();
    await f.registry.connect(f.worker).register(STAKE, CAP_INFER, SAMPLE_PUBKEY, "https://w.example");
    await f.registry.connect(f.worker).setServedModels([1n, 2n], true);
    return f;
  }

  it("exposes its constants and parameters", async () => {
    const f = await networkHelpers.loadFixture(fixture);
    expect([await f.registry.CAP_TRAIN(), await f.registry.CAP_INFER(), await f.registry.CAP_VALIDATE()]).to.deep.equal([
      1n,
      2n,
      4n,
    ]);
    expect(await f.registry.minStake()).to.equal(MIN_STAKE);
    expect(await f.registry.unbondingDelay()).to.equal(BigInt(UNBONDING_DELAY));
    expect(await f.registry.stakingToken()).to.equal(await f.token.getAddress());
  });

  describe("register", () => {
    it("pulls the stake and records the profile", async () => {
      const f = await networkHelpers.loadFixture(fixture);
      const tx = f.registry.connect(f.worker).register(STAKE, CAP_INFER | CAP_TRAIN, SAMPLE_PUBKEY, "https://w.example");
      await expect(tx)
        .to.emit(f.registry, "WorkerRegistered")
        .withArgs(f.worker.address, STAKE, CAP_INFER | CAP_TRAIN, SAMPLE_PUBKEY, "https://w.example");
      await expect(tx).to.changeTokenBalances(ethers, f.token, [f.worker, f.registry], [-STAKE, STAKE]);
      const info = await f.registry.workerOf(f.worker.address);
      expect(info.stake).to.equal(STAKE);
      expect(info.capabilities).to.equal(BigInt(CAP_INFER | CAP_TRAIN));
      expect(info.registered).to.equal(true);
      expect(info.unstakeRequestedAt).to.equal(0n);
      expect(info.encryptionPublicKey).to.equal(SAMPLE_PUBKEY);
      expect(info.endpoint).to.equal("https://w.example");
    });

    it("rejects a double registration, a low stake, bad capabilities and a bad key", async () => {
      const f = await networkHelpers.loadFixture(registered);
      await expect(f.registry.connect(f.worker).register(STAKE, CAP_INFER, SAMPLE_PUBKEY, ""))
        .to.be.revertedWithCustomError(f.registry, "WorkerRegistryAlreadyRegistered")
        .withArgs(f.worker.address);
      await expect(f.registry.connect(f.other).register(MIN_STAKE - 1n, CAP_INFER, SAMPLE_PUBKEY, ""))
        .to.be.revertedWithCustomError(f.registry, "WorkerRegistryStakeBelowMinimum")
        .withArgs(MIN_STAKE - 1n, MIN_STAKE);
      for (const caps of [0, 8]) {
        await expect(f.registry.connect(f.other).register(STAKE, caps, SAMPLE_PUBKEY, ""))
          .to.be.revertedWithCustomError(f.registry, "WorkerRegistryInvalidCapabilities")
          .withArgs(caps);
      }
      for (const key of ["0x04" + "11".repeat(32), SAMPLE_PUBKEY + "00", "0x02"]) {
        await expect(f.registry.connect(f.other).register(STAKE, CAP_VALIDATE, key, "")).to.be.revertedWithCustomError(
          f.registry,
          "WorkerRegistryInvalidEncryptionKey",
        );
      }
    });
  });

  describe("profile, stake and served models", () => {
    it("updates the profile, adds stake and toggles served versions", async () => {
      const f = await networkHelpers.loadFixture(registered);
      const key3 = "0x03" + SAMPLE_PUBKEY.slice(4);
      await expect(f.registry.connect(f.worker).updateProfile(CAP_VALIDATE, key3, "tcp://x"))
        .to.emit(f.registry, "WorkerProfileUpdated")
        .withArgs(f.worker.address, CAP_VALIDATE, key3, "tcp://x");
      expect((await f.registry.workerOf(f.worker.address)).encryptionPublicKey).to.equal(key3);
      expect(await f.registry.isEligibleInferrer(f.worker.address, 1n)).to.equal(false); // no CAP_INFER now
      await f.registry.connect(f.worker).updateProfile(CAP_INFER, SAMPLE_PUBKEY, "");

      await expect(f.registry.connect(f.worker).addStake(5n))
        .to.emit(f.registry, "StakeAdded")
        .withArgs(f.worker.address, 5n, STAKE + 5n);
      await expect(f.registry.connect(f.worker).addStake(0)).to.be.revertedWithCustomError(
        f.registry,
        "WorkerRegistryZeroAmount",
      );

      expect(await f.registry.serves(f.worker.address, 2n)).to.equal(true);
      await expect(f.registry.connect(f.worker).setServedModels([2n], false))
        .to.emit(f.registry, "ServedModelsUpdated")
        .withArgs(f.worker.address, [2n], false);
      expect(await f.registry.isEligibleInferrer(f.worker.address, 2n)).to.equal(false);
      expect(await f.registry.isEligibleInferrer(f.worker.address, 1n)).to.equal(true);
    });

    it("keeps four served versions inline, more in overflow, and forgets them all on re-registration", async () => {
      const f = await networkHelpers.loadFixture(registered); // serves 1 and 2
      const big = 1n << 30n; // never a real version id, but the set accepts it
      await f.registry.connect(f.worker).setServedModels([3n, 4n, 5n, 6n, big, 1n], true);
      for (const v of [1n, 2n, 3n, 4n, 5n, 6n, big]) {
        expect(await f.registry.isEligibleInferrer(f.worker.address, v)).to.equal(true, `version ${v}`);
      }
      expect(await f.registry.serves(f.worker.address, 7n)).to.equal(false);
      expect(await f.registry.serves(f.worker.address, 0n)).to.equal(false);
      await f.registry.connect(f.worker).setServedModels([2n, 5n, 0n], false); // one inline, one overflow
      expect(await f.registry.serves(f.worker.address, 2n)).to.equal(false);
      expect(await f.registry.serves(f.worker.address, 5n)).to.equal(false);
      await f.registry.connect(f.worker).setServedModels([7n], true); // takes the freed inline entry
      for (const v of [1n, 3n, 4n, 6n, 7n, big]) {
        expect(await f.registry.serves(f.worker.address, v)).to.equal(true, `version ${v}`);
      }
      await f.registry.connect(f.worker).setServedModels([1n, 3n, 4n, 7n], false);
      expect(await f.registry.serves(f.worker.address, 6n)).to.equal(true);

      await f.registry.connect(f.worker).requestUnstake();
      await time.increase(UNBONDING_DELAY);
      await f.registry.connect(f.worker).withdrawStake();
      await f.registry.connect(f.worker).register(STAKE, CAP_INFER, SAMPLE_PUBKEY, "");
      for (const v of [1n, 6n, big]) expect(await f.registry.serves(f.worker.address, v)).to.equal(false);
      await f.registry.connect(f.worker).setServedModels([11n, 12n, 13n, 14n, 15n], true);
      expect(await f.registry.serves(f.worker.address, 6n)).to.equal(false);
      expect(await f.registry.serves(f.worker.address, 15n)).to.equal(true);
    });

    it("rejects profile and stake changes from strangers and unstaking workers", async () => {
      const f = await networkHelpers.loadFixture(registered);
      await expect(f.registry.connect(f.other).addStake(1n))
        .to.be.revertedWithCustomError(f.registry, "WorkerRegistryNotRegistered")
        .withArgs(f.other.address);
      await f.registry.connect(f.worker).requestUnstake();
      const at = await time.latest();
      await expect(f.registry.connect(f.worker).setServedModels([3n], true))
        .to.be.revertedWithCustomError(f.registry, "WorkerRegistryUnstaking")
        .withArgs(f.worker.address, at);
      await expect(f.registry.connect(f.worker).requestUnstake())
        .to.be.revertedWithCustomError(f.registry, "WorkerRegistryUnstaking")
        .withArgs(f.worker.address, at);
    });

    it("is eligible only with stake >= minStake", async () => {
      const f = await networkHelpers.loadFixture(registered);
      expect(await f.registry.isEligibleInferrer(f.worker.address, 1n)).to.equal(true);
      await expect(f.registry.setMinStake(STAKE + 1n)).to.emit(f.registry, "MinStakeUpdated").withArgs(STAKE + 1n);
      // Eligibility is one cached bit per worker: the new minimum applies once refreshed (anyone may call).
      expect(await f.registry.isEligibleInferrer(f.worker.address, 1n)).to.equal(true);
      await expect(f.registry.connect(f.other).refreshEligibility([f.worker.address, f.other.address]))
        .to.emit(f.registry, "StakeEligibilityRefreshed")
        .withArgs(f.worker.address, false);
      expect(await f.registry.isEligibleInferrer(f.worker.address, 1n)).to.equal(false);
      // Nothing changes: no event. Adding stake recomputes the bit.
      await expect(f.registry.refreshEligibility([f.worker.address])).not.to.emit(f.registry, "StakeEligibilityRefreshed");
      await f.registry.connect(f.worker).addStake(1n);
      expect(await f.registry.isEligibleInferrer(f.worker.address, 1n)).to.equal(true);
      await f.registry.setMinStake(STAKE);
      await expect(f.registry.refreshEligibility([f.worker.address])).not.to.emit(f.registry, "StakeEligibilityRefreshed");
      expect(await f.registry.isEligibleInferrer(f.other.address, 1n)).to.equal(false);
    });
  });

  describe("unstake and withdraw", () => {
    it("stops eligibility at once and releases the stake only after the delay", async () => {
      const f = await networkHelpers.loadFixture(registered);
      await expect(f.registry.connect(f.worker).withdrawStake())
        .to.be.revertedWithCustomError(f.registry, "WorkerRegistryUnstakeNotRequested")
        .withArgs(f.worker.address);
      const tx = f.registry.connect(f.worker).requestUnstake();
      const unlocksAt = BigInt((await time.latest()) + 1 + UNBONDING_DELAY);
      await expect(tx).to.emit(f.registry, "UnstakeRequested").withArgs(f.worker.address, unlocksAt);
      expect(await f.registry.isEligibleInferrer(f.worker.address, 1n)).to.equal(false);

      await time.setNextBlockTimestamp(unlocksAt - 1n);
      await expect(f.registry.connect(f.worker).withdrawStake())
        .to.be.revertedWithCustomError(f.registry, "WorkerRegistryStakeLocked")
        .withArgs(f.worker.address, unlocksAt);
      await time.setNextBlockTimestamp(unlocksAt);
      const w = f.registry.connect(f.worker).withdrawStake();
      await expect(w).to.emit(f.registry, "StakeWithdrawn").withArgs(f.worker.address, STAKE);
      await expect(w).to.changeTokenBalances(ethers, f.token, [f.worker, f.registry], [STAKE, -STAKE]);
      expect((await f.registry.workerOf(f.worker.address)).registered).to.equal(false);
      await expect(f.registry.connect(f.worker).withdrawStake())
        .to.be.revertedWithCustomError(f.registry, "WorkerRegistryNotRegistered")
        .withArgs(f.worker.address);
      await f.registry.connect(f.worker).register(STAKE, CAP_INFER, SAMPLE_PUBKEY, ""); // may come back
    });

    it("withdraws nothing but still deregisters a fully slashed worker", async () => {
      const f = await networkHelpers.loadFixture(registered);
      await f.registry.connect(f.slasher).slash(f.worker.address, STAKE, f.recipient.address);
      await f.registry.connect(f.worker).requestUnstake();
      await time.increase(UNBONDING_DELAY);
      await expect(f.registry.connect(f.worker).withdrawStake()).to.changeTokenBalance(ethers, f.token, f.worker, 0n);
    });
  });

  describe("slash", () => {
    it("takes min(amount, stake) to the recipient and never reverts for an under-staked worker", async () => {
      const f = await networkHelpers.loadFixture(registered);
      const tx = f.registry.connect(f.slasher).slash(f.worker.address, 100n, f.recipient.address);
      await expect(tx).to.emit(f.registry, "WorkerSlashed").withArgs(f.worker.address, f.recipient.address, 100n, 100n);
      await expect(tx).to.changeTokenBalances(ethers, f.token, [f.recipient, f.registry], [100n, -100n]);
      expect(await f.registry.connect(f.slasher).slash.staticCall(f.worker.address, STAKE * 2n, f.recipient.address)).to.equal(
        STAKE - 100n,
      );
      await expect(f.registry.connect(f.slasher).slash(f.worker.address, STAKE * 2n, f.recipient.address))
        .to.emit(f.registry, "WorkerSlashed")
        .withArgs(f.worker.address, f.recipient.address, STAKE * 2n, STAKE - 100n);
      expect(await f.registry.isEligibleInferrer(f.worker.address, 1n)).to.equal(false); // below minStake at once
      await expect(f.registry.connect(f.slasher).slash(f.other.address, 1n, f.recipient.address))
        .to.emit(f.registry, "WorkerSlashed")
        .withArgs(f.other.address, f.recipient.address, 1n, 0n);
    });

    it("is reserved to SLASHER_ROLE", async () => {
      const f = await networkHelpers.loadFixture(registered);
      await expect(f.registry.connect(f.other).slash(f.worker.address, 1n, f.other.address))
        .to.be.revertedWithCustomError(f.registry, "AccessControlUnauthorizedAccount")
        .withArgs(f.other.address, await f.registry.SLASHER_ROLE());
    });
  });

  describe("admin", () => {
    it("keeps the unbonding delay above its floor", async () => {
      const f = await networkHelpers.loadFixture(fixture);
      const floor = await f.registry.MIN_UNBONDING_DELAY();
      await expect(f.registry.setUnbondingDelay(floor - 1n))
        .to.be.revertedWithCustomError(f.registry, "WorkerRegistryUnbondingDelayTooShort")
        .withArgs(floor - 1n, floor);
      await expect(f.registry.setUnbondingDelay(floor)).to.emit(f.registry, "UnbondingDelayUpdated").withArgs(floor);
      await expect(f.registry.connect(f.other).setMinStake(1n)).to.be.revertedWithCustomError(
        f.registry,
        "AccessControlUnauthorizedAccount",
      );
      await expect(f.registry.connect(f.other).setUnbondingDelay(floor)).to.be.revertedWithCustomError(
        f.registry,
        "AccessControlUnauthorizedAccount",
      );
    });
  });
});
