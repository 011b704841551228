import { expect } from "chai";
import { network } from "hardhat";

const { ethers, networkHelpers } = await network.create();

describe("TesseraToken", () => {
  async function fixture() {
    const [admin, minter, alice] = await ethers.getSigners();
    const token = await ethers.deployContract("TesseraToken", [admin.address, ethers.parseEther("1000")]);
    await token.grantRole(await token.MINTER_ROLE(), minter.address);
    return { token, admin, minter, alice };
  }

  it("mints up to the cap and no further", async () => {
    const { token, minter, alice } = await networkHelpers.loadFixture(fixture);
    await expect(token.connect(minter).mint(alice.address, ethers.parseEther("1000")))
      .to.emit(token, "Transfer")
      .withArgs(ethers.ZeroAddress, alice.address, ethers.parseEther("1000"));
    await expect(token.connect(minter).mint(alice.address, 1n))
      .to.be.revertedWithCustomError(token, "ERC20ExceededCap")
      .withArgs(ethers.parseEther("1000") + 1n, ethers.parseEther("1000"));
  });
});
