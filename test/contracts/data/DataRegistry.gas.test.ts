import { expect } from "chai";
import hre, { network } from "hardhat";
import { deployTessera, signPermit } from "../../helpers/tessera.js";
import {
  DEFAULT_DATA_PARAMS,
  NO_PERMIT,
  Reason,
  TOKEN,
  contribution,
  datasetIdOf,
  deployDataRegistry,
  registerValidator,
} from "../../helpers/data.js";

const { ethers, networkHelpers } = await network.create();
// Coverage instrumentation adds gas: the figures are only meaningful (and bounded) without it.
const measuring = !hre.globalOptions.coverage;

/** Gas of the DataRegistry's external functions on the in-process chain (cancun). Printed and bounded. */
describe("DataRegistry gas", () => {
  const report: Record<string, number> = {};

  async function fixture() {
    const [admin, treasury, alice, v1, v2, v3, payer] = await ethers.getSigners();
    const d = await deployTessera(ethers, admin, treasury.address);
    const data = await deployDataRegistry(ethers, d, admin);
    for (const v of [v1, v2, v3]) await registerValidator(d, v);
    await data.grantRole(await data.ROYALTY_PAYER_ROLE(), payer.address);
    for (const who of [admin, alice, payer]) {
      await d.token.mint(who.address, 10_000n * TOKEN);
      await d.token.connect(who).approve(await data.getAddress(), ethers.MaxUint256);
    }
    await data.fundRewardPool(1_000n * TOKEN);
    return { ...d, data, alice, v1, v2, v3, payer };
  }
  type World = Awaited<ReturnType<typeof fixture>>;

  async function gasOf(tx: Promise<{ wait(): Promise<{ gasUsed: bigint } | null> }>): Promise<number> {
    return Number((await (await tx).wait())!.gasUsed);
  }

  async function contribute(w: World, seed: number) {
    const tx = await w.data.connect(w.alice).contribute(contribution(seed), NO_PERMIT);
    return datasetIdOf(w.data, await tx.wait());
  }

  it("contribute (permit, steady state) and contribute (allowance)", async () => {
    const w = await networkHelpers.loadFixture(fixture);
    await contribute(w, 1); // the contributor and the registry already hold tokens, as in a live registry
    await w.token.connect(w.alice).approve(await w.data.getAddress(), 0n);
    const deadline = BigInt((await networkHelpers.time.latest()) + 3600);
    const spender = await w.data.getAddress();
    const sig = await signPermit(w.token, w.alice, spender, DEFAULT_DATA_PARAMS.bond, deadline);
    report["contribute (permit, 36-byte CIDs)"] = await gasOf(
      w.data
        .connect(w.alice)
        .contribute(contribution(2), { value: DEFAULT_DATA_PARAMS.bond, deadline, v: sig.v, r: sig.r, s: sig.s }),
    );
    await w.token.connect(w.alice).approve(spender, ethers.MaxUint256);
    report["contribute (allowance, 36-byte CIDs)"] = await gasOf(
      w.data.connect(w.alice).contribute(contribution(3), NO_PERMIT),
    );
    if (measuring) expect(report["contribute (permit, 36-byte CIDs)"]).to.be.lessThan(250_000);
  });

  it("vote: first (draws the committee), middle, last settling an accept, last settling a reject with a slash", async () => {
    const w = await networkHelpers.loadFixture(fixture);
    const warm = await contribute(w, 10); // validators and contributor already hold credit
    for (const v of [w.v1, w.v2, w.v3]) await w.data.connect(v).vote(warm, true, Reason.Ok);

    const a = await contribute(w, 11);
    report["vote (1st: draws the committee)"] = await gasOf(w.data.connect(w.v1).vote(a, true, Reason.Ok));
    report["vote (2nd of 3)"] = await gasOf(w.data.connect(w.v2).vote(a, true, Reason.Ok));
    report["vote (last of 3: settles accept, 4 credits)"] = await gasOf(w.data.connect(w.v3).vote(a, true, Reason.Ok));

    const r = await contribute(w, 12);
    await w.data.connect(w.v3).vote(r, true, Reason.Ok);
    await w.data.connect(w.v1).vote(r, false, Reason.Schema);
    report["vote (last of 3: settles reject, slashes 1 dissenter)"] = await gasOf(
      w.data.connect(w.v2).vote(r, false, Reason.Schema),
    );
    if (measuring) {
      expect(report["vote (2nd of 3)"]).to.be.lessThan(100_000);
      expect(report["vote (last of 3: settles accept, 4 credits)"]).to.be.lessThan(200_000);
    }
  });

  it("drawCommittee, finalize, withdrawDataset, creditRoyalties, fundRewardPool, withdraw", async () => {
    const w = await networkHelpers.loadFixture(fixture);
    const undecided = await contribute(w, 20);
    const decided = await contribute(w, 21);
    const used = await contribute(w, 22);
    for (const v of [w.v1, w.v2, w.v3]) await w.data.connect(v).vote(used, true, Reason.Ok);
    report["drawCommittee"] = await gasOf(w.data.drawCommittee(undecided));
    await w.data.connect(w.v1).vote(decided, true, Reason.Ok);
    await w.data.connect(w.v2).vote(decided, true, Reason.Ok);
    report["creditRoyalties (1 dataset, first use: deferred reward)"] = await gasOf(
      w.data.connect(w.payer).creditRoyalties([used], [100], TOKEN),
    );
    report["creditRoyalties (1 dataset, later use)"] = await gasOf(w.data.connect(w.payer).creditRoyalties([used], [100], TOKEN));
    report["fundRewardPool"] = await gasOf(w.data.fundRewardPool(TOKEN));
    await networkHelpers.time.increase(DEFAULT_DATA_PARAMS.votingPeriod + 1);
    report["finalize (undecided)"] = await gasOf(w.data.finalize(undecided));
    report["finalize (accept by 2 of 3, 3 credits)"] = await gasOf(w.data.finalize(decided));
    const expired = await contribute(w, 23);
    await networkHelpers.mine(257);
    report["withdrawDataset (pending, seed expired undrawn)"] = await gasOf(w.data.connect(w.alice).withdrawDataset(expired));
    report["withdraw"] = await gasOf(w.data.connect(w.alice).withdraw());
  });

  after(() => {
    if (measuring) console.table(report);
  });
});
