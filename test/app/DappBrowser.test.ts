import { AxeBuilder } from "@axe-core/playwright";
import { expect } from "chai";
import { existsSync, mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { formatEther, getBytes, ZeroAddress } from "ethers";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { PNG } from "pngjs";
import { AppStack } from "../../scripts/app/AppStack.js";
import { decodeAnswer, predictLocally } from "../../scripts/lib/InferenceClient.js";
import { devWallet } from "../../scripts/lib/ShardedStack.js";
import { shortAddress } from "../../client/src/ShortAddress.js";
import { activeTf } from "../../worker/src/ml/backend.js";
import type { LayersModel } from "@tensorflow/tfjs";
import { publishArtifacts, publishModel, readManifest, serializeModel, type CodecChoice, type ModelArtifactsToPublish } from "../../worker/src/ml/ModelArtifacts.js";
import { signatureOf } from "../../worker/src/ml/codecs/Signature.js";
import { codecsOf, versionShapesOf, type ModelManifest } from "../../worker/src/ml/ModelManifest.js";
import { versionInputOf } from "../../worker/src/ml/VersionInput.js";
import { DATASET_STATUS_NAMES } from "../../worker/src/data/OnChainDataset.js";
import { commitmentOf } from "../../worker/src/data/DatasetFormat.js";
import { builtinSchema } from "../../worker/src/data/schema/BuiltinSchemas.js";
import { encodeSamples } from "../../worker/src/data/schema/DatasetEncoding.js";
import { irisTask } from "../../scripts/lib/seedTasks/IrisTask.js";
import { signPermit } from "../../worker/src/chain/Permit.js";
import { CID } from "multiformats/cid";
import { cidFromBytes, cidToBytes } from "../../worker/src/data/OnChainDataset.js";
import { openEnvelope, parseKeyEnvelopeDocument } from "../../worker/src/data/KeyEnvelopes.js";
import { derivePageEncryptionKey } from "../../client/src/PageEncryptionKey.js";
import { irisCsv } from "../helpers/IrisCsv.js";
import { InjectedTestWallet } from "./InjectedTestWallet.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SHOTS = resolve("test-results/app");
// Hardhat's development account 9: funded with 10,000 ETH on the embedded chain and used by nothing else (the
// federated job's stages use accounts 10-19).
const PERSON = devWallet(9);

describe("The dApp in a real browser (Chromium, an injected EIP-1193 wallet)", function () {
  this.timeout(300_000);
  let app: AppStack;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let wallet: InjectedTestWallet;

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      console.log(`    skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH); .ci/run installs it`);
      this.skip();
    }
    app = await AppStack.start({ trainEpochs: 1 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
    });
    context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    wallet = new InjectedTestWallet(PERSON.privateKey, app.chain.rpcUrl, app.stack.deployment.chainId);
    await wallet.install(context);
    page = await context.newPage();
    mkdirSync(SHOTS, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await app?.stop();
  });

  /**
   * Publishes `model` with `codecs` (and a text model's `tokenizer`, its vocabulary stored beside it) as a new model's
   * version at 0.0001 ETH or 0.1 TSR, served by the stack's worker.
   */
  async function publishServed(model: LayersModel, name: string, codecs: CodecChoice, tokenizer?: ModelArtifactsToPublish["tokenizer"]): Promise<{ manifest: ModelManifest; versionId: bigint }> {
    const { modelRegistry, workerRegistry } = app.stack.contracts;
    const published =
      tokenizer === undefined
        ? await publishModel(app.stack.store, model, { name }, codecs)
        : await publishArtifacts(app.stack.store, { ...(await serializeModel(model)), format: "tfjs-layers", signature: signatureOf(model), tokenizer }, codecs, { name });
    const manifest = await readManifest(app.stack.store, published.manifestCid);
    const owner = modelRegistry.connect(app.stack.signers.modelOwner);
    await (await owner.registerModel(name, `ipfs://${published.manifestCid}`)).wait();
    const input = versionInputOf(published, { priceWei: 10n ** 14n, priceToken: 10n ** 17n, royaltyBps: 0, ...versionShapesOf(manifest) });
    const modelId = await modelRegistry.modelCount();
    const versionId = await owner.publishVersion.staticCall(modelId, input);
    await (await owner.publishVersion(modelId, input)).wait();
    await (await workerRegistry.connect(app.stack.signers.worker).setServedModels([versionId], true)).wait();
    return { manifest, versionId };
  }

  /** The chain's latest block time. */
  const nextTime = async () => Number((await wallet.provider.getBlock("latest"))!.timestamp);
  /** The chain's head, read afresh (ethers' getBlockNumber may answer from a cache up to 250 ms old). */
  const headBlock = async () => Number(await wallet.provider.send("eth_blockNumber", []));

  /** Waits for the problem banner to say `sentence`; fails with what it says instead. */
  async function bannerSays(sentence: string): Promise<void> {
    try {
      await page.locator("#problem").getByText(sentence, { exact: true }).waitFor({ timeout: 30_000 });
    } catch {
      throw new Error(`the banner says ${JSON.stringify(await page.locator("#problem").textContent())}, not ${JSON.stringify(sentence)}`);
    }
  }
  const shot = (name: string) => page.screenshot({ path: resolve(SHOTS, `${name}.png`), fullPage: true });
  const accessibilityViolations = async () => (await new AxeBuilder({ page }).analyze()).violations.map((v) => `${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);

  it("the page's JSON-RPC endpoint forwards reads and signed transactions only: the node's accounts and admin methods stay private", async () => {
    const call = async (body: unknown) => {
      const response = await fetch(`${app.url}/rpc`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      return { status: response.status, body: (await response.json()) as { result?: unknown; error?: { message: string } } };
    };
    expect(await call({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] })).to.deep.equal({ status: 200, body: { jsonrpc: "2.0", id: 1, result: "0x7a69" } });
    const head = await headBlock();
    for (const method of ["evm_mine", "hardhat_setBalance", "eth_sendTransaction", "eth_sign", "eth_accounts"]) {
      expect(await call({ jsonrpc: "2.0", id: 2, method, params: [] }), method).to.deep.equal({ status: 403, body: { jsonrpc: "2.0", id: 2, error: { code: -32601, message: `${method} is not served to pages` } } });
    }
    // A batch is refused whole when any call in it is refused.
    expect((await call([{ jsonrpc: "2.0", id: 3, method: "eth_blockNumber" }, { jsonrpc: "2.0", id: 4, method: "evm_mine" }])).status).to.equal(403);
    expect((await call("nonsense")).status).to.equal(400);
    const batch = await call([{ jsonrpc: "2.0", id: 5, method: "eth_chainId" }, { jsonrpc: "2.0", id: 6, method: "net_version" }]);
    expect(batch.status).to.equal(200);
    expect((batch.body as unknown as { id: number; result: string }[]).map((r) => [r.id, r.result])).to.deep.equal([[5, "0x7a69"], [6, "31337"]]);
    // Another site's "simple" post (no preflight) is refused: JSON-RPC here takes application/json only.
    const simple = await fetch(`${app.url}/rpc`, { method: "POST", headers: { "content-type": "text/plain" }, body: JSON.stringify({ jsonrpc: "2.0", id: 7, method: "eth_chainId" }) });
    expect(simple.status).to.equal(415);
    const tooBig = await fetch(`${app.url}/rpc`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 8, method: "eth_call", params: ["x".repeat(1 << 20)] }) });
    expect(tooBig.status).to.equal(413);
    expect(await headBlock()).to.equal(head);
  });

  it("connects a wallet found by EIP-6963 and lists the registry's versions with price, codecs and shards", async () => {
    await page.goto(app.url);
    await page.locator("body[data-ready=true]").waitFor();
    await page.getByRole("button", { name: "Connect Test Wallet" }).click();
    await expect(await page.getByTestId("account").getAttribute("title")).to.equal(PERSON.address);
    expect(await page.getByTestId("network").textContent()).to.equal(AppStack.CHAIN_NAME);

    const versionId = app.stack.trained!.versionId;
    const row = page.getByTestId(`version-${versionId}`);
    await row.getByText("uint8-image → class-index").waitFor();
    const cells = await row.locator("td").allTextContents();
    expect(cells[0]).to.equal(versionId.toString());
    expect(cells[1]).to.contain("mnist-2nn").and.contain("royalty 10 %");
    expect(cells[2]).to.contain("0.0001 ETH").and.contain("0.1 TSR");
    expect(cells[4]).to.equal("whole");
    expect(cells[5]).to.equal("Active");
    expect(await accessibilityViolations()).to.deep.equal([]);
    await shot("models");
  });

  it("asks the model: a digit drawn with the mouse, paid in ETH, followed sent → claimed → answered; the answer is the model's on that input", async () => {
    const { market } = app.stack.contracts;
    const versionId = app.stack.trained!.versionId;
    const fromBlock = await headBlock();
    await page.goto(`${app.url}/#/ask/${versionId}`);
    // Drawn with the mouse, as a person would: one stroke down the middle, a "1".
    const box = (await page.getByRole("img", { name: /Drawing area/ }).boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.52, box.y + box.height * 0.2);
    await page.mouse.down();
    for (let i = 1; i <= 12; i++) await page.mouse.move(box.x + box.width * (0.52 - i * 0.006), box.y + box.height * (0.2 + i * 0.05));
    await page.mouse.up();
    expect(await page.getByTestId("price").textContent()).to.equal("0.0001 ETH");
    expect(await accessibilityViolations()).to.deep.equal([]);
    await page.getByRole("button", { name: "Pay 0.0001 ETH and ask" }).click();
    await page.locator("[data-testid=progress][data-stage=answered]").waitFor({ timeout: 120_000 });
    await shot("ask-answered");

    const requested = await market.queryFilter(market.filters.InferenceRequested(undefined, PERSON.address), fromBlock);
    expect(requested).to.have.length(1);
    expect((await page.getByTestId("request-id").textContent())).to.equal(requested[0].args.requestId.toString());
    const fulfilled = await market.queryFilter(market.filters.InferenceFulfilled(requested[0].args.requestId), fromBlock);
    expect(fulfilled).to.have.length(1);
    // What the page shows is what the worker posted, and what the model says on the bytes the page sent.
    const manifest = await readManifest(app.stack.store, app.stack.trained!.published.manifestCid);
    const [local] = await predictLocally(app.stack.trained!.model, manifest, [getBytes(requested[0].args.input)]);
    expect(getBytes(fulfilled[0].args.output)).to.deep.equal(local);
    const answer = decodeAnswer(manifest, local);
    expect(answer.codec).to.equal("class-index");
    console.log(`      the model read the drawn stroke as ${(answer as { classIndex: number }).classIndex}`);
    expect(await page.getByTestId("answer").textContent()).to.equal(String((answer as { classIndex: number }).classIndex));
    // The person paid the price and the gas of one transaction, nothing else.
    const receipt = await wallet.provider.getTransactionReceipt(requested[0].transactionHash);
    const spent = (await wallet.provider.getBalance(PERSON.address, receipt!.blockNumber - 1)) - (await wallet.provider.getBalance(PERSON.address, receipt!.blockNumber));
    expect(spent).to.equal(10n ** 14n + receipt!.gasUsed * receipt!.gasPrice);
  });

  it("from the keyboard: a declined signature is a sentence, and nothing is sent", async () => {
    const { market } = app.stack.contracts;
    const fromBlock = await headBlock();
    wallet.declining = true;
    try {
      // From the keyboard: a digit picked in the list, the form sent with Enter on its button.
      await page.getByLabel("Or write a digit for me").selectOption("3");
      await page.getByRole("button", { name: "Pay 0.0001 ETH and ask" }).focus();
      await page.keyboard.press("Enter");
      await bannerSays("You declined the request in your wallet: nothing was sent and nothing was paid.");
      await shot("declined");
    } finally {
      wallet.declining = false;
    }
    expect(await market.queryFilter(market.filters.InferenceRequested(undefined, PERSON.address), fromBlock)).to.have.length(0);
  });

  it("a wallet on another network is detected, refused for sending, and switched from the page", async () => {
    await wallet.moveTo(1);
    await page.getByText("Wrong network (chain 1)").waitFor();
    const askedBefore = wallet.asked.length;
    await page.getByRole("button", { name: "Pay 0.0001 ETH and ask" }).click();
    await bannerSays(`Your wallet is on another network: switch it to ${AppStack.CHAIN_NAME} first.`);
    expect(wallet.asked.slice(askedBefore)).to.not.include("eth_sendTransaction");
    await shot("wrong-network");
    await page.getByRole("button", { name: `Switch to ${AppStack.CHAIN_NAME}` }).click();
    await page.getByTestId("network").getByText(AppStack.CHAIN_NAME).waitFor();
  });

  it("the account page shows the wallet's ETH and TSR and the market's credits, as the chain has them", async () => {
    await page.goto(`${app.url}/#/account`);
    await page.getByTestId("balance-eth").waitFor();
    const eth = await wallet.provider.getBalance(PERSON.address);
    expect(await page.getByTestId("balance-eth").textContent()).to.equal(`${formatEther(eth)} ETH`);
    expect(await page.getByTestId("balance-tsr").textContent()).to.equal("0.0 TSR");
    expect(await page.getByTestId("credits").textContent()).to.equal("0.0 ETH, 0.0 TSR");
    expect(await accessibilityViolations()).to.deep.equal([]);
    await shot("account");
  });

  it("content is read through the gateway a person chooses: an unreachable one is named, a bad URL refused, the app's restored", async () => {
    await page.getByRole("link", { name: "Account" }).click();
    await page.getByLabel(/IPFS gateway/).fill("ftp://example.org");
    await page.getByRole("button", { name: "Use this gateway" }).click();
    await bannerSays("The address ftp://example.org is not an http(s) URL.");
    await page.getByLabel(/IPFS gateway/).fill("http://127.0.0.1:9/");
    await page.getByRole("button", { name: "Use this gateway" }).click();
    await page.getByTestId("gateway").getByText("http://127.0.0.1:9", { exact: true }).waitFor();
    await page.getByRole("link", { name: "Models" }).click();
    await bannerSays("The IPFS gateway http://127.0.0.1:9 could not be reached: check its address (Account page).");
    // Remembered in this browser: a reload still reads through it.
    await page.reload();
    await page.locator("body[data-ready=true]").waitFor();
    await bannerSays("The IPFS gateway http://127.0.0.1:9 could not be reached: check its address (Account page).");
    await page.getByRole("link", { name: "Account" }).click();
    await page.getByRole("button", { name: "Use this app's gateway" }).click();
    await page.getByTestId("gateway").getByText(app.url, { exact: true }).waitFor();
    await page.getByRole("link", { name: "Models" }).click();
    await page.getByTestId(`version-${app.stack.trained!.versionId}`).getByText("uint8-image → class-index").waitFor();
    expect(await page.locator("#problem").isHidden()).to.equal(true);
    if ((await page.getByRole("button", { name: "Connect Test Wallet" }).count()) > 0) await page.getByRole("button", { name: "Connect Test Wallet" }).click();
  });

  it("the operators page shows each staked worker as the WorkerRegistry has it: stake, capabilities, served versions, endpoint, status", async () => {
    const { workerRegistry } = app.stack.contracts;
    const worker = app.stack.signers.worker.address;
    await page.getByRole("link", { name: "Operators" }).click();
    const row = page.getByTestId(`operator-${worker}`);
    await row.waitFor();
    const cells = await row.locator("td").allTextContents();
    expect(cells).to.deep.equal([worker, `${formatEther((await workerRegistry.workerOf(worker)).stake)} TSR`, "infer", app.stack.trained!.versionId.toString(), "none", "embedded://worker-1", "eligible"]);
    expect(await page.locator("tbody tr").count()).to.equal(1);
    expect(await accessibilityViolations()).to.deep.equal([]);
    await shot("operators");
  });

  it("a model of any codec gets the form it needs: four feature fields for a float32 table model, answered as the model says", async () => {
    const { market } = app.stack.contracts;
    const tf = activeTf();
    const model = tf.sequential();
    model.add(tf.layers.dense({ inputShape: [4], units: 3, activation: "softmax", kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }));
    const { manifest, versionId } = await publishServed(model, "table-3-class", { inputCodec: { name: "float32-tensor" }, outputCodec: { name: "class-index", scoreBits: 16 } });

    const fromBlock = await headBlock();
    await page.goto(`${app.url}/#/ask/${versionId}`);
    await page.getByRole("radio", { name: /^ETH/ }).check();
    await page.getByRole("button", { name: "Pay 0.0001 ETH and ask" }).click();
    await bannerSays("Fill value [0] first (4 values in all).");
    const features = [5.1, -3.5, 1.4, 0.2];
    for (const [i, v] of features.entries()) await page.getByLabel(`value [${i}]`).fill(String(v));
    await page.getByRole("button", { name: "Pay 0.0001 ETH and ask" }).click();
    await page.locator("[data-testid=progress][data-stage=answered]").waitFor({ timeout: 120_000 });
    await shot("ask-features");
    const [requested] = await market.queryFilter(market.filters.InferenceRequested(undefined, PERSON.address), fromBlock);
    expect(getBytes(requested.args.input)).to.deep.equal(codecsOf(manifest).input.encode(features));
    const [local] = await predictLocally(model, manifest, [getBytes(requested.args.input)]);
    const answer = decodeAnswer(manifest, local) as { classIndex: number };
    expect(await page.getByTestId("answer").textContent()).to.equal(String(answer.classIndex));
    model.dispose();
  });

  it("an image model gets an upload: a PNG scaled to the model's 8×8×3, the bytes the page sends are the image's, answered as the model says", async () => {
    const { market } = app.stack.contracts;
    const tf = activeTf();
    const model = tf.sequential();
    model.add(tf.layers.flatten({ inputShape: [8, 8, 3] }));
    model.add(tf.layers.dense({ units: 4, activation: "softmax", kernelInitializer: tf.initializers.glorotUniform({ seed: 8 }) }));
    const { manifest, versionId } = await publishServed(model, "colour-4-class", { inputCodec: { name: "uint8-image", scale: 1 / 255, mean: [0], std: [1] }, outputCodec: { name: "class-index", scoreBits: 16 } });

    // An 8×8 PNG with a colour per quadrant: no scaling needed, so every pixel must reach the request unchanged.
    const png = new PNG({ width: 8, height: 8 });
    const colour = (x: number, y: number) => (x < 4 ? (y < 4 ? [250, 10, 10] : [10, 250, 10]) : y < 4 ? [10, 10, 250] : [200, 200, 30]);
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) png.data.set([...colour(x, y), 255], (y * 8 + x) * 4);
    const expected = Uint8Array.from({ length: 8 * 8 * 3 }, (_, i) => colour(Math.floor(i / 3) % 8, Math.floor(i / 24))[i % 3]);

    const fromBlock = await headBlock();
    await page.goto(`${app.url}/#/ask/${versionId}`);
    await page.getByRole("radio", { name: /^ETH/ }).check();
    await page.getByLabel(/^Image/).setInputFiles({ name: "quadrants.png", mimeType: "image/png", buffer: PNG.sync.write(png) });
    await page.getByRole("button", { name: "Pay 0.0001 ETH and ask" }).click();
    await page.locator("[data-testid=progress][data-stage=answered]").waitFor({ timeout: 120_000 });
    const [requested] = await market.queryFilter(market.filters.InferenceRequested(undefined, PERSON.address), fromBlock);
    expect(getBytes(requested.args.input)).to.deep.equal(expected);
    const [local] = await predictLocally(model, manifest, [expected]);
    expect(await page.getByTestId("answer").textContent()).to.equal(String((decodeAnswer(manifest, local) as { classIndex: number }).classIndex));
    model.dispose();
  });

  it("pays in TSR by a signed permit: too little is said before the wallet is asked; then one transaction, the price pulled, answered", async () => {
    const { market, token } = app.stack.contracts;
    const versionId = app.stack.trained!.versionId;
    await page.goto(`${app.url}/#/ask/${versionId}`);
    await page.getByRole("radio", { name: /^TSR/ }).check();
    await page.getByLabel("Or write a digit for me").selectOption("4");
    const askedBefore = wallet.asked.length;
    await page.getByRole("button", { name: "Pay 0.1 TSR and ask" }).click();
    await bannerSays("Your account holds 0.0 TSR; this answer costs 0.1 TSR.");
    expect(wallet.asked.slice(askedBefore)).to.not.include("eth_signTypedData_v4");
    expect(wallet.asked.slice(askedBefore)).to.not.include("eth_sendTransaction");

    await (await token.mint(PERSON.address, 10n ** 18n)).wait();
    const fromBlock = await headBlock();
    await page.getByRole("button", { name: "Pay 0.1 TSR and ask" }).click();
    await page.locator("[data-testid=progress][data-stage=answered]").waitFor({ timeout: 120_000 });
    const requested = await market.queryFilter(market.filters.InferenceRequested(undefined, PERSON.address), fromBlock);
    expect(requested).to.have.length(1);
    expect(requested[0].args.request.paymentToken).to.equal(await token.getAddress());
    expect(requested[0].args.request.fee).to.equal(10n ** 17n);
    expect(await token.balanceOf(PERSON.address)).to.equal(10n ** 18n - 10n ** 17n);
    expect(await token.allowance(PERSON.address, await market.getAddress())).to.equal(0n);
    // One transaction (the request; the permit is a signature): the ETH spent is its gas, to the wei.
    const receipt = await wallet.provider.getTransactionReceipt(requested[0].transactionHash);
    expect((await wallet.provider.getBalance(PERSON.address, receipt!.blockNumber - 1)) - (await wallet.provider.getBalance(PERSON.address, receipt!.blockNumber))).to.equal(receipt!.gasUsed * receipt!.gasPrice);
    expect(wallet.asked.filter((m) => m === "eth_signTypedData_v4")).to.have.length(1);
    await shot("ask-tsr");
  });

  it("a page reloaded while its request waits comes back to it (kept in the browser) and follows it to the answer", async () => {
    const versionId = app.stack.trained!.versionId;
    await app.stack.stopWorker();
    let restarted = false;
    try {
      await page.goto(`${app.url}/#/ask/${versionId}`);
      await page.getByRole("radio", { name: /^ETH/ }).check();
      await page.getByLabel("Or write a digit for me").selectOption("2");
      await page.getByRole("button", { name: "Pay 0.0001 ETH and ask" }).click();
      await page.locator("[data-testid=progress][data-stage=sent]").waitFor();
      const requestId = await page.getByTestId("request-id").textContent();
      await page.reload();
      await page.locator("body[data-ready=true]").waitFor();
      if ((await page.getByRole("button", { name: "Connect Test Wallet" }).count()) > 0) await page.getByRole("button", { name: "Connect Test Wallet" }).click();
      await page.goto(`${app.url}/#/models`);
      await page.goto(`${app.url}/#/ask/${versionId}`);
      await page.locator("[data-testid=progress][data-stage=sent]").waitFor();
      expect(await page.getByTestId("request-id").textContent()).to.equal(requestId);
      await app.stack.startWorker();
      restarted = true;
      await page.locator("[data-testid=progress][data-stage=answered]").waitFor({ timeout: 120_000 });
      // Answered: forgotten by the browser, so the next visit starts clean.
      await page.goto(`${app.url}/#/models`);
      await page.goto(`${app.url}/#/ask/${versionId}`);
      await page.getByText("No request sent yet.").waitFor();
    } finally {
      if (!restarted) await app.stack.startWorker();
    }
  });

  it("a request no worker answers expires, its fee is refunded from the page and withdrawn from the account page, to the wei", async () => {
    const { market } = app.stack.contracts;
    const versionId = app.stack.trained!.versionId;
    await app.stack.stopWorker();
    try {
      await page.goto(`${app.url}/#/models`);
      await page.goto(`${app.url}/#/ask/${versionId}`);
      await page.getByLabel("Or write a digit for me").selectOption("9");
      await page.getByRole("button", { name: "Pay 0.0001 ETH and ask" }).click();
      await page.locator("[data-testid=progress][data-stage=sent]").waitFor();
      // The deadline's exact edge: a block at the deadline leaves the request open (the market refunds only after it);
      // the next second expires it.
      const [requested] = await market.queryFilter(market.filters.InferenceRequested(undefined, PERSON.address), await headBlock());
      const deadline = Number(requested.args.request.deadline);
      await app.chain.connection.networkHelpers.time.increaseTo(deadline);
      await page.waitForTimeout(1_500); // three of the page's polls
      expect(await page.getByTestId("progress").getAttribute("data-stage")).to.equal("sent");
      await app.chain.connection.networkHelpers.time.increaseTo(deadline + 1);
      await page.locator("[data-testid=progress][data-stage=expired]").waitFor();
      await page.getByRole("button", { name: "Refund 0.0001 ETH to my credits" }).click();
      await page.locator("[data-testid=progress][data-stage=refunded]").waitFor();
      await shot("refunded");
      expect(await market.creditOf(PERSON.address, ZeroAddress)).to.equal(10n ** 14n);

      await page.getByRole("link", { name: "your account" }).click();
      await page.getByTestId("credits").getByText("0.0001 ETH, 0.0 TSR").waitFor();
      // The account's requests, from the chain (not only this browser's memory): this one refunded, the earlier ones answered.
      const rows = await page.locator("[data-testid^=request-] td:last-child").allTextContents();
      expect(rows[0]).to.equal("refunded");
      expect(await page.getByTestId(`request-${requested.args.requestId}`).locator("td").nth(3).textContent()).to.equal("refunded");
      expect(rows.slice(1).every((stage) => stage === "answered"), rows.join(", ")).to.equal(true);
      const fromBlock = await headBlock();
      await page.getByRole("button", { name: "Withdraw 0.0001 ETH" }).click();
      await page.getByTestId("credits").getByText("0.0 ETH, 0.0 TSR").waitFor();
      const [withdrawn] = await market.queryFilter(market.filters.Withdrawn(PERSON.address), fromBlock);
      expect(withdrawn.args.amount).to.equal(10n ** 14n);
      const receipt = await wallet.provider.getTransactionReceipt(withdrawn.transactionHash);
      // Read at the withdrawal's block and the one before (one transaction a block here; ethers shares one answer
      // between identical reads within 250 ms, a block number included).
      const before = await wallet.provider.getBalance(PERSON.address, receipt!.blockNumber - 1);
      expect((await wallet.provider.getBalance(PERSON.address, receipt!.blockNumber)) - before).to.equal(10n ** 14n - receipt!.gasUsed * receipt!.gasPrice);
      expect(await market.creditOf(PERSON.address, ZeroAddress)).to.equal(0n);
    } finally {
      await app.stack.startWorker();
    }
  });

  it("a custom-error revert is a sentence: a version deprecated while the page was open", async () => {
    const versionId = app.stack.trained!.versionId;
    await page.goto(`${app.url}/#/ask/${versionId}`);
    await page.getByRole("radio", { name: /^ETH/ }).check();
    await page.getByLabel("Or write a digit for me").selectOption("1");
    const owner = app.stack.contracts.modelRegistry.connect(app.stack.signers.modelOwner);
    await (await owner.deprecateVersion(versionId)).wait();
    await page.getByRole("button", { name: "Pay 0.0001 ETH and ask" }).click();
    await bannerSays(`The contract refused: model version ${versionId} is deprecated and takes no new requests.`);
    await shot("revert");
  });
  it("a sharded version: each shard's layers, size, share of the pay and host on the models page, the host's shards on the operators page; asked from the page, answered through the pipeline as the whole model", async () => {
    const { market, modelRegistry } = app.stack.contracts;
    const { versionId, host } = await app.addShardedVersion();
    await page.goto(`${app.url}/#/models`);
    const row = page.getByTestId(`version-${versionId}`);
    await row.getByTestId("shard-1").waitFor();
    const records = await modelRegistry.getShards(versionId);
    const total = records.reduce((sum, r) => sum + Number(r.costWeight), 0);
    expect(await row.locator("td").nth(4).textContent()).to.match(/^2 shards/);
    for (const [i, r] of records.entries()) {
      const text = (await row.getByTestId(`shard-${i}`).textContent())!.replace(/\s+/g, " ").trim();
      const span = Number(r.endLayer) - Number(r.firstLayer) === 1 ? `layer ${r.firstLayer}` : `layers ${r.firstLayer}–${Number(r.endLayer) - 1}`;
      const layers = `${span}, ${(Number(r.byteSize) / 1024).toFixed(0)} KiB, ${((100 * Number(r.costWeight)) / total).toFixed(1)} % of the hosts' pay:`;
      expect(text).to.match(new RegExp(`^${layers.replace(/[.()]/g, "\\$&")} ${shortAddress(host).replace(/[.]/g, "\\.")} http://127\\.0\\.0\\.1:\\d+$`));
    }
    expect(await row.getByRole("link", { name: `Ask version ${versionId}` }).count()).to.equal(1);
    expect(await accessibilityViolations()).to.deep.equal([]);
    await shot("models-sharded");

    await page.getByRole("link", { name: "Operators" }).click();
    const hostRow = page.getByTestId(`operator-${host}`);
    await hostRow.waitFor();
    expect((await hostRow.locator("td").allTextContents())[4]).to.equal(`v${versionId} #0, v${versionId} #1`);

    const fromBlock = await headBlock();
    await page.goto(`${app.url}/#/ask/${versionId}`);
    const box = (await page.getByRole("img", { name: /Drawing area/ }).boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.3);
    await page.mouse.down();
    for (let i = 1; i <= 12; i++) await page.mouse.move(box.x + box.width * (0.3 + i * 0.03), box.y + box.height * 0.3);
    for (let i = 1; i <= 12; i++) await page.mouse.move(box.x + box.width * 0.66, box.y + box.height * (0.3 + i * 0.04));
    await page.mouse.up();
    await page.getByRole("radio", { name: /^ETH/ }).check();
    await page.getByRole("button", { name: "Pay 0.0001 ETH and ask" }).click();
    await page.locator("[data-testid=progress][data-stage=answered]").waitFor({ timeout: 120_000 });
    const [requested] = await market.queryFilter(market.filters.InferenceRequested(undefined, PERSON.address), fromBlock);
    expect(requested.args.request.modelVersionId).to.equal(versionId);
    const [fulfilled] = await market.queryFilter(market.filters.InferenceFulfilled(requested.args.requestId), fromBlock);
    // Through both shards, the answer is the whole model's on the bytes the page sent, and the host was paid for both stages.
    const manifest = await readManifest(app.stack.store, app.stack.trained!.published.manifestCid);
    const [whole] = await predictLocally(app.stack.trained!.model, manifest, [getBytes(requested.args.input)]);
    expect(getBytes(fulfilled.args.output)).to.deep.equal(whole);
    expect(await page.getByTestId("answer").textContent()).to.equal(String((decodeAnswer(manifest, whole) as { classIndex: number }).classIndex));
    const [paid] = await market.queryFilter(market.filters.ShardedFulfilmentPaid(requested.args.requestId), fromBlock);
    expect(paid.args.hosts).to.deep.equal([host, host]);
  });
  it("a text model gets a text field: the words become the ids of the model's own tokenizer (its vocabulary fetched by CID), as the tasks and the worker encode them; answered as the model says", async () => {
    const { market } = app.stack.contracts;
    const tf = activeTf();
    const vocabulary = { tokens: ["<pad>", "<unk>", "good", "bad", "not", "film", "great", "boring"] };
    const model = tf.sequential({
      layers: [
        tf.layers.embedding({ inputDim: vocabulary.tokens.length, outputDim: 4, inputLength: 6, embeddingsInitializer: tf.initializers.randomUniform({ minval: -1, maxval: 1, seed: 5 }) }),
        tf.layers.globalAveragePooling1d(),
        tf.layers.dense({ units: 2, activation: "softmax", kernelInitializer: tf.initializers.glorotUniform({ seed: 6 }) }),
      ],
    });
    const codecs: CodecChoice = { inputCodec: { name: "int32-tokens", length: 6, padId: 0, vocabSize: vocabulary.tokens.length }, outputCodec: { name: "class-index", scoreBits: 16 } };
    const { manifest, versionId } = await publishServed(model, "review-sentiment", codecs, { spec: { kind: "word-vocab", lowercase: true, unknownId: 1, truncate: true }, vocabulary });

    const fromBlock = await headBlock();
    await page.goto(`${app.url}/#/ask/${versionId}`);
    await page.getByRole("radio", { name: /^ETH/ }).check();
    await page.getByRole("button", { name: "Pay 0.0001 ETH and ask" }).click();
    await bannerSays("Type a text first.");
    const field = page.getByLabel("Text (up to 6 words; more are cut)");
    await field.fill("!!! ...");
    expect(await page.getByTestId("token-count").textContent()).to.equal("The text has no words (only spaces or punctuation).");
    await field.fill("Not a GOOD film, truly boring");
    expect(await page.getByTestId("token-count").textContent()).to.equal("6 of 6 words, 2 not in the model's vocabulary");
    expect(await accessibilityViolations()).to.deep.equal([]);
    await page.getByRole("button", { name: "Pay 0.0001 ETH and ask" }).click();
    await page.locator("[data-testid=progress][data-stage=answered]").waitFor({ timeout: 120_000 });
    await shot("ask-text");
    const [requested] = await market.queryFilter(market.filters.InferenceRequested(undefined, PERSON.address), fromBlock);
    // not, a (unknown), good, film, truly (unknown), boring: the ids the tasks' --text and the worker's tokenizer give.
    expect(getBytes(requested.args.input)).to.deep.equal(codecsOf(manifest).input.encode([4, 1, 2, 5, 1, 7]));
    const [local] = await predictLocally(model, manifest, [getBytes(requested.args.input)]);
    expect(await page.getByTestId("answer").textContent()).to.equal(String((decodeAnswer(manifest, local) as { classIndex: number }).classIndex));
    model.dispose();
  });
  it("a model trained by a federated job shows its provenance as TrainingJobs records it: datasets, local training, every round's aggregate, the validators' scores and medians; every round scored in the browser, the last as the validators did", async () => {
    const { trainingJobs } = app.stack.contracts;
    const fed = await app.addTrainedVersion();
    await page.goto(`${app.url}/#/models`);
    const section = page.getByTestId(`provenance-${fed.jobVersionId}`);
    await section.waitFor({ timeout: 30_000 });
    expect(await section.getByRole("heading", { level: 2 }).textContent()).to.equal(`Version ${fed.jobVersionId}: trained by job ${fed.jobId}`);
    expect(await page.getByTestId(`version-${fed.jobVersionId}`).getByRole("link", { name: `trained by job ${fed.jobId}` }).count()).to.equal(1);
    const [ids, samples] = await trainingJobs.datasetsOf(fed.jobId);
    expect(await section.getByTestId("provenance-datasets").textContent()).to.equal(ids.map((id, i) => `${id} (${samples[i]} samples)`).join(", "));
    expect(await section.getByTestId("provenance-medians").textContent()).to.equal(`accuracy ${(fed.medianAccuracy * 100).toFixed(2)} %, loss ${fed.medianLoss.toFixed(4)}`);
    const rounds = await section.getByTestId("provenance-rounds").locator("tbody tr").all();
    expect(rounds).to.have.length(fed.rounds.length);
    for (const [i, r] of fed.rounds.entries()) {
      const cells = await rounds[i].locator("td").allTextContents();
      expect([cells[0], cells[1], cells[4]]).to.deep.equal([String(r.round), String(r.updates), String(r.votes)]);
      expect(await rounds[i].locator("code").getAttribute("title")).to.equal(r.aggregateCid);
    }
    const evaluations = await trainingJobs.evaluationsOf(fed.jobId);
    const shown = await section.getByTestId("provenance-evaluations").locator("tbody tr").all();
    expect(shown).to.have.length(evaluations.length);
    for (const [i, e] of evaluations.entries()) {
      expect(await shown[i].locator("span").getAttribute("title")).to.equal(e.validator);
      expect((await shown[i].locator("td").allTextContents()).slice(1)).to.deep.equal([`${(Number(e.accuracy) / 1e4).toFixed(2)} %`, (Number(e.loss) / 1e6).toFixed(4)]);
    }
    // Each round's aggregate scored in the browser (TensorFlow.js loaded then), each checked against its agreed hash:
    // the last one scores what the validators posted for the final model.
    await section.getByRole("button", { name: "Score each round in this browser" }).click();
    const scored = section.getByTestId("round-scores").locator("tbody tr");
    await scored.nth(fed.rounds.length - 1).waitFor({ timeout: 60_000 });
    const scores = await scored.allTextContents();
    expect(scores).to.have.length(fed.rounds.length);
    expect(scores.at(-1)).to.equal(`${fed.rounds.length}${(fed.medianAccuracy * 100).toFixed(2)} %`);
    expect(await section.getByRole("img", { name: /^Score of each round's aggregate on the public evaluation set: round 1 / }).count()).to.equal(1);
    expect(await accessibilityViolations()).to.deep.equal([]);
    await section.scrollIntoViewIfNeeded();
    await shot("provenance");
  });
  it("a data contributor's account page lists its datasets as the DataRegistry has them (status, samples, bond, rewards, royalties, uses) and withdraws its TSR credits to the wei", async () => {
    const { dataRegistry, trainingJobs, token } = app.stack.contracts;
    // The contributor of the first dataset of the job the provenance test ran (the seeds' Iris job: accounts 10-19).
    const jobId = await trainingJobs.jobCount();
    expect(jobId, "the provenance test ran a job").to.be.greaterThan(0n);
    const [jobDatasets] = await trainingJobs.datasetsOf(jobId);
    const contributor = (await dataRegistry.datasetOf(jobDatasets[0])).contributor;
    const key = Array.from({ length: 30 }, (_, i) => devWallet(i)).find((w) => w.address === contributor);
    expect(key, `${contributor} is a development account`).to.not.equal(undefined);
    const own = (await dataRegistry.queryFilter(dataRegistry.filters.DatasetContributed(undefined, contributor), app.stack.deployment.startBlock)).map((e) => e.args.datasetId);
    expect(own).to.include(jobDatasets[0]);
    expect(DATASET_STATUS_NAMES[Number((await dataRegistry.datasetOf(jobDatasets[0])).status)]).to.equal("Accepted");

    const contributorContext = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    const contributorWallet = new InjectedTestWallet(key!.privateKey, app.chain.rpcUrl, app.stack.deployment.chainId);
    await contributorWallet.install(contributorContext);
    const p = await contributorContext.newPage();
    try {
      await p.goto(`${app.url}/#/account`);
      await p.locator("body[data-ready=true]").waitFor();
      await p.getByRole("button", { name: "Connect Test Wallet" }).click();
      const table = p.getByTestId("datasets");
      await table.waitFor({ timeout: 30_000 });
      const rows = await table.locator("tbody tr").all();
      expect(rows).to.have.length(own.length);
      for (const [i, id] of own.entries()) {
        const d = await dataRegistry.datasetOf(id);
        const credited = await dataRegistry.queryFilter(dataRegistry.filters.Credited(contributor, id), app.stack.deployment.startBlock);
        const rewards = credited.filter((e) => e.args.reason === 1n || e.args.reason === 3n).reduce((sum, e) => sum + e.args.amount, 0n);
        const cells = await rows[i].locator("td").allTextContents();
        expect(cells).to.deep.equal([String(id), DATASET_STATUS_NAMES[Number(d.status)], String(d.sampleCount), `${formatEther(d.bond)} TSR`, `${formatEther(rewards)} TSR`, `${formatEther(d.royalties)} TSR`, String(d.timesUsed)]);
      }
      expect((await dataRegistry.datasetOf(jobDatasets[0])).royalties, "the job paid its datasets royalties").to.be.greaterThan(0n);

      const credit = await dataRegistry.creditOf(contributor);
      expect(credit, "rewards and royalties wait in the registry").to.be.greaterThan(0n);
      expect(await p.getByTestId("data-credit").textContent()).to.equal(`${formatEther(credit)} TSR`);
      expect(await p.getByTestId("training-credit").textContent()).to.equal(`${formatEther(await trainingJobs.creditOf(contributor))} TSR`);
      expect(await new AxeBuilder({ page: p }).analyze().then((r) => r.violations.map((v) => v.id))).to.deep.equal([]);
      await p.screenshot({ path: resolve(SHOTS, "account-datasets.png"), fullPage: true });

      const before = await token.balanceOf(contributor);
      const fromBlock = await headBlock();
      await p.getByRole("button", { name: `Withdraw ${formatEther(credit)} TSR` }).click();
      await p.getByTestId("data-credit").getByText("0.0 TSR", { exact: true }).waitFor({ timeout: 30_000 });
      const [withdrawn] = await dataRegistry.queryFilter(dataRegistry.filters.Withdrawn(contributor), fromBlock);
      expect(withdrawn.args.amount).to.equal(credit);
      expect((await token.balanceOf(contributor)) - before).to.equal(credit);
      expect(await dataRegistry.creditOf(contributor)).to.equal(0n);
    } finally {
      await contributorContext.close();
    }
  });

  it("contributes a dataset from the page: the file read under its schema in the browser, encrypted there (only ciphertext uploaded, its CIDs checked), the bond paid by permit, validation followed to Accepted; the reward shows on the account page", async () => {
    const { dataRegistry, token } = app.stack.contracts;
    expect(await app.startValidators()).to.have.length(3);
    const schema = builtinSchema("iris-4/species-3")!;
    // The Iris task's evaluation flowers (45, never contributed), as a CSV with a header, as a person would bring them.
    const flowers = await irisTask.evalSet();
    const species = schema.document.label.kind === "class" ? schema.document.label.classes : [];
    const csv = irisCsv(flowers);
    const counts = species.map((_, c) => Array.from(flowers.labels).filter((l) => l === c).length);

    await page.goto(`${app.url}/#/contribute`);
    await page.locator("body[data-ready=true]").waitFor();
    const connect = page.getByRole("button", { name: "Connect Test Wallet" });
    if ((await connect.count()) > 0) await connect.click();
    await page.getByLabel("Schema").selectOption("iris-4/species-3");
    // A file that does not fit is said where, and nothing is sent.
    await page.getByLabel("Dataset file", { exact: true }).setInputFiles({ name: "short.csv", mimeType: "text/csv", buffer: Buffer.from("sepal_length,sepal_width,petal_length,species\n5.1,3.5,1.4,setosa\n") });
    const askedBefore = wallet.asked.length;
    await page.getByRole("button", { name: "Check the file" }).click();
    await page.locator("#problem").waitFor({ state: "visible" });
    expect(await page.locator("#problem").textContent()).to.match(/^The file short\.csv does not fit iris-4\/species-3: ./);
    await page.getByLabel("Dataset file", { exact: true }).setInputFiles({ name: "iris-eval.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
    await page.getByRole("button", { name: "Check the file" }).click();
    expect(await page.getByTestId("checked-samples").textContent()).to.equal(`${flowers.count} samples fit iris-4/species-3.`);
    expect(await page.getByTestId("class-counts").locator("tbody tr").allTextContents()).to.deep.equal(species.map((name, c) => `${name}${counts[c]}`));
    expect(wallet.asked.slice(askedBefore)).to.not.include("eth_sendTransaction");

    const bond = (await dataRegistry.params()).bond;
    await (await token.mint(PERSON.address, bond)).wait();
    const uploads: Buffer[] = [];
    page.on("request", (r) => void (r.url().includes("/api/v0/add") && uploads.push(r.postDataBuffer() ?? Buffer.alloc(0))));
    const fromBlock = await headBlock();
    const signaturesBefore = wallet.asked.filter((m) => m === "eth_signTypedData_v4").length;
    await page.getByRole("button", { name: `Encrypt, upload and contribute (bond ${formatEther(bond)} TSR)` }).click();
    try {
      await page.getByTestId("dataset-status").getByText("Accepted", { exact: true }).waitFor({ timeout: 120_000 });
    } catch {
      throw new Error(`not accepted: the banner says ${JSON.stringify(await page.locator("#problem").textContent())}; steps: ${JSON.stringify(await page.getByTestId("contribution-steps").allTextContents())}`);
    }

    const [contributed] = await dataRegistry.queryFilter(dataRegistry.filters.DatasetContributed(undefined, PERSON.address), fromBlock);
    const datasetId = contributed!.args.datasetId;
    expect(await page.getByTestId("dataset-id").textContent()).to.equal(String(datasetId));
    const onChain = await dataRegistry.datasetOf(datasetId);
    const canonical = encodeSamples(schema, flowers);
    // The committed plaintext is the file's samples; what was uploaded holds none of it.
    expect(onChain.commitment).to.equal(commitmentOf(canonical));
    expect(Number(onChain.sampleCount)).to.equal(flowers.count);
    expect(DATASET_STATUS_NAMES[Number(onChain.status)]).to.equal("Accepted");
    expect(uploads).to.have.length(2);
    const firstFlower = Buffer.from(flowers.features.buffer, flowers.features.byteOffset, 16);
    for (const body of uploads) expect(body.includes(firstFlower)).to.equal(false);
    const ballots = await dataRegistry.ballotsOf(datasetId);
    expect(await page.getByTestId("dataset-votes").textContent()).to.equal(ballots.map((b) => `${shortAddress(b.validator)} ${b.accept ? "accepted" : "rejected"} `).join(""));
    expect(wallet.asked.filter((m) => m === "eth_signTypedData_v4").length - signaturesBefore).to.equal(1);
    // The key is sealed for the validators and for the contributor's page key (the wallet's signature of the page's
    // message), so that it can share it with training jobs later; nobody else.
    const pageKey = await derivePageEncryptionKey(PERSON, app.stack.deployment.chainId, await dataRegistry.getAddress());
    const envelopes = parseKeyEnvelopeDocument(JSON.parse(Buffer.from(await app.stack.store.get(cidFromBytes(contributed!.args.keyEnvelopesCid))).toString()));
    expect(envelopes.envelopes.at(-1)).to.include({ recipient: PERSON.address, publicKey: pageKey.publicKey });
    for (const e of envelopes.envelopes.slice(0, -1)) expect(await dataRegistry.isValidator(e.recipient), e.recipient).to.equal(true);
    expect(wallet.asked.filter((m) => m === "personal_sign")).to.have.length(2); // asked twice: the wallet must sign alike
    expect(openEnvelope(envelopes, pageKey.privateKey)).to.have.length(32);
    expect(await page.getByTestId("contribution-steps").locator("li").count()).to.be.greaterThan(4);
    expect(await accessibilityViolations()).to.deep.equal([]);
    await shot("contribute");

    // The account page lists it, with the reward the registry credited for it.
    await page.goto(`${app.url}/#/account`);
    const row = page.getByTestId(`dataset-${datasetId}`);
    await row.waitFor({ timeout: 30_000 });
    const credited = await dataRegistry.queryFilter(dataRegistry.filters.Credited(PERSON.address, datasetId), fromBlock);
    const rewards = credited.filter((e) => e.args.reason === 1n || e.args.reason === 3n).reduce((sum, e) => sum + e.args.amount, 0n);
    expect(rewards).to.be.greaterThan(0n);
    expect(await row.locator("td").allTextContents()).to.deep.equal([String(datasetId), "Accepted", String(flowers.count), "0.0 TSR", `${formatEther(rewards)} TSR`, "0.0 TSR", "0"]);
  });

  it("the training page follows jobs as TrainingJobs records them, read again while shown; the requester cancels its enrolling job from the page and the budget comes back to its training credits, to the wei", async () => {
    const { trainingJobs, token, dataRegistry } = app.stack.contracts;
    const finished = await trainingJobs.jobCount();
    expect(finished, "the provenance test ran a job").to.be.greaterThan(0n);
    // The person's own job over the dataset it contributed from the page: no trainer runs now, so it stays enrolling.
    const [contributed] = (await dataRegistry.queryFilter(dataRegistry.filters.DatasetContributed(undefined, PERSON.address), app.stack.deployment.startBlock)).slice(-1);
    const initial = irisTask.initialModel();
    const published = await publishModel(app.stack.store, initial, { name: "iris from the page" }, irisTask.codecs);
    initial.dispose();
    const evalSetCid = await app.stack.store.add(encodeSamples(irisTask.schema, await irisTask.evalSet()));
    const budget = 30n * 10n ** 18n;
    await (await token.mint(PERSON.address, budget)).wait();
    const permit = await signPermit(token.connect(wallet.signer), wallet.signer, await trainingJobs.getAddress(), budget, BigInt((await nextTime()) + 3_600));
    const args = {
      manifestCid: cidToBytes(published.manifestCid), weightsCid: cidToBytes(published.weightsCid), evalSetCid: cidToBytes(evalSetCid),
      modelName: "iris from the page", datasetIds: [contributed!.args.datasetId], budget, rounds: 2, workersPerRound: 3, evaluators: 3,
      localEpochs: 5, batchSize: 5, learningRate: 50_000, rule: 3, quorumBps: 6_666, royaltyBps: 1_000, evaluationBps: 500,
      durations: { enroll: 3_600, commit: 600, reveal: 300, vote: 300, evaluation: 900 },
    };
    await (await trainingJobs.connect(wallet.signer).createJob(args, permit)).wait();
    const jobId = await trainingJobs.jobCount();

    await page.goto(`${app.url}/#/train`);
    const mine = page.getByTestId(`job-${jobId}`);
    await mine.waitFor({ timeout: 30_000 });
    expect(await mine.getByTestId("job-status").textContent()).to.equal("Enrolling");
    expect(await mine.getByTestId("job-phase").textContent()).to.match(/^0 of 3 workers enrolled; (59|60) min [0-9]+ s left to enrol$/);
    expect(await mine.getByTestId("job-budget").textContent()).to.equal(`${formatEther(budget)} TSR, 0.0 TSR paid, ${formatEther(budget)} TSR held`);
    // The federated job the provenance test ran: finished, every round as the chain has it; nobody may cancel it.
    const done = page.getByTestId(`job-${finished}`);
    expect(await done.getByTestId("job-status").textContent()).to.equal("Finalized");
    const view = await trainingJobs.jobOf(finished);
    expect(await done.getByTestId("job-rounds").locator("tbody tr").count()).to.equal(Number(view.rounds));
    expect(await done.getByRole("button", { name: /^Cancel/ }).count()).to.equal(0);
    // Read again while shown: a later phase line replaces the first (the chain's clock moved on).
    await app.stack.connection.ethers.provider.send("evm_increaseTime", [600]);
    await app.stack.connection.ethers.provider.send("evm_mine", []);
    await mine.getByTestId("job-phase").getByText(/^0 of 3 workers enrolled; (49|50) min [0-9]+ s left to enrol$/).waitFor({ timeout: 10_000 });
    expect(await accessibilityViolations()).to.deep.equal([]);
    await shot("training");

    const creditBefore = await trainingJobs.creditOf(PERSON.address);
    const fromBlock = await headBlock();
    await mine.getByRole("button", { name: `Cancel job ${jobId}` }).click();
    await mine.getByTestId("job-status").getByText("Cancelled", { exact: true }).waitFor({ timeout: 30_000 });
    expect((await trainingJobs.creditOf(PERSON.address)) - creditBefore).to.equal(budget);
    const cancelled = await trainingJobs.queryFilter(trainingJobs.filters.JobCancelled(jobId), fromBlock);
    expect(cancelled).to.have.length(1);
    expect(await mine.getByRole("button").count()).to.equal(0);
    expect(await mine.getByTestId("job-budget").textContent()).to.equal(`${formatEther(budget)} TSR, 0.0 TSR paid, ${formatEther(budget)} TSR back to the requester`);
  });

  it("creates a training job from the form: a bad term is the contract's sentence before anything is signed; then the terms, datasets, start and evaluation set on chain are the form's, the budget paid by one permit, the job listed", async () => {
    const { trainingJobs, token, modelRegistry } = app.stack.contracts;
    const schema = builtinSchema("iris-4/species-3")!;
    // The version the seeds' federated job registered: an Iris model to start from.
    const finished = (await trainingJobs.queryFilter(trainingJobs.filters.JobFinalized())).at(-1)!;
    const startVersion = (await trainingJobs.jobOf(finished.args.jobId)).versionId;
    const flowers = await irisTask.evalSet();
    const csv = irisCsv(flowers);
    const budget = 40n * 10n ** 18n;
    await (await token.mint(PERSON.address, budget)).wait();

    await page.goto(`${app.url}/#/train`);
    await page.getByText("Create a training job").click();
    const form = page.getByRole("form", { name: "New training job" });
    await form.getByLabel("Start from version").selectOption(String(startVersion));
    await form.getByLabel(/^Public evaluation file/).setInputFiles({ name: "iris-eval.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
    await form.getByLabel("Rounds").fill("2");
    // A budget below the workers' least pay passes the form's own checks; the contract's static call refuses it.
    await form.getByLabel("Budget (TSR)").fill("0.000000000000000001");
    const askedBefore = wallet.asked.length;
    await form.getByRole("button", { name: "Create the job" }).click();
    await page.locator("#problem").waitFor({ state: "visible" });
    const minPay = (await trainingJobs.params()).minUpdatePay;
    expect(await page.locator("#problem").textContent()).to.equal(`The contract refused: a budget of 1 token wei leaves less than the workers' least pay (${2n * 3n * (minPay === 0n ? 1n : minPay)} token wei: rounds x workers x minUpdatePay).`);
    expect(wallet.asked.slice(askedBefore)).to.not.include("eth_signTypedData_v4");
    expect(wallet.asked.slice(askedBefore)).to.not.include("eth_sendTransaction");

    await form.getByLabel("Budget (TSR)").fill("40");
    const datasetIds = (await form.getByRole("checkbox").evaluateAll((boxes) => boxes.map((b) => (b as unknown as { value: string }).value))).map(BigInt);
    expect(datasetIds.length).to.be.greaterThan(0);
    const balanceBefore = await token.balanceOf(PERSON.address);
    const fromBlock = await headBlock();
    await form.getByRole("button", { name: "Create the job" }).click();
    try {
      await page.getByTestId("job-created").waitFor({ timeout: 60_000 });
    } catch {
      throw new Error(`no job created: the banner says ${JSON.stringify(await page.locator("#problem").textContent())}; steps: ${JSON.stringify(await page.getByTestId("job-steps").allTextContents().catch(() => []))}`);
    }
    const [created] = await trainingJobs.queryFilter(trainingJobs.filters.JobCreated(undefined, PERSON.address), fromBlock);
    const a = created!.args.args;
    const version = await modelRegistry.getVersion(startVersion);
    expect([a.manifestCid, a.weightsCid]).to.deep.equal([version.manifestCid, version.weightsCid]);
    expect([a.modelName, [...a.datasetIds], a.budget, a.rounds, a.workersPerRound, a.evaluators, a.localEpochs, a.batchSize, a.learningRate, a.rule, a.quorumBps, a.royaltyBps, a.evaluationBps]).to.deep.equal(["iris-4 trained from the page", datasetIds, budget, 2n, 3n, 3n, 5n, 8n, 50_000n, 3n, 6_666n, 1_000n, 500n]);
    expect([...a.durations].map(Number)).to.deep.equal([3_600, 600, 300, 300, 900]);
    // The evaluation set on IPFS is the file's samples, encoded as the validators read them.
    const evalSet = await app.stack.store.get(CID.decode(getBytes(a.evalSetCid)).toString());
    expect(Buffer.from(evalSet).equals(Buffer.from(encodeSamples(schema, flowers)))).to.equal(true);
    expect(balanceBefore - (await token.balanceOf(PERSON.address))).to.equal(budget);
    expect(wallet.asked.slice(askedBefore).filter((m) => m === "eth_signTypedData_v4")).to.have.length(1);
    const jobId = created!.args.jobId;
    await page.getByTestId(`job-${jobId}`).getByTestId("job-status").getByText("Enrolling", { exact: true }).waitFor({ timeout: 10_000 });
    expect(await accessibilityViolations()).to.deep.equal([]);
    await shot("training-create");
  });
  it("a job created from the form is trained to the end: its workers wait for the contributor's key, the contributor shares it from the page (opened with the wallet's key, resealed, published), the rounds are followed live until the job is finalized and its model registered", async () => {
    const { trainingJobs, token, dataRegistry, workerRegistry } = app.stack.contracts;
    // The form's last job (over every Accepted dataset, most with no one to share their keys) is cancelled first: the
    // trainers about to start would enrol in it and wait there.
    for (const listed of await trainingJobs.queryFilter(trainingJobs.filters.JobCreated(undefined, PERSON.address))) {
      if (Number((await trainingJobs.jobOf(listed.args.jobId)).status) === 1) await (await trainingJobs.connect(wallet.signer).cancel(listed.args.jobId)).wait();
    }
    const trainers = await app.startTrainers();
    expect(trainers).to.have.length(3);
    const [contributed] = (await dataRegistry.queryFilter(dataRegistry.filters.DatasetContributed(undefined, PERSON.address), app.stack.deployment.startBlock)).slice(-1);
    const datasetId = contributed!.args.datasetId;
    const finished = (await trainingJobs.queryFilter(trainingJobs.filters.JobFinalized())).at(-1)!;
    const startVersion = (await trainingJobs.jobOf(finished.args.jobId)).versionId;
    const flowers = await irisTask.evalSet();
    const csv = irisCsv(flowers);
    await (await token.mint(PERSON.address, 40n * 10n ** 18n)).wait();

    // A fresh page: nothing of the contribution is kept in it (the page key is asked of the wallet again).
    await page.goto(`${app.url}/#/train`);
    await page.reload();
    await page.locator("body[data-ready=true]").waitFor();
    const connect = page.getByRole("button", { name: "Connect Test Wallet" });
    if ((await connect.count()) > 0) await connect.click();
    await page.getByText("Create a training job").click();
    const form = page.getByRole("form", { name: "New training job" });
    await form.getByLabel("Start from version").selectOption(String(startVersion));
    await form.getByLabel(/^Public evaluation file/).setInputFiles({ name: "iris-eval.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
    await form.getByLabel("Rounds").fill("2");
    await form.getByLabel("Budget (TSR)").fill("40");
    // Only the dataset this person contributed from the page (whose key it can share).
    for (const box of await form.getByRole("checkbox").all()) if ((await box.getAttribute("value")) !== String(datasetId)) await box.uncheck();
    const fromBlock = await headBlock();
    await form.getByRole("button", { name: "Create the job" }).click();
    await page.getByTestId("job-created").waitFor({ timeout: 60_000 });
    const [created] = await trainingJobs.queryFilter(trainingJobs.filters.JobCreated(undefined, PERSON.address), fromBlock);
    const jobId = created!.args.jobId;
    expect([...created!.args.args.datasetIds]).to.deep.equal([datasetId]);
    const card = page.getByTestId(`job-${jobId}`);

    // The trainers enrol on their own; the round cannot start until the contributor shares its key with them.
    const line = card.getByTestId(`dataset-key-${datasetId}`);
    await line.getByText(`dataset ${datasetId} (yours): 0 workers can read it; 3 wait for your key`).waitFor({ timeout: 60_000 });
    expect(await card.getByTestId("job-status").textContent()).to.equal("Committing");
    expect((await trainingJobs.workersOf(jobId)).map(String).sort()).to.deep.equal([...trainers].sort());
    expect((await trainingJobs.jobOf(jobId)).committed).to.equal(0n);
    // The person follows the rounds' scores too: each round's aggregate scored in this browser as it completes.
    await card.getByRole("button", { name: `Score job ${jobId}'s rounds in this browser` }).click();
    await shot("training-keys");
    const sentBefore = wallet.asked.filter((m) => m === "eth_sendTransaction").length;
    const keySignaturesBefore = wallet.asked.filter((m) => m === "personal_sign").length;
    const shareFrom = await headBlock();
    await line.getByRole("button", { name: `Share dataset ${datasetId}'s key with 3 workers` }).click();
    try {
      await card.getByTestId("job-status").getByText("Finalized", { exact: true }).waitFor({ timeout: 240_000 });
    } catch {
      const job = await trainingJobs.jobOf(jobId);
      throw new Error(`job ${jobId} not finalized (status ${job.status}, round ${job.round}, committed ${job.committed}): the banner says ${JSON.stringify(await page.locator("#problem").textContent())}; steps ${JSON.stringify(await page.getByTestId("share-steps").allTextContents().catch(() => []))}`);
    }

    // One transaction shared the key: new envelopes for the three workers, every earlier reader kept, opened by each.
    expect(wallet.asked.filter((m) => m === "eth_sendTransaction").length - sentBefore).to.equal(1);
    expect(wallet.asked.filter((m) => m === "personal_sign").length - keySignaturesBefore).to.equal(1);
    const [published] = await dataRegistry.queryFilter(dataRegistry.filters.KeyEnvelopesPublished(datasetId), shareFrom);
    expect(await page.getByTestId("share-steps").locator("li").allTextContents()).to.deep.equal([
      "Signing the message that gives this page your encryption key, in the wallet (it sends nothing)",
      `Opened dataset ${datasetId}'s key in this browser`,
      `Checked the key against dataset ${datasetId}'s data`,
      "Uploading the key envelopes for 3 more workers",
      "Publishing the new key envelopes",
      `Shared with 3 workers of job ${jobId} (envelopes ${cidFromBytes(published!.args.keyEnvelopesCid)})`,
    ]);
    const document = parseKeyEnvelopeDocument(JSON.parse(Buffer.from(await app.stack.store.get(cidFromBytes(published!.args.keyEnvelopesCid))).toString()));
    const before = parseKeyEnvelopeDocument(JSON.parse(Buffer.from(await app.stack.store.get(cidFromBytes(contributed!.args.keyEnvelopesCid))).toString()));
    expect(document.envelopes.map((e) => e.recipient)).to.deep.equal([...before.envelopes.map((e) => e.recipient), ...(await trainingJobs.workersOf(jobId))]);
    for (const t of trainers) expect((await workerRegistry.workerOf(t)).encryptionPublicKey.toLowerCase()).to.equal(document.envelopes.find((e) => e.recipient === t)!.publicKey);

    // Finished as the chain has it: every round agreed by all three, evaluated, registered; the page says the same.
    const job = await trainingJobs.jobOf(jobId);
    const results = await Promise.all([1, 2].map((round) => trainingJobs.roundResultOf(jobId, round)));
    // Every worker's update in each round; the round agreed once two of three voted (the quorum met); screened FedAvg
    // may leave an outlying update out (these partitions are by class).
    for (const r of results) expect([Number(r.updates), Number(r.votes) >= 2]).to.deep.equal([3, true]);
    const excluded = (mask: bigint) => [0n, 1n, 2n].filter((i) => ((mask >> i) & 1n) === 1n).length;
    const rows = card.getByTestId("job-rounds").locator("tbody tr");
    // Each round's score, computed in the browser from the aggregate its workers agreed on; the last one is the final
    // model's, which the validators scored on the same evaluation set (their median, to the hundredth of a percent).
    const median = `${((Number(job.accuracy) / 1e6) * 100).toFixed(2)} %`;
    await rows.last().getByTestId("round-score").getByText(median, { exact: true }).waitFor({ timeout: 60_000 });
    expect(await card.getByTestId("job-rounds").locator("thead th").last().textContent()).to.equal("Accuracy (scored here)");
    const scoresShown = await card.getByTestId("round-score").allTextContents();
    for (const text of scoresShown) expect(text).to.match(/^[0-9]{1,3}\.[0-9]{2} %$/);
    expect(await rows.allTextContents()).to.deep.equal(results.map((r, i) => `${i + 1}${r.updates}${r.votes}${excluded(r.excludedMask)}${scoresShown[i]}`));
    expect(await card.getByTestId("job-phase").textContent()).to.equal(`finished: median accuracy ${((Number(job.accuracy) / 1e6) * 100).toFixed(2)} %, registered as version ${job.versionId}`);
    expect(Number(job.accuracy) / 1e6).to.be.greaterThan(0.5);
    expect(await card.getByTestId("dataset-keys").count()).to.equal(0);
    // The budget paid out to the wei; an update the screen left out is paid back to the requester, and said so.
    const budget = 40n * 10n ** 18n;
    const refunds = (await trainingJobs.queryFilter(trainingJobs.filters.Credited(PERSON.address, jobId))).filter((e) => e.args.reason === 2n).reduce((sum, e) => sum + e.args.amount, 0n);
    expect(job.paid).to.equal(budget);
    expect(await card.getByTestId("job-budget").textContent()).to.equal(`40.0 TSR, ${formatEther(budget - refunds)} TSR paid${refunds > 0n ? `, ${formatEther(refunds)} TSR back to the requester` : ""}`);
    // The dataset earned the job's whole royalty (10 % of the budget, its only dataset), credited to the contributor.
    const royalties = await dataRegistry.queryFilter(dataRegistry.filters.RoyaltiesCredited(datasetId, PERSON.address), fromBlock);
    expect(royalties.map((e) => [e.args.samplesUsed, e.args.amount])).to.deep.equal([[BigInt(flowers.count), 4n * 10n ** 18n]]);
    expect(await accessibilityViolations()).to.deep.equal([]);
    await shot("training-finished");
  });
});
