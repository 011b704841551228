import { expect } from "chai";
import { network } from "hardhat";
import TesseraTrainingModule from "../../ignition/modules/TesseraTraining.js";

const { ethers, ignition } = await network.create();

describe("Ignition: TesseraTraining module", () => {
  it("deploys TrainingJobs on TesseraData, as a slasher, stake locker and royalty payer", async () => {
    const [admin] = await ethers.getSigners();
    const { token, workerRegistry, modelRegistry, dataRegistry, inferenceMarket, trainingJobs } = await ignition.deploy(
      TesseraTrainingModule
    );
    const registry = await ethers.getContractAt("WorkerRegistry", await workerRegistry.getAddress());
    const data = await ethers.getContractAt("DataRegistry", await dataRegistry.getAddress());
    const jobs = await ethers.getContractAt("TrainingJobs", await trainingJobs.getAddress());
    const jobsAddress = await jobs.getAddress();
    const slasher = await registry.SLASHER_ROLE();
    expect(await registry.hasRole(slasher, jobsAddress)).to.equal(true);
    expect(await registry.hasRole(slasher, await data.getAddress())).to.equal(true);
    expect(await registry.hasRole(slasher, await inferenceMarket.getAddress())).to.equal(true);
    expect(await data.hasRole(await data.ROYALTY_PAYER_ROLE(), jobsAddress)).to.equal(true);
    expect(await registry.hasRole(await registry.STAKE_LOCKER_ROLE(), jobsAddress)).to.equal(true);
    expect(await jobs.token()).to.equal(await token.getAddress());
    expect(await jobs.workerRegistry()).to.equal(await workerRegistry.getAddress());
    expect(await jobs.dataRegistry()).to.equal(await data.getAddress());
    expect(await jobs.modelRegistry()).to.equal(await modelRegistry.getAddress());
    const market = await ethers.getContractAt("InferenceMarket", await inferenceMarket.getAddress());
    expect([...(await jobs.params())]).to.deep.equal([await market.treasury(), 10n * 10n ** 18n, 10n ** 18n]);
    expect(await jobs.hasRole(await jobs.DEFAULT_ADMIN_ROLE(), admin.address)).to.equal(true);
  });
});
