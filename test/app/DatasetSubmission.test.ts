import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { network } from "hardhat";
import { checkDatasetFile, submitDataset, type SubmissionStep } from "../../client/src/DatasetSubmission.js";
import { ensureMinter, ensureStakedWorker } from "../../scripts/lib/EmbeddedStaking.js";
import { EmbeddedStack } from "../../scripts/lib/EmbeddedStack.js";
import { CAP_VALIDATE } from "../../worker/src/chain/Capabilities.js";
import { generateEncryptionKey } from "../../worker/src/data/KeyEnvelopes.js";
import { SIX_FLOWERS_CSV } from "../helpers/IrisCsv.js";
import { startIpfsTestServer, type IpfsTestServer } from "./IpfsTestServer.js";


/**
 * A contribution as the page makes it, against a real chain and upload endpoint: what must hold before the wallet is
 * asked for anything, and an IPFS node that answers the right CID but keeps nothing.
 */
describe("A dataset submitted from a page (client DatasetSubmission)", function () {
  this.timeout(120_000);
  let stack: EmbeddedStack;
  let dataDir: string;
  let server: IpfsTestServer;
  let url: string;
  /** When true, the node answers the right CID for an upload but stores nothing (its gateway then has nothing). */
  let forgetful = false;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tessera-submission-"));
    stack = await EmbeddedStack.start(await network.create(), { dataDir, queuePrefix: `tessera-test-submission-${process.pid}` });
    const { token, workerRegistry } = stack.contracts;
    await ensureMinter(stack);
    const stake = (await workerRegistry.minStake()) * 2n;
    for (const [i, v] of stack.signers.users.slice(-3).entries()) await ensureStakedWorker(stack, v, { stake, capabilities: CAP_VALIDATE, encryptionPublicKey: generateEncryptionKey().publicKey, endpoint: `embedded://v${i}` });
    server = await startIpfsTestServer(stack.store, { forgetful: () => forgetful });
    url = server.url;
  });

  after(async () => {
    await server.close();
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const options = (signer: (typeof stack.signers.users)[number], steps: SubmissionStep[]) => ({
    dataRegistry: stack.contracts.dataRegistry!,
    token: stack.contracts.token,
    workerRegistry: stack.contracts.workerRegistry,
    signer,
    checked: checkDatasetFile("iris-4/species-3", { name: "iris.csv", bytes: new TextEncoder().encode(SIX_FLOWERS_CSV) }),
    license: "CC-BY-4.0",
    ipfsApi: url,
    gateway: url,
    fromBlock: stack.deployment.startBlock,
    onStep: (s: SubmissionStep) => steps.push(s),
  });

  it("a node that answers the right CID but keeps nothing: the contribution stops before the wallet is asked, nothing sent, the bond untouched", async () => {
    const { dataRegistry, token } = stack.contracts;
    const person = stack.signers.users[0]!;
    const bond = (await dataRegistry!.params()).bond;
    await (await token.mint(person.address, bond)).wait();
    const steps: SubmissionStep[] = [];
    const fromBlock = await stack.connection.ethers.provider.getBlockNumber();
    forgetful = true;
    let message = "";
    try {
      await submitDataset(options(person, steps));
    } catch (err) {
      message = (err as Error).message;
    } finally {
      forgetful = false;
    }
    expect(message).to.match(new RegExp(`^The IPFS gateway ${url} answered 404 for the encrypted dataset bafk`));
    expect(steps).to.deep.equal(["encrypting", "uploading", "reading-back"]);
    expect(await dataRegistry!.queryFilter(dataRegistry!.filters.DatasetContributed(), fromBlock)).to.have.length(0);
    expect(await token.balanceOf(person.address)).to.equal(bond);

    // The same through a node that keeps it: every step, and the dataset on chain with the bond held.
    const kept: SubmissionStep[] = [];
    const submitted = await submitDataset(options(person, kept));
    expect(kept).to.deep.equal(["encrypting", "uploading", "reading-back", "uploading", "reading-back", "signing-permit", "sending", "sent"]);
    expect((await dataRegistry!.datasetOf(submitted.datasetId)).bond).to.equal(bond);
    expect(await token.balanceOf(person.address)).to.equal(0n);
    expect(submitted.recipients).to.have.length(3);
  });

  it("what would fail is said before anything is uploaded: no license, too few tokens for the bond, the same samples twice", async () => {
    const { dataRegistry, token } = stack.contracts;
    const poor = stack.signers.users[1]!;
    const steps: SubmissionStep[] = [];
    const caught = async (p: Promise<unknown>) => p.then(() => "", (e: Error) => e.message);
    expect(await caught(submitDataset({ ...options(poor, steps), license: " " }))).to.equal("Name the license the dataset is given under (for example CC-BY-4.0).");
    const bond = (await dataRegistry!.params()).bond;
    expect(await caught(submitDataset(options(poor, steps)))).to.equal(`The bond is ${Number(bond / 10n ** 18n).toFixed(1)} TSR and this account holds 0.0 TSR.`);
    const person = stack.signers.users[0]!;
    await (await token.mint(person.address, bond)).wait();
    const [first] = await dataRegistry!.queryFilter(dataRegistry!.filters.DatasetContributed(undefined, person.address));
    expect(await caught(submitDataset(options(person, steps)))).to.equal(`This account already contributed this exact dataset (dataset ${first!.args.datasetId}).`);
    expect(steps).to.deep.equal([]);
  });
});
