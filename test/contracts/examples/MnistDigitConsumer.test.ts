import { expect } from "chai";
import { network } from "hardhat";
import {
  DEFAULT_PARAMS,
  ETH,
  InputKind,
  OutputKind,
  deployTessera,
  registerInferrer,
  requestsOf,
  versionInput,
} from "../../helpers/tessera.js";

const { ethers, networkHelpers } = await network.create();
const { time } = networkHelpers;

describe("MnistDigitConsumer", () => {
  const GAS_LIMIT = 80_000;
  const FEE = 10n ** 15n + BigInt(GAS_LIMIT) * DEFAULT_PARAMS.callbackGasPriceWei;
  const PIXELS = "0x" + "00".repeat(392) + "ff".repeat(392);

  async function fixture() {
    const [admin, treasury, owner, worker, alice, stranger] = await ethers.getSigners();
    const d = await deployTessera(ethers, admin, treasury.address);
    await d.models.connect(owner).registerModel("mnist-cnn", "ipfs://meta");
    await d.models.connect(owner).publishVersion(1n, versionInput());
    await registerInferrer(d, worker, [1n]);
    const consumer = await ethers.deployContract("MnistDigitConsumer", [await d.market.getAddress()], admin);
    return { ...d, consumer, admin, worker, alice, stranger };
  }

  async function ask(f: Awaited<ReturnType<typeof fixture>>) {
    const deadline = (await time.latest()) + 600;
    const tx = await f.consumer.connect(f.alice).ask(1n, PIXELS, deadline, GAS_LIMIT, { value: FEE });
    return requestsOf(f.market, await tx.wait())[0];
  }

  it("forwards the image and the fee to the market as an inline request", async () => {
    const f = await networkHelpers.loadFixture(fixture);
    const deadline = (await time.latest()) + 600;
    const tx = f.consumer.connect(f.alice).ask(1n, PIXELS, deadline, GAS_LIMIT, { value: FEE });
    await expect(tx).to.changeEtherBalances(ethers, [f.alice, f.market], [-FEE, FEE]);
    const [{ requestId, request }] = requestsOf(f.market, await (await tx).wait());
    await expect(tx)
      .to.emit(f.market, "InferenceRequested")
      .withArgs(requestId, await f.consumer.getAddress(), Object.values(request), InputKind.Inline, PIXELS);
    await expect(tx).to.emit(f.consumer, "DigitAsked").withArgs(requestId, f.alice.address);
    expect(request.inputHash).to.equal(ethers.keccak256(PIXELS));
  });

  it("stores the digit the worker delivers through the callback", async () => {
    const f = await networkHelpers.loadFixture(fixture);
    const r = await ask(f);
    await f.market.connect(f.worker).claim(r.requestId);
    const output = "0x07" + "00".repeat(9);
    await expect(f.market.connect(f.worker).fulfill(r.request, OutputKind.Inline, output, ethers.keccak256(output)))
      .to.emit(f.consumer, "DigitAnswered")
      .withArgs(r.requestId, 7n);
    expect(await f.consumer.answerOf(r.requestId)).to.deep.equal([7n, true]);
  });

  it("accepts callbacks from the market only, and 784-pixel images only", async () => {
    const f = await networkHelpers.loadFixture(fixture);
    await expect(f.consumer.connect(f.stranger).onInferenceResult(1n, "0x01"))
      .to.be.revertedWithCustomError(f.consumer, "MnistDigitConsumerNotMarket")
      .withArgs(f.stranger.address);
    await expect(f.consumer.ask(1n, "0x00", (await time.latest()) + 600, GAS_LIMIT, { value: FEE }))
      .to.be.revertedWithCustomError(f.consumer, "MnistDigitConsumerBadImage")
      .withArgs(1n);
  });

  it("lets its deployer collect refunds of expired requests", async () => {
    const f = await networkHelpers.loadFixture(fixture);
    const r = await ask(f);
    await time.increaseTo(r.request.deadline + 1n);
    await f.market.refund(r.request);
    expect(await f.market.creditOf(await f.consumer.getAddress(), ETH)).to.equal(FEE);
    await expect(f.consumer.connect(f.stranger).collectRefunds())
      .to.be.revertedWithCustomError(f.consumer, "MnistDigitConsumerNotOwner")
      .withArgs(f.stranger.address);
    await expect(f.consumer.connect(f.admin).collectRefunds()).to.changeEtherBalances(
      ethers,
      [f.admin, f.market],
      [FEE, -FEE],
    );
  });
});
