import { expect } from "chai";
import { network } from "hardhat";
import TesseraModule from "../../ignition/modules/Tessera.js";

const { ethers, ignition } = await network.create();

describe("Ignition: Tessera module", () => {
  it("deploys the token, registries and market, makes the market a slasher and the registry's terms sink", async () => {
    const [admin] = await ethers.getSigners();
    const { token, workerRegistry, modelRegistry, inferenceMarket } = await ignition.deploy(TesseraModule);
    const registry = await ethers.getContractAt("WorkerRegistry", await workerRegistry.getAddress());
    const market = await ethers.getContractAt("InferenceMarket", await inferenceMarket.getAddress());
    expect(await registry.hasRole(await registry.SLASHER_ROLE(), await market.getAddress())).to.equal(true);
    expect(await market.paymentToken()).to.equal(await token.getAddress());
    expect(await market.modelRegistry()).to.equal(await modelRegistry.getAddress());
    expect(await market.treasury()).to.equal(admin.address);
    expect(await market.claimWindow()).to.equal(60n);
    const models = await ethers.getContractAt("ModelRegistry", await modelRegistry.getAddress());
    expect(await models.inferenceMarket()).to.equal(await market.getAddress());
    expect(await models.owner()).to.equal(admin.address);
    expect(await market.hasRole(await market.DEFAULT_ADMIN_ROLE(), admin.address)).to.equal(true);
  });
});
