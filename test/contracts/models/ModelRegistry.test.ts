import { expect } from "chai";
import { network } from "hardhat";
import { SAMPLE_CID, versionInput } from "../../helpers/tessera.js";

const { ethers, networkHelpers } = await network.create();

describe("ModelRegistry", () => {
  const VersionStatus = { None: 0n, Active: 1n, Deprecated: 2n };

  async function fixture() {
    const [owner, other, next] = await ethers.getSigners();
    const registry = await ethers.deployContract("ModelRegistry", [owner.address]);
    await registry.connect(owner).registerModel("mnist-mlp", "ipfs://meta");
    return { registry, owner, other, next };
  }

  it("registers models owned by the caller with sequential ids", async () => {
    const { registry, other } = await networkHelpers.loadFixture(fixture);
    await expect(registry.connect(other).registerModel("cnn", "ipfs://cnn"))
      .to.emit(registry, "ModelRegistered")
      .withArgs(2n, other.address, "cnn", "ipfs://cnn");
    const model = await registry.getModel(2n);
    expect(model.owner).to.equal(other.address);
    expect(model.name).to.equal("cnn");
    expect(model.metadataURI).to.equal("ipfs://cnn");
    expect(model.versionIds).to.deep.equal([]);
    expect(await registry.modelCount()).to.equal(2n);
    await expect(registry.getModel(3n)).to.be.revertedWithCustomError(registry, "ModelRegistryUnknownModel").withArgs(3n);
  });

  it("publishes versions with global ids starting at 1 and returns them in full", async () => {
    const { registry, owner } = await networkHelpers.loadFixture(fixture);
    const v = versionInput({ priceWei: 5n, priceToken: 6n, royaltyBps: 700 });
    await expect(registry.connect(owner).publishVersion(1n, v))
      .to.emit(registry, "VersionPublished")
      .withArgs(1n, 1n, v.contentHash, v.manifestCid, v.weightsCid, 5n, 6n, 700n);
    await registry.connect(owner).registerModel("second", "");
    expect(await registry.connect(owner).publishVersion.staticCall(2n, v)).to.equal(2n);
    await registry.connect(owner).publishVersion(2n, v);
    const got = await registry.getVersion(1n);
    expect(got.modelId).to.equal(1n);
    expect(got.owner).to.equal(owner.address);
    expect(got.status).to.equal(VersionStatus.Active);
    expect(got.royaltyBps).to.equal(700n);
    expect(got.priceWei).to.equal(5n);
    expect(got.priceToken).to.equal(6n);
    expect(got.shardCount).to.equal(1n);
    expect(got.contentHash).to.equal(v.contentHash);
    expect(got.manifestCid).to.equal(v.manifestCid);
    expect(got.weightsCid).to.equal(v.weightsCid);
    expect(got.inputShape).to.deep.equal([1n, 28n, 28n, 1n]);
    expect(got.outputShape).to.deep.equal([1n, 10n]);
    expect((await registry.getModel(2n)).versionIds).to.deep.equal([2n]);
    expect(await registry.versionCount()).to.equal(2n);
    expect(await registry.inferenceTerms(1n)).to.deep.equal([owner.address, 5n, 6n, 700n, true]);
    expect(await registry.inferenceTerms(9n)).to.deep.equal([ethers.ZeroAddress, 0n, 0n, 0n, false]);
    await expect(registry.getVersion(9n)).to.be.revertedWithCustomError(registry, "ModelRegistryUnknownVersion").withArgs(9n);
  });

  it("rejects bad versions: not owner, unknown model, royalty > 100%, empty CIDs", async () => {
    const { registry, owner, other } = await networkHelpers.loadFixture(fixture);
    await expect(registry.connect(other).publishVersion(1n, versionInput()))
      .to.be.revertedWithCustomError(registry, "ModelRegistryNotModelOwner")
      .withArgs(1n, other.address);
    await expect(registry.connect(owner).publishVersion(7n, versionInput()))
      .to.be.revertedWithCustomError(registry, "ModelRegistryUnknownModel")
      .withArgs(7n);
    await expect(registry.connect(owner).publishVersion(1n, versionInput({ royaltyBps: 10_001 })))
      .to.be.revertedWithCustomError(registry, "ModelRegistryRoyaltyTooHigh")
      .withArgs(10_001n);
    await expect(registry.connect(owner).publishVersion(1n, versionInput({ manifestCid: "0x" }))).to.be.revertedWithCustomError(
      registry,
      "ModelRegistryEmptyCid",
    );
    await expect(registry.connect(owner).publishVersion(1n, versionInput({ weightsCid: "0x" }))).to.be.revertedWithCustomError(
      registry,
      "ModelRegistryEmptyCid",
    );
    await registry.connect(owner).publishVersion(1n, versionInput({ royaltyBps: 10_000, manifestCid: SAMPLE_CID }));
  });

  it("stops at 2^24 version ids", async () => {
    const { registry, owner } = await networkHelpers.loadFixture(fixture);
    // Slot 0: Ownable's _owner; slot 1: Ownable2Step's _pendingOwner + _modelCount; slot 2: _versionCount.
    const address = await registry.getAddress();
    await networkHelpers.setStorageAt(address, 2, (1n << 24n) - 2n);
    expect(await registry.versionCount()).to.equal((1n << 24n) - 2n);
    await registry.connect(owner).publishVersion(1n, versionInput()); // id 2^24 - 1: the last one
    await expect(registry.connect(owner).publishVersion(1n, versionInput()))
      .to.be.revertedWithCustomError(registry, "ModelRegistryVersionIdOverflow")
      .withArgs(1n << 24n);
  });

  it("deprecates a version once, by the owner only", async () => {
    const { registry, owner, other } = await networkHelpers.loadFixture(fixture);
    await registry.connect(owner).publishVersion(1n, versionInput());
    await expect(registry.connect(other).deprecateVersion(1n))
      .to.be.revertedWithCustomError(registry, "ModelRegistryNotModelOwner")
      .withArgs(1n, other.address);
    await expect(registry.connect(owner).deprecateVersion(1n)).to.emit(registry, "VersionDeprecated").withArgs(1n, 1n);
    expect((await registry.inferenceTerms(1n))[4]).to.equal(false);
    expect((await registry.getVersion(1n)).status).to.equal(VersionStatus.Deprecated);
    await expect(registry.connect(owner).deprecateVersion(1n))
      .to.be.revertedWithCustomError(registry, "ModelRegistryVersionAlreadyDeprecated")
      .withArgs(1n);
    await expect(registry.connect(owner).deprecateVersion(5n))
      .to.be.revertedWithCustomError(registry, "ModelRegistryUnknownVersion")
      .withArgs(5n);
  });

  it("transfers ownership in two steps and moves every version's royalty receiver", async () => {
    const { registry, owner, other, next } = await networkHelpers.loadFixture(fixture);
    await registry.connect(owner).publishVersion(1n, versionInput());
    await registry.connect(owner).publishVersion(1n, versionInput());
    await expect(registry.connect(other).transferModelOwnership(1n, next.address))
      .to.be.revertedWithCustomError(registry, "ModelRegistryNotModelOwner")
      .withArgs(1n, other.address);
    await expect(registry.connect(owner).transferModelOwnership(1n, next.address))
      .to.emit(registry, "ModelOwnershipTransferStarted")
      .withArgs(1n, owner.address, next.address);
    expect((await registry.getModel(1n)).pendingOwner).to.equal(next.address);
    await expect(registry.connect(other).acceptModelOwnership(1n))
      .to.be.revertedWithCustomError(registry, "ModelRegistryNotPendingOwner")
      .withArgs(1n, other.address);
    await expect(registry.connect(next).acceptModelOwnership(1n))
      .to.emit(registry, "ModelOwnershipTransferred")
      .withArgs(1n, owner.address, next.address);
    expect((await registry.inferenceTerms(1n))[0]).to.equal(next.address);
    expect((await registry.inferenceTerms(2n))[0]).to.equal(next.address);
    expect((await registry.getModel(1n)).pendingOwner).to.equal(ethers.ZeroAddress);
  });

  it("lets its owner set the inference market once, before the first version", async () => {
    const { registry, owner, other, next } = await networkHelpers.loadFixture(fixture);
    expect(await registry.inferenceMarket()).to.equal(ethers.ZeroAddress);
    await expect(registry.connect(other).setInferenceMarket(next.address))
      .to.be.revertedWithCustomError(registry, "OwnableUnauthorizedAccount")
      .withArgs(other.address);
    await expect(registry.connect(owner).setInferenceMarket(ethers.ZeroAddress)).to.be.revertedWithCustomError(
      registry,
      "ModelRegistryZeroAddress",
    );
    await expect(registry.connect(owner).setInferenceMarket(next.address))
      .to.emit(registry, "InferenceMarketSet")
      .withArgs(next.address);
    expect(await registry.inferenceMarket()).to.equal(next.address);
    await expect(registry.connect(owner).setInferenceMarket(other.address))
      .to.be.revertedWithCustomError(registry, "ModelRegistryInferenceMarketAlreadySet")
      .withArgs(next.address);
  });

  it("refuses a market once versions exist (the market's cache of terms would miss them)", async () => {
    const { registry, owner, next } = await networkHelpers.loadFixture(fixture);
    await registry.connect(owner).publishVersion(1n, versionInput());
    await expect(registry.connect(owner).setInferenceMarket(next.address))
      .to.be.revertedWithCustomError(registry, "ModelRegistryVersionsAlreadyPublished")
      .withArgs(1n);
  });
});
