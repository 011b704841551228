import { expect } from "chai";
import { network } from "hardhat";
import { CAP_TRAIN, CAP_VALIDATE, MIN_STAKE, SAMPLE_PUBKEY, UNBONDING_DELAY } from "../../helpers/tessera.js";

const { ethers, networkHelpers } = await network.create();

/**
 * Validator stake history (OpenZeppelin Checkpoints, by block number): the stake that counts for DataRegistry
 * committees is a worker's stake while it has CAP_VALIDATE, meets the minimum stake and is not unstaking.
 */
describe("WorkerRegistry validator stake history", () => {
  const STAKE = MIN_STAKE * 3n;

  async function fixture() {
    const [admin, slasher, v1, v2, trainer, recipient] = await ethers.getSigners();
    const token = await ethers.deployContract("TesseraToken", [admin.address, 10n ** 27n]);
    await token.grantRole(await token.MINTER_ROLE(), admin.address);
    const registry = await ethers.deployContract("WorkerRegistry", [admin.address, await token.getAddress(), MIN_STAKE, UNBONDING_DELAY]);
    await registry.grantRole(await registry.SLASHER_ROLE(), slasher.address);
    for (const s of [v1, v2, trainer]) {
      await token.mint(s.address, STAKE * 10n);
      await token.connect(s).approve(await registry.getAddress(), ethers.MaxUint256);
    }
    return { token, registry, admin, slasher, v1, v2, trainer, recipient };
  }

  const blockOf = async (tx: Promise<{ wait(): Promise<{ blockNumber: number } | null> }>) => (await (await tx).wait())!.blockNumber;

  it("checkpoints every change and answers for past blocks only", async () => {
    const f = await networkHelpers.loadFixture(fixture);
    const r = f.registry;
    const registered = await blockOf(r.connect(f.v1).register(STAKE, CAP_VALIDATE, SAMPLE_PUBKEY, ""));
    await expect(r.connect(f.v2).register(STAKE, CAP_VALIDATE | CAP_TRAIN, SAMPLE_PUBKEY, ""))
      .to.emit(r, "ValidatorStakeCheckpointed")
      .withArgs(f.v2.address, STAKE, 2n * STAKE);
    // A worker without CAP_VALIDATE holds no validator stake.
    await expect(r.connect(f.trainer).register(STAKE, CAP_TRAIN, SAMPLE_PUBKEY, "")).not.to.emit(r, "ValidatorStakeCheckpointed");
    const added = await blockOf(r.connect(f.v1).addStake(MIN_STAKE));
    const slashed = await blockOf(r.connect(f.slasher).slash(f.v2.address, MIN_STAKE, f.recipient.address));
    const dropped = await blockOf(r.connect(f.v2).updateProfile(CAP_TRAIN, SAMPLE_PUBKEY, ""));
    const unstaking = await blockOf(r.connect(f.v1).requestUnstake());
    await networkHelpers.mine();

    const at = async (block: number) => [
      await r.validatorStakeAt(f.v1.address, block),
      await r.validatorStakeAt(f.v2.address, block),
      await r.totalValidatorStakeAt(block),
    ];
    expect(await at(registered - 1)).to.deep.equal([0n, 0n, 0n]);
    expect(await at(registered)).to.deep.equal([STAKE, 0n, STAKE]);
    expect(await at(added)).to.deep.equal([STAKE + MIN_STAKE, STAKE, 2n * STAKE + MIN_STAKE]);
    expect(await at(slashed)).to.deep.equal([STAKE + MIN_STAKE, STAKE - MIN_STAKE, 2n * STAKE]);
    expect(await at(dropped)).to.deep.equal([STAKE + MIN_STAKE, 0n, STAKE + MIN_STAKE]);
    expect(await at(unstaking)).to.deep.equal([0n, 0n, 0n]);
    expect([await r.validatorStake(f.v1.address), await r.totalValidatorStake()]).to.deep.equal([0n, 0n]);

    const current = await ethers.provider.getBlockNumber();
    await expect(r.validatorStakeAt(f.v1.address, current + 1))
      .to.be.revertedWithCustomError(r, "WorkerRegistryFutureLookup")
      .withArgs(current + 1, current);
    await expect(r.totalValidatorStakeAt(current + 5))
      .to.be.revertedWithCustomError(r, "WorkerRegistryFutureLookup")
      .withArgs(current + 5, current);
  });

  it("drops a worker below a raised minimum stake once its eligibility is refreshed, and a slash below it at once", async () => {
    const f = await networkHelpers.loadFixture(fixture);
    const r = f.registry;
    await r.connect(f.v1).register(STAKE, CAP_VALIDATE, SAMPLE_PUBKEY, "");
    await r.connect(f.v2).register(MIN_STAKE, CAP_VALIDATE, SAMPLE_PUBKEY, "");
    await r.setMinStake(MIN_STAKE * 2n);
    expect(await r.totalValidatorStake()).to.equal(STAKE + MIN_STAKE); // cached eligibility until refreshed
    await expect(r.refreshEligibility([f.v2.address]))
      .to.emit(r, "ValidatorStakeCheckpointed")
      .withArgs(f.v2.address, 0n, STAKE);
    await expect(r.connect(f.slasher).slash(f.v1.address, STAKE - MIN_STAKE, f.recipient.address))
      .to.emit(r, "ValidatorStakeCheckpointed")
      .withArgs(f.v1.address, 0n, 0n);
  });
});
