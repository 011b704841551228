import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { formatEther } from "ethers";
import hre from "hardhat";
import { HardhatPluginError } from "hardhat/plugins";
import type { NetworkConnection } from "hardhat/types/network";
import type { MintResult } from "../../tasks/tessera/mint.js";
import type { PublishResult } from "../../tasks/model/publish.js";
import type { VersionView } from "../../tasks/model/show.js";
import type { RegisterResult } from "../../tasks/worker/register.js";
import type { RequestResult } from "../../tasks/infer/request.js";
import type { StatusResult } from "../../tasks/infer/status.js";
import type { RefundResult } from "../../tasks/infer/refund.js";
import type { BalanceResult } from "../../tasks/market/balance.js";
import type { WithdrawResult } from "../../tasks/market/withdraw.js";
import {
  DataRegistry__factory,
  InferenceMarket__factory,
  TesseraToken__factory,
  ModelRegistry__factory,
  TrainingJobs__factory,
  WorkerRegistry__factory,
} from "../../typechain-types/index.js";
import { toEventPayload } from "../../worker/src/chain/EventPayload.js";
import { TxSender } from "../../worker/src/chain/TxSender.js";
import type { Deployment } from "../../worker/src/Deployment.js";
import { InferenceProcessor } from "../../worker/src/inference/InferenceProcessor.js";
import { parsePendingInference } from "../../worker/src/inference/PendingInference.js";
import { EmbeddedContentStore } from "../../worker/src/ipfs/EmbeddedContentStore.js";
import { encodeImage, predictClasses } from "../../worker/src/ml/InferenceCodec.js";
import { MNIST_PIXELS, loadMnist } from "../../worker/src/ml/MnistDataset.js";
import { ModelCache } from "../../worker/src/ml/ModelCache.js";
import { loadPublishedModel } from "../../worker/src/ml/ModelArtifacts.js";
import { MNIST_SPLIT } from "../../tasks/lib/Defaults.js";
import { Session } from "../../tasks/lib/Session.js";
import { runTask, taskFailure } from "../helpers/taskRunner.js";

const ETH = "0x0000000000000000000000000000000000000000";
const PRICE_WEI = 10n ** 14n;
const PRICE_TOKEN = 10n ** 17n;
const ROYALTY_BPS = 1_000n;
const PROTOCOL_FEE_BPS = 250n;

/**
 * The tasks people run, end to end on the in-process chain they share with this test
 * (`network.getOrCreate()`): deploy -> model publish -> worker register -> infer request ->
 * a worker answers -> infer status -> an expired request refunded -> market withdraw.
 */
describe("Hardhat tasks: deploy, publish, register, request, status, refund, withdraw", function () {
  this.timeout(120_000);
  let dir: string;
  let deploymentPath: string;
  let connection: NetworkConnection;
  let deployment: Deployment;
  let published: PublishResult;
  const common = () => ({ deployment: deploymentPath });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "tessera-tasks-"));
    deploymentPath = join(dir, "deployment.json");
    connection = await hre.network.getOrCreate();
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  const contracts = () => {
    const { provider } = connection.ethers;
    return {
      token: TesseraToken__factory.connect(deployment.contracts.TesseraToken, provider),
      market: InferenceMarket__factory.connect(deployment.contracts.InferenceMarket, provider),
      modelRegistry: ModelRegistry__factory.connect(deployment.contracts.ModelRegistry, provider),
      workerRegistry: WorkerRegistry__factory.connect(deployment.contracts.WorkerRegistry, provider),
    };
  };
  const signers = async () => {
    const [admin, worker, owner, treasury, alice, bob, carol] = await connection.ethers.getSigners();
    return { admin, worker, owner, treasury, alice, bob, carol };
  };
  async function mintTsr(to: string, amount: bigint): Promise<void> {
    await runTask(hre, ["tessera", "mint"], { ...common(), to, amount: formatEther(amount) });
  }

  it("fails clearly without a deployment file", async () => {
    const err = await taskFailure(hre, ["model", "show"], { deployment: join(dir, "missing.json"), versionId: "1" });
    expect(err).to.be.instanceOf(HardhatPluginError);
    expect(err.message).to.match(/cannot read the deployment file .*missing\.json/).and.match(/tessera deploy/);
    const invalid = join(dir, "invalid.json");
    writeFileSync(invalid, JSON.stringify({ chainId: 31337, contracts: {} }));
    const bad = await taskFailure(hre, ["infer", "status"], { deployment: invalid, id: "1" });
    expect(bad.message).to.match(/invalid .*invalid\.json/).and.match(/startBlock/);
  });

  it("tessera deploy: deploys with Ignition and writes the deployment file", async () => {
    const { treasury } = await signers();
    const bad = await taskFailure(hre, ["tessera", "deploy"], { ...common(), treasury: "0x1234" });
    expect(bad.message).to.equal('--treasury: "0x1234" is not an address');

    const before = await connection.ethers.provider.getBlockNumber();
    const { result, output } = await runTask<Deployment>(hre, ["tessera", "deploy"], { ...common(), treasury: treasury.address });
    deployment = JSON.parse(readFileSync(deploymentPath, "utf8"));
    expect(deployment).to.deep.equal(result);
    expect(deployment.startBlock).to.equal(before);
    expect(deployment.chainId).to.equal(31337);
    for (const address of Object.values(deployment.contracts)) {
      expect(await connection.ethers.provider.getCode(address)).to.not.equal("0x");
      expect(output).to.include(address);
    }
    expect(await contracts().market.treasury()).to.equal(treasury.address);

    // The TesseraTraining module: TrainingJobs on the DataRegistry, allowed to slash and to pay royalties.
    const { TrainingJobs: jobsAddress, DataRegistry: dataAddress } = deployment.contracts;
    expect(jobsAddress).to.be.a("string");
    expect(output).to.include(`TrainingJobs`);
    const { provider } = connection.ethers;
    const jobs = TrainingJobs__factory.connect(jobsAddress!, provider);
    const data = DataRegistry__factory.connect(dataAddress!, provider);
    const { workerRegistry, modelRegistry, token } = contracts();
    expect(await jobs.dataRegistry()).to.equal(dataAddress);
    expect(await jobs.workerRegistry()).to.equal(await workerRegistry.getAddress());
    expect(await jobs.modelRegistry()).to.equal(await modelRegistry.getAddress());
    expect(await jobs.token()).to.equal(await token.getAddress());
    expect(await workerRegistry.hasRole(await workerRegistry.SLASHER_ROLE(), jobsAddress!)).to.equal(true);
    expect(await data.hasRole(await data.ROYALTY_PAYER_ROLE(), jobsAddress!)).to.equal(true);
  });

  it("model publish: trains, publishes to IPFS and registers a version; model show prints it", async () => {
    const { owner } = await signers();
    const run = await runTask<PublishResult>(hre, ["model", "publish"], { ...common(), dataDir: dir, account: "2", name: "mnist-2nn", epochs: 1 });
    published = run.result;
    expect(published.modelId).to.equal(1n);
    expect(published.versionId).to.equal(1n);
    expect(published.testAccuracy).to.be.greaterThan(0.85);
    for (const text of [published.manifestCid, published.weightsCid, published.contentHash, "held-out accuracy", "0.0001 ETH or 0.1 TSR"]) {
      expect(run.output).to.include(text);
    }
    const store = await EmbeddedContentStore.open(join(dir, "ipfs"));
    expect(await store.has(published.manifestCid)).to.equal(true);
    expect(await store.has(published.weightsCid)).to.equal(true);
    await store.close();

    const shown = await runTask<VersionView>(hre, ["model", "show"], { ...common(), versionId: "1" });
    expect(shown.result).to.include({ owner: owner.address, status: "Active", priceWei: PRICE_WEI, priceToken: PRICE_TOKEN, royaltyBps: 1000 });
    expect(shown.result.manifestCid).to.equal(published.manifestCid);
    expect(shown.result.weightsCid).to.equal(published.weightsCid);
    expect(shown.result.contentHash).to.equal(published.contentHash);
    expect(shown.result.inputShape).to.deep.equal([784]);
    expect(shown.result.provenance).to.equal(undefined); // published by its owner, not trained by a job
    expect(shown.output).to.include(published.manifestCid).and.include("[784]").and.include("[10]");

    const unknown = await taskFailure(hre, ["model", "show"], { ...common(), versionId: "99" });
    expect(unknown.message).to.match(/unknown model version 99/);
  });

  it("worker register: approves, stakes and serves the version; then tops up", async () => {
    const { worker } = await signers();
    const { workerRegistry, token } = contracts();
    const minted = await runTask<MintResult>(hre, ["tessera", "mint"], { ...common(), to: "1", amount: "3000" });
    expect(minted.result).to.include({ to: worker.address, amount: 3_000n * 10n ** 18n });
    expect(minted.result.txHashes).to.have.length(2); // grantRole to the admin itself, mint
    expect(minted.output).to.include(`Minted 3000.0 TSR to ${worker.address}`);
    const notMinter = await taskFailure(hre, ["tessera", "mint"], { ...common(), account: "5", to: "5", amount: "1" });
    expect(notMinter.message).to.match(/neither MINTER_ROLE nor the token's admin role/);
    const tooLow = await taskFailure(hre, ["worker", "register"], { ...common(), stake: "10", serve: "1" });
    expect(tooLow.message).to.match(/below the minimum stake 1000\.0 TSR/);
    const unknown = await taskFailure(hre, ["worker", "register"], { ...common(), stake: "2000", serve: "1,7" });
    expect(unknown.message).to.equal("--serve: unknown model version 7");

    const { result, output } = await runTask<RegisterResult>(hre, ["worker", "register"], { ...common(), stake: "2000", serve: "1", endpoint: "https://worker.example" });
    expect(result.worker).to.equal(worker.address);
    expect(result.txHashes).to.have.length(3); // approve, register, setServedModels
    expect(output).to.include("stake         2000.0 TSR").and.include("1 (eligible)");
    expect(await workerRegistry.isEligibleInferrer(worker.address, 1n)).to.equal(true);
    expect((await workerRegistry.workerOf(worker.address)).endpoint).to.equal("https://worker.example");

    const topUp = await runTask<RegisterResult>(hre, ["worker", "register"], { ...common(), stake: "500" });
    expect(topUp.result.stake).to.equal(2_500n * 10n ** 18n);
    expect(await token.balanceOf(worker.address)).to.equal(500n * 10n ** 18n);
  });

  it("infer request -> a worker answers -> infer status shows the digit (ETH inline, TSR permit by CID)", async () => {
    const { alice, bob, worker } = await signers();
    const { market, modelRegistry, workerRegistry } = contracts();
    await mintTsr(bob.address, PRICE_TOKEN * 10n);
    const unknown = await taskFailure(hre, ["infer", "request"], { ...common(), account: "4", versionId: "42", digitIndex: 3 });
    expect(unknown.message).to.equal("unknown model version 42");

    const ethMarketBefore = await connection.ethers.provider.getBalance(deployment.contracts.InferenceMarket);
    const byEth = await runTask<RequestResult>(hre, ["infer", "request"], { ...common(), account: "4", versionId: "1", digitIndex: 3 });
    const byToken = await runTask<RequestResult>(hre, ["infer", "request"], { ...common(), dataDir: dir, account: "5", versionId: "1", digitIndex: 4, pay: "token", cid: true });
    expect(byEth.result).to.include({ requester: alice.address, fee: PRICE_WEI, currency: "eth" });
    expect(byToken.result).to.include({ requester: bob.address, fee: PRICE_TOKEN, currency: "tsr" });
    expect(byToken.result.inputCid).to.match(/^bafk/);
    expect(byEth.output).to.include(`request id   ${byEth.result.requestId}`).and.include("0.0001 ETH");
    expect(byToken.output).to.include("0.1 TSR (by permit, no approve)");
    expect(await connection.ethers.provider.getBalance(deployment.contracts.InferenceMarket)).to.equal(ethMarketBefore + PRICE_WEI);

    const open = await runTask<StatusResult>(hre, ["infer", "status"], { ...common(), id: byEth.result.requestId.toString() });
    expect(open.result.status).to.equal("Open");

    // The worker's own pipeline (as its daemon runs it): claimBatch -> model from IPFS -> fulfillBatch.
    const store = await EmbeddedContentStore.open(join(dir, "ipfs"));
    try {
      const processor = new InferenceProcessor({
        market: market.connect(worker),
        modelRegistry,
        workerRegistry,
        txSender: new TxSender({ signer: worker, interfaces: [market.interface] }),
        provider: connection.ethers.provider,
        store,
        models: new ModelCache(store),
        workerAddress: worker.address,
      });
      const pending = [];
      for (const sent of [byEth.result, byToken.result]) {
        const receipt = (await connection.ethers.provider.getTransactionReceipt(sent.txHash))!;
        const log = receipt.logs.find((l) => market.interface.parseLog(l)?.name === "InferenceRequested")!;
        pending.push(parsePendingInference(toEventPayload("InferenceMarket", log, market.interface.parseLog(log)!), market.interface));
      }
      const outcomes = await processor.processBatch(pending);
      expect(outcomes.map((o) => o.status)).to.deep.equal(["fulfilled", "fulfilled"]);

      const { model } = await loadPublishedModel(store, published.manifestCid);
      const test = (await loadMnist(MNIST_SPLIT)).test;
      const expected = await predictClasses(model, [3, 4].map((i) => encodeImage(test.images.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS))));
      model.dispose();
      for (const [i, sent] of [byEth.result, byToken.result].entries()) {
        const { result, output } = await runTask<StatusResult>(hre, ["infer", "status"], { ...common(), id: sent.requestId.toString() });
        expect(result.status).to.equal("Fulfilled");
        expect(result).to.include({ digit: expected[i], worker: worker.address });
        expect(output).to.include(`answer         digit ${expected[i]}`);
      }
    } finally {
      await store.close();
    }
  });

  it("infer refund: refuses before the deadline, refunds after it, then refuses a settled request", async () => {
    const { carol } = await signers();
    const { market } = contracts();
    const late = await runTask<RequestResult>(hre, ["infer", "request"], { ...common(), account: "6", versionId: "1", digitIndex: 9, deadlineSeconds: 30 });
    const id = late.result.requestId.toString();

    const early = await taskFailure(hre, ["infer", "refund"], { ...common(), id });
    expect(early).to.be.instanceOf(HardhatPluginError);
    expect(early.message).to.match(new RegExp(`request ${id}: deadline not passed`));

    // A worker that cannot serve it says why; the requester sees it in `infer status` (the request stays open).
    const { worker } = await signers();
    await (await market.connect(worker).decline([late.result.requestId], [2])).wait();
    const declined = await runTask<StatusResult>(hre, ["infer", "status"], { ...common(), id });
    expect(declined.result.status).to.equal("Open");
    expect(declined.result).to.have.property("declines").that.deep.equals([
      { worker: worker.address, reason: 2, txHash: (declined.result as { declines: { txHash: string }[] }).declines[0].txHash },
    ]);
    expect(declined.output).to.include(`by ${worker.address}: input malformed`);
    // Waiting for an answer that does not come fails (a script must not go on as if it had), after the wait.
    const started = Date.now();
    const unanswered = await taskFailure(hre, ["infer", "status"], { ...common(), id, wait: 1 });
    expect(unanswered.message).to.equal(`no answer within 1 s: request ${id} is still open; is a worker serving version 1? (see the worker's log)`);
    expect(Date.now() - started).to.be.at.least(1_000);

    // The next block after the deadline (the deadline came from the task's next-block time, which can run ahead
    // of the chain's latest block by the wall clock: "31 s after the latest block" is not always past it).
    await connection.networkHelpers.time.increaseTo(Number(late.result.deadline) + 1);
    expect((await runTask<StatusResult>(hre, ["infer", "status"], { ...common(), id })).result.status).to.equal("Expired");
    const expiredWait = await taskFailure(hre, ["infer", "status"], { ...common(), id, wait: 5 });
    expect(expiredWait.message).to.equal(`no answer: request ${id} expired unanswered; its fee is refundable`);

    const { result, output } = await runTask<RefundResult>(hre, ["infer", "refund"], { ...common(), id });
    expect(result).to.include({ requester: carol.address, fee: PRICE_WEI, slashed: 0n });
    expect(output).to.include(result.txHash).and.include(`0.0001 ETH to ${carol.address}`);
    expect(await market.creditOf(carol.address, ETH)).to.equal(PRICE_WEI);
    const status = await runTask<StatusResult>(hre, ["infer", "status"], { ...common(), id });
    expect(status.result).to.include({ status: "Refunded", txHash: result.txHash });

    const again = await taskFailure(hre, ["infer", "refund"], { ...common(), id });
    expect(again.message).to.match(/is already settled/);
    const missing = await taskFailure(hre, ["infer", "status"], { ...common(), id: "12345" });
    expect(missing.message).to.match(/request 12345 not found/);
  });

  it("market balance and withdraw: everyone takes out what they earned, earnings settled on the way", async () => {
    const { worker, owner, treasury, carol } = await signers();
    const { market, token } = contracts();
    const provider = connection.ethers.provider;
    const tokenAddress = await token.getAddress();
    const royaltyEth = (PRICE_WEI * ROYALTY_BPS) / 10_000n;
    const protocolEth = (PRICE_WEI * PROTOCOL_FEE_BPS) / 10_000n;
    const royaltyTsr = (PRICE_TOKEN * ROYALTY_BPS) / 10_000n;

    const ownerBalance = await runTask<BalanceResult>(hre, ["market", "balance"], { ...common(), account: owner.address });
    expect(ownerBalance.result.credit.eth).to.equal(0n);
    expect(ownerBalance.result.unsettled).to.deep.equal({ eth: royaltyEth, tsr: royaltyTsr });
    expect(ownerBalance.output).to.include("0.00001 ETH, 0.01 TSR (settled by market withdraw)");

    // The refunded requester gets the whole fee back.
    const carolBefore = await provider.getBalance(carol.address);
    const refunded = await runTask<WithdrawResult>(hre, ["market", "withdraw"], { ...common(), account: "6" });
    const gas = await gasCost(refunded.result.txHashes);
    expect(refunded.result.amount).to.equal(PRICE_WEI);
    expect(await provider.getBalance(carol.address)).to.equal(carolBefore + PRICE_WEI - gas);

    // The model owner: settle the worker's earnings on its version, then withdraw the royalty (ETH and TSR).
    const ownerEth = await runTask<WithdrawResult>(hre, ["market", "withdraw"], { ...common(), account: "2", token: "eth" });
    expect(ownerEth.result).to.deep.include({ amount: royaltyEth, settledVersions: [1n] });
    expect(ownerEth.result.txHashes).to.have.length(2);
    expect(ownerEth.output).to.include("Withdrew 0.00001 ETH").and.include("settled earnings");
    const ownerTsrBefore = await token.balanceOf(owner.address);
    await runTask(hre, ["market", "withdraw"], { ...common(), account: "2", token: "tsr" });
    expect(await token.balanceOf(owner.address)).to.equal(ownerTsrBefore + royaltyTsr);

    // The treasury: its protocol fee was credited by the owner's settlement; nothing left to settle.
    const treasuryEth = await runTask<WithdrawResult>(hre, ["market", "withdraw"], { ...common(), account: "3" });
    expect(treasuryEth.result).to.deep.include({ account: treasury.address, amount: protocolEth, settledVersions: [] });

    // The worker: its share of both fees.
    const workerTsrBefore = await token.balanceOf(worker.address);
    const workerTsr = await runTask<WithdrawResult>(hre, ["market", "withdraw"], { ...common(), account: "1", token: "tsr" });
    expect(workerTsr.result.amount).to.equal(PRICE_TOKEN - royaltyTsr - (PRICE_TOKEN * PROTOCOL_FEE_BPS) / 10_000n);
    expect(await token.balanceOf(worker.address)).to.equal(workerTsrBefore + workerTsr.result.amount);
    expect(await market.creditOf(worker.address, tokenAddress)).to.equal(0n);

    const nothing = await taskFailure(hre, ["market", "withdraw"], { ...common(), account: "1", token: "tsr" });
    expect(nothing).to.be.instanceOf(HardhatPluginError);
    expect(nothing.message).to.equal(`nothing to withdraw: ${worker.address} has no TSR credit in the InferenceMarket`);
    const badToken = await taskFailure(hre, ["market", "withdraw"], { ...common(), token: "usd" });
    expect(badToken.message).to.equal('--token: "usd" is neither eth nor tsr');
    const noTokens = await taskFailure(hre, ["infer", "request"], { ...common(), account: "7", versionId: "1", pay: "token" });
    expect(noTokens.message).to.match(/holds 0\.0 TSR, the request costs 0\.1 TSR/);
    const badAccount = await taskFailure(hre, ["market", "balance"], { ...common(), account: "0xnope" });
    expect(badAccount.message).to.equal('--account: "0xnope" is not an address');
  });

  it("names a contract's custom error when a transaction reverts", async () => {
    const session = await Session.open(hre, deploymentPath);
    const { worker } = await signers();
    const tsr = await session.contracts.token.getAddress(); // the worker withdrew its TSR credit above
    const err = await session.send(worker, session.contracts.market, "withdraw", [tsr]).then(
      () => expect.fail("withdraw of nothing did not revert"),
      (e: Error) => e,
    );
    expect(err).to.be.instanceOf(HardhatPluginError);
    expect(err.message).to.equal(
      `withdraw reverts with InferenceMarketNothingToWithdraw(${worker.address}, ${tsr}): ${worker.address} has no credit in this currency`,
    );
  });

  async function gasCost(hashes: string[]): Promise<bigint> {
    let total = 0n;
    for (const hash of hashes) {
      const r = (await connection.ethers.provider.getTransactionReceipt(hash))!;
      total += r.gasUsed * r.gasPrice;
    }
    return total;
  }
});
