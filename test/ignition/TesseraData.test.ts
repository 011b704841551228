import { expect } from "chai";
import { network } from "hardhat";
import TesseraDataModule from "../../ignition/modules/TesseraData.js";

const { ethers, ignition } = await network.create();

describe("Ignition: TesseraData module", () => {
  it("deploys the DataRegistry on the core, wired to its token and registry, as a slasher", async () => {
    const [admin] = await ethers.getSigners();
    const { token, workerRegistry, inferenceMarket, dataRegistry } = await ignition.deploy(TesseraDataModule);
    const registry = await ethers.getContractAt("WorkerRegistry", await workerRegistry.getAddress());
    const data = await ethers.getContractAt("DataRegistry", await dataRegistry.getAddress());
    const slasher = await registry.SLASHER_ROLE();
    expect(await registry.hasRole(slasher, await data.getAddress())).to.equal(true);
    expect(await registry.hasRole(slasher, await inferenceMarket.getAddress())).to.equal(true);
    expect(await data.token()).to.equal(await token.getAddress());
    expect(await data.workerRegistry()).to.equal(await workerRegistry.getAddress());
    const params = await data.params();
    expect([params.quorum, params.committeeSize, params.upfrontRewardBps]).to.deep.equal([8n, 15n, 2_000n]);
    expect(await data.hasRole(await data.DEFAULT_ADMIN_ROLE(), admin.address)).to.equal(true);
  });
});
