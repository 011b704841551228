import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { secp256k1 } from "@noble/curves/secp256k1";
import { Signature, Wallet, getAddress, getBytes, hashMessage, toBeHex, verifyMessage } from "ethers";
import { network } from "hardhat";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import { jobKeyStatus, shareKeyWithJob } from "../../client/src/DatasetKeyShares.js";
import { checkDatasetFile, submitDataset } from "../../client/src/DatasetSubmission.js";
import { derivePageEncryptionKey, pageKeyMessage } from "../../client/src/PageEncryptionKey.js";
import { ensureMinter, ensureStakedWorker } from "../../scripts/lib/EmbeddedStaking.js";
import { EmbeddedStack } from "../../scripts/lib/EmbeddedStack.js";
import { CAP_TRAIN, CAP_VALIDATE } from "../../worker/src/chain/Capabilities.js";
import { NO_PERMIT } from "../../worker/src/chain/Permit.js";
import { contributedDatasetId, currentValidatorRecipients, prepareContribution } from "../../worker/src/data/DataRegistryClient.js";
import { decryptDataset } from "../../worker/src/data/DatasetCipher.js";
import { commitmentOf } from "../../worker/src/data/DatasetFormat.js";
import { generateEncryptionKey, openEnvelope, parseKeyEnvelopeDocument, sealKeyEnvelopes, type EncryptionKeyPair } from "../../worker/src/data/KeyEnvelopes.js";
import { jobKeyRecipients, locateDataset } from "../../worker/src/data/KeyRecipients.js";
import { openOwnDatasetKey, shareDatasetKey } from "../../worker/src/data/KeySharing.js";
import { builtinSchema } from "../../worker/src/data/schema/BuiltinSchemas.js";
import { addJson, getJson } from "../../worker/src/ipfs/ContentStore.js";
import { cidToBytes } from "../../worker/src/data/OnChainDataset.js";
import { irisTask } from "../../scripts/lib/seedTasks/IrisTask.js";
import { jobArgs, jobIdOf } from "../helpers/training.js";
import { SIX_FLOWERS_CSV } from "../helpers/IrisCsv.js";
import { startIpfsTestServer, type IpfsTestServer } from "./IpfsTestServer.js";

/**
 * A valid EIP-191 signature of `message` by `wallet` other than its deterministic one: signed with a random nonce (RFC
 * 6979 with extra entropy), as a wallet with random nonces signs.
 */
function otherSignature(wallet: { readonly privateKey: string }, message: string): string {
  const signature = secp256k1.sign(getBytes(hashMessage(message)), getBytes(wallet.privateKey), { extraEntropy: true, lowS: true });
  return Signature.from({ r: toBeHex(signature.r, 32), s: toBeHex(signature.s, 32), v: 27 + signature.recovery }).serialized;
}

/** A 33-byte "key" WorkerRegistry accepts (02 prefix) that is no point of secp256k1 (x >= p). */
const NOT_A_POINT = "0x02" + "ff".repeat(32);
const TOKEN = 10n ** 18n;

/**
 * A contributor shares its dataset's key with a training job's workers from a page (client DatasetKeyShares), on real
 * parts: the contracts on an in-process chain, the embedded IPFS store behind the app server's upload endpoint and a
 * gateway, a dataset contributed as the page contributes (its key sealed for the contributor's page key, derived
 * from a wallet signature), another contributed as the tasks do, and a job of three workers over them, one of which
 * registered an encryption key that is no curve point. With two datasets and three partitions (Partition.ts, D < K),
 * the tasks' dataset (listed first) is read by partitions 0 and 2, the page's by partition 1.
 */
describe("Dataset keys shared from a page (client PageEncryptionKey, DatasetKeyShares)", function () {
  this.timeout(120_000);
  let stack: EmbeddedStack;
  let dataDir: string;
  let server: IpfsTestServer;
  let person: HardhatEthersSigner;
  let other: HardhatEthersSigner;
  let workers: HardhatEthersSigner[];
  let pageKey: EncryptionKeyPair;
  const keys = new Map<string, EncryptionKeyPair>();
  /** The other contributor's encryption key as the tasks use it (TESSERA_ENCRYPTION_KEY). */
  const otherTasksKey = generateEncryptionKey();
  /** The page's dataset (45 Iris flowers, sealed for the page key) and the tasks' one (6 flowers, no own key). */
  let pageDataset: bigint;
  let tasksDataset: bigint;
  let jobId: bigint;

  const contracts = () => ({ trainingJobs: stack.contracts.trainingJobs!, workerRegistry: stack.contracts.workerRegistry, dataRegistry: stack.contracts.dataRegistry! });
  const share = (datasetId: bigint, o: { signer?: HardhatEthersSigner; key?: EncryptionKeyPair; ipfsApi?: string; steps?: string[]; job?: bigint } = {}) =>
    shareKeyWithJob({
      ...contracts(),
      signer: o.signer ?? person,
      pageKey: o.key ?? pageKey,
      jobId: o.job ?? jobId,
      datasetId,
      gateway: server.url,
      ipfsApi: o.ipfsApi ?? server.url,
      fromBlock: stack.deployment.startBlock,
      onStep: (step) => o.steps?.push(step),
    });
  /** What another party does while the page uploads (awaited before the upload is handled). */
  let beforeUpload: (() => Promise<void>) | undefined;
  const refusal = (p: Promise<unknown>) => p.then(() => "", (e: Error) => e.message);
  const head = () => stack.connection.ethers.provider.getBlockNumber();

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tessera-key-shares-"));
    stack = await EmbeddedStack.start(await network.create(), { dataDir, queuePrefix: `tessera-test-key-shares-${process.pid}` });
    const { token, workerRegistry, dataRegistry, trainingJobs } = stack.contracts;
    await ensureMinter(stack);
    [person, other] = stack.signers.users;
    workers = stack.signers.users.slice(2, 5);
    const validators = stack.signers.users.slice(-3);
    const stake = (await workerRegistry.minStake()) * 2n;
    for (const [i, v] of validators.entries()) await ensureStakedWorker(stack, v, { stake, capabilities: CAP_VALIDATE, encryptionPublicKey: generateEncryptionKey().publicKey, endpoint: `embedded://v${i}` });
    for (const [i, w] of workers.entries()) {
      const key = generateEncryptionKey();
      keys.set(w.address, key);
      await ensureStakedWorker(stack, w, { stake, capabilities: CAP_TRAIN, encryptionPublicKey: i === 2 ? NOT_A_POINT : key.publicKey, endpoint: `embedded://t${i}` });
    }
    server = await startIpfsTestServer(stack.store, { maxUploadBytes: 4 << 20, beforeUpload: () => beforeUpload?.() ?? Promise.resolve() });
    pageKey = await derivePageEncryptionKey(person, stack.deployment.chainId, await dataRegistry!.getAddress());

    const schema = builtinSchema("iris-4/species-3")!;
    const flowers = await irisTask.evalSet();
    const bond = (await dataRegistry!.params()).bond;
    for (const who of [person, other]) await (await token.mint(who.address, bond)).wait();
    const submitted = await submitDataset({
      dataRegistry: dataRegistry!,
      token,
      workerRegistry,
      signer: person,
      checked: { schemaName: schema.document.name, schema, fileName: "flowers.csv", samples: flowers, classCounts: [] },
      license: "CC-BY-4.0",
      ipfsApi: server.url,
      gateway: server.url,
      fromBlock: stack.deployment.startBlock,
      ownKey: async () => pageKey,
    });
    expect(submitted.selfSealed).to.equal(true);
    pageDataset = submitted.datasetId;
    // As `data contribute` does with TESSERA_ENCRYPTION_KEY: sealed for the validators and the contributor's own key
    // (not a page key: the page cannot open it).
    const few = checkDatasetFile("iris-4/species-3", { name: "few.csv", bytes: new TextEncoder().encode(SIX_FLOWERS_CSV) });
    const recipients = await currentValidatorRecipients(workerRegistry, dataRegistry!, stack.deployment.startBlock);
    const prepared = await prepareContribution({ registry: dataRegistry!, token, signer: other, store: stack.store, source: { schema, samples: few.samples }, recipients: [...recipients, { address: other.address, publicKey: otherTasksKey.publicKey }], license: "CC-BY-4.0" });
    tasksDataset = contributedDatasetId(dataRegistry!, await (await dataRegistry!.connect(other).contribute(prepared.args, prepared.permit)).wait());
    for (const id of [pageDataset, tasksDataset]) for (const v of validators) await (await dataRegistry!.connect(v).vote(id, true, 0)).wait();

    const budget = 100n * TOKEN;
    await (await token.mint(stack.signers.deployer.address, budget)).wait();
    await (await token.approve(await trainingJobs!.getAddress(), budget)).wait();
    jobId = jobIdOf(trainingJobs!, await (await trainingJobs!.createJob(jobArgs([tasksDataset, pageDataset], { budget }), NO_PERMIT)).wait());
    for (const w of workers) await (await trainingJobs!.connect(w).enroll(jobId)).wait();
  });

  after(async () => {
    await server?.close();
    await stack?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("the page key: the same wallet gives the same key, any other wallet, chain or registry another; the message says what it unlocks and where", async () => {
    const registry = await stack.contracts.dataRegistry!.getAddress();
    expect(await derivePageEncryptionKey(person, stack.deployment.chainId, registry)).to.deep.equal(pageKey);
    const wallet = Wallet.createRandom();
    const a = await derivePageEncryptionKey(wallet, 31337, registry);
    expect(await derivePageEncryptionKey(wallet, 31337, registry)).to.deep.equal(a);
    const others = [await derivePageEncryptionKey(wallet, 1, registry), await derivePageEncryptionKey(wallet, 31337, getAddress("0x" + "12".repeat(20))), pageKey];
    for (const k of others) expect(k.privateKey).to.not.equal(a.privateKey);
    // The recovery byte is left out: a wallet writing it as 0/1 rather than 27/28 gives the same key.
    const message = pageKeyMessage(31337, registry);
    const signature = Signature.from(await wallet.signMessage(message));
    const lowV = { getAddress: async () => wallet.address, signMessage: async () => signature.r + signature.s.slice(2) + (signature.v - 27).toString(16).padStart(2, "0") };
    expect(await derivePageEncryptionKey(lowV as unknown as Wallet, 31337, registry)).to.deep.equal(a);
    expect(message).to.include("Chain: 31337").and.include(`DataRegistry: ${registry}`).and.include("Sign it only on a Tessera page you trust");
    expect(a.publicKey).to.match(/^0x0[23][0-9a-f]{64}$/);
    // The high-s twin of the same signature (valid by itself, not canonical: EIP-2) is refused, not a second key.
    const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const highS = "0x" + (N - BigInt(signature.s)).toString(16).padStart(64, "0");
    const twin = { getAddress: async () => wallet.address, signMessage: async () => signature.r + highS.slice(2) + (signature.v === 27 ? "1c" : "1b") };
    expect(await refusal(derivePageEncryptionKey(twin as unknown as Wallet, 31337, registry))).to.equal("The wallet's signature of the key message is not a standard one (65 bytes, low s): the page cannot derive your key from it.");
  });

  it("the page key is refused from a wallet that signs as another account, and (asked to confirm) from one that signs the same message differently each time", async () => {
    const registry = await stack.contracts.dataRegistry!.getAddress();
    const wallet = Wallet.createRandom();
    const impostor = { getAddress: async () => person.address, signMessage: (m: string) => wallet.signMessage(m) };
    expect(await refusal(derivePageEncryptionKey(impostor as unknown as Wallet, 31337, registry))).to.equal(`The wallet signed the key message as another account than ${person.address}: the page cannot derive your key from it.`);
    // Random nonces (as some MPC wallets sign): each signature valid (the second one verifies as the account's), never
    // the same twice: asked to confirm, the page refuses to seal a dataset for a key it could not derive again.
    let calls = 0;
    const tweaked = { getAddress: async () => wallet.address, signMessage: async (m: string) => (++calls === 1 ? wallet.signMessage(m) : otherSignature(wallet, m)) };
    expect(await refusal(derivePageEncryptionKey(tweaked as unknown as Wallet, 31337, registry, { confirm: true }))).to.equal(
      "This wallet signs the same message differently each time, so the page cannot give you a key you could use again to share your dataset with training jobs: contribute it with the tasks (`npx hardhat data contribute` with TESSERA_ENCRYPTION_KEY).",
    );
    expect(verifyMessage("x", otherSignature(wallet, "x"))).to.equal(wallet.address);
    expect(calls).to.equal(2);
    expect(await derivePageEncryptionKey(wallet, 31337, registry, { confirm: true })).to.deep.equal(await derivePageEncryptionKey(wallet, 31337, registry));
  });

  it("who can read each dataset of the job: before sharing, each waits for its contributor; the worker without a usable key is named", async () => {
    const status = await jobKeyStatus(contracts(), jobId, { gateway: server.url, fromBlock: stack.deployment.startBlock });
    expect(status).to.deep.equal([
      {
        datasetId: tasksDataset,
        contributor: other.address,
        canRead: [],
        waiting: [{ address: workers[0]!.address, partitionIndex: 0 }],
        withoutKey: [{ address: workers[2]!.address, partitionIndex: 2, reason: `registered encryption key ${NOT_A_POINT} is not a secp256k1 point` }],
        unfilled: [],
      },
      { datasetId: pageDataset, contributor: person.address, canRead: [], waiting: [{ address: workers[1]!.address, partitionIndex: 1 }], withoutKey: [], unfilled: [] },
    ]);
  });

  it("refused before anything is uploaded or sent: not the contributor; a dataset sealed without a page key; a page key of another wallet", async () => {
    const before = await head();
    expect(await refusal(share(pageDataset, { signer: other }))).to.equal(`Dataset ${pageDataset} was contributed by ${person.address}: only its contributor can share its key.`);
    const otherKey = await derivePageEncryptionKey(other, stack.deployment.chainId, await stack.contracts.dataRegistry!.getAddress());
    expect(await refusal(share(tasksDataset, { signer: other, key: otherKey }))).to.equal(
      `Dataset ${tasksDataset}'s key was not sealed for this wallet's page key: it was contributed from the tasks (share it with \`npx hardhat data share --dataset ${tasksDataset} --job ${jobId}\`), or this wallet signs the same message differently each time.`,
    );
    const stranger = await derivePageEncryptionKey(Wallet.createRandom(), stack.deployment.chainId, await stack.contracts.dataRegistry!.getAddress());
    expect(await refusal(share(pageDataset, { key: stranger }))).to.match(new RegExp(`^Dataset ${pageDataset}'s key was not sealed for this wallet's page key`));
    // A job still enrolling (its requester may cancel it owing no royalty) is not shared with, whoever enrolled.
    const { token, trainingJobs } = stack.contracts;
    await (await token.mint(stack.signers.deployer.address, 50n * TOKEN)).wait();
    await (await token.approve(await trainingJobs!.getAddress(), 50n * TOKEN)).wait();
    const enrolling = jobIdOf(trainingJobs!, await (await trainingJobs!.createJob(jobArgs([pageDataset], { budget: 50n * TOKEN }), NO_PERMIT)).wait());
    await (await trainingJobs!.connect(workers[1]!).enroll(enrolling)).wait();
    const beforeEnrolling = await head();
    expect(await refusal(share(pageDataset, { job: enrolling }))).to.equal(
      `Job ${enrolling} is still enrolling: its requester could still cancel it owing no royalty. Share the key once its workers are all enrolled and training starts.`,
    );
    expect(await head()).to.equal(beforeEnrolling);
    await (await trainingJobs!.cancel(enrolling)).wait();
    expect(await refusal(share(pageDataset, { job: enrolling }))).to.equal(`Job ${enrolling} is Cancelled: its workers train no more, there is nothing to share the key for.`);
    const before2 = await head();
    expect(await refusal(share(pageDataset, { ipfsApi: "http://127.0.0.1:9" }))).to.equal("The IPFS node http://127.0.0.1:9 could not be reached to upload envelopes.json: check its address (Account page).");
    expect(await head()).to.equal(before2);
    expect((await locateDataset(stack.contracts.dataRegistry!, pageDataset, stack.deployment.startBlock)).envelopesCid).to.not.equal(undefined);
    expect(await stack.contracts.dataRegistry!.queryFilter(stack.contracts.dataRegistry!.filters.KeyEnvelopesPublished(pageDataset))).to.have.length(0);
  });

  it("another share published while the page resealed (another tab, `data share`) stops the page's: its readers are not dropped, nothing is sent", async () => {
    const { dataRegistry } = stack.contracts;
    const location = await locateDataset(dataRegistry!, pageDataset, stack.deployment.startBlock);
    const key = openEnvelope(parseKeyEnvelopeDocument(await getJson(stack.store, location.envelopesCid!)), pageKey.privateKey);
    const reader = { address: stack.signers.users[5]!.address, publicKey: generateEncryptionKey().publicKey };
    let theirs = "";
    beforeUpload = async () => {
      beforeUpload = undefined;
      theirs = (await shareDatasetKey({ registry: dataRegistry!.connect(person), store: stack.store, datasetId: pageDataset, datasetKey: key, recipients: [reader] })).envelopesCid;
    };
    const before = await head();
    expect(await refusal(share(pageDataset))).to.equal(`Dataset ${pageDataset}'s key envelopes changed while this page resealed them (${theirs}): nothing was sent; share again.`);
    expect(await head()).to.equal(before + 1); // theirs only
    const now = await locateDataset(dataRegistry!, pageDataset, stack.deployment.startBlock);
    expect(now.envelopesCid).to.equal(theirs);
    expect(parseKeyEnvelopeDocument(await getJson(stack.store, theirs)).envelopes.map((e) => e.recipient)).to.include(reader.address);
  });

  it("shares: the key opened with the page key, checked against the data, resealed for every reader plus the waiting workers, published in one transaction; each of them decrypts the dataset to its commitment", async () => {
    const { dataRegistry } = stack.contracts;
    const status = (await jobKeyStatus(contracts(), jobId, { gateway: server.url, fromBlock: stack.deployment.startBlock })).find((s) => s.datasetId === pageDataset)!;
    const waiting = status.waiting.map((w) => w.address);
    expect(waiting).to.deep.equal([workers[1]!.address]);
    const earlier = await locateDataset(dataRegistry!, pageDataset, stack.deployment.startBlock);
    const earlierReaders = parseKeyEnvelopeDocument(await getJson(stack.store, earlier.envelopesCid!)).envelopes.map((e) => e.recipient);
    const before = await head();
    const steps: string[] = [];
    const shared = await share(pageDataset, { steps });
    expect(steps).to.deep.equal(["opening", "checking", "uploading", "sending"]);
    expect(shared.added).to.deep.equal(waiting);
    expect(await head()).to.equal(before + 1);
    const now = await locateDataset(dataRegistry!, pageDataset, stack.deployment.startBlock);
    expect(now.envelopesCid).to.equal(shared.envelopesCid);
    const document = parseKeyEnvelopeDocument(await getJson(stack.store, shared.envelopesCid));
    expect(document.envelopes.map((e) => e.recipient)).to.deep.equal([...earlierReaders, ...waiting]);
    const ciphertext = await stack.store.get(now.datasetCid);
    for (const address of waiting) {
      const plaintext = await decryptDataset(ciphertext, openEnvelope(document, keys.get(address)!.privateKey));
      expect(commitmentOf(plaintext)).to.equal(now.commitment);
    }
    // The contributor's own entry is kept: it can share again with the next job's workers.
    expect(commitmentOf(await decryptDataset(ciphertext, openEnvelope(document, pageKey.privateKey)))).to.equal(now.commitment);

    const after = (await jobKeyStatus(contracts(), jobId, { gateway: server.url, fromBlock: stack.deployment.startBlock })).find((s) => s.datasetId === pageDataset)!;
    expect(after.canRead.map((w) => w.address)).to.deep.equal(waiting);
    expect(after.waiting).to.deep.equal([]);
    // Nobody left to share with: said, nothing sent.
    expect(await refusal(share(pageDataset))).to.equal(`Every enrolled worker of job ${jobId} that trains on dataset ${pageDataset} can read it already.`);
    expect(await head()).to.equal(before + 1);
  });

  it("the tasks and the page agree: a key shared with `data share`'s library shows as read on the page; the worker left without a usable key is why nothing more can be shared", async () => {
    const { dataRegistry, trainingJobs, workerRegistry } = stack.contracts;
    const { key } = await openOwnDatasetKey({ registry: dataRegistry!, store: stack.store, datasetId: tasksDataset, encryptionPrivateKey: otherTasksKey.privateKey });
    const readers = await jobKeyRecipients({ trainingJobs: trainingJobs!, workerRegistry, jobId, datasetId: tasksDataset });
    const result = await shareDatasetKey({ registry: dataRegistry!.connect(other), store: stack.store, datasetId: tasksDataset, datasetKey: key, recipients: readers.recipients });
    expect(result.added).to.deep.equal([workers[0]!.address]);
    const status = (await jobKeyStatus(contracts(), jobId, { gateway: server.url, fromBlock: stack.deployment.startBlock })).find((s) => s.datasetId === tasksDataset)!;
    expect([status.canRead, status.waiting]).to.deep.equal([[{ address: workers[0]!.address, partitionIndex: 0 }], []]);
    const before = await head();
    expect(await refusal(share(tasksDataset, { signer: other }))).to.equal(
      `No worker of job ${jobId} can be given dataset ${tasksDataset}'s key now: ${workers[2]!.address}: registered encryption key ${NOT_A_POINT} is not a secp256k1 point.`,
    );
    expect(await head()).to.equal(before);
  });

  it("a key that does not open the data is refused before anything is uploaded: resealing it would lock every reader out", async () => {
    const { dataRegistry } = stack.contracts;
    const location = await locateDataset(dataRegistry!, pageDataset, stack.deployment.startBlock);
    // The contributor's own envelope replaced by one sealing another key (as a buggy client would have left it).
    const wrong = sealKeyEnvelopes(new Uint8Array(32).fill(7), location.commitment, [{ address: person.address, publicKey: pageKey.publicKey }], person.address);
    const cid = await addJson(stack.store, wrong);
    await (await dataRegistry!.connect(person).publishKeyEnvelopes(pageDataset, cidToBytes(cid))).wait();
    const before = await head();
    const uploadsBefore = server.uploads;
    const message = await refusal(share(pageDataset));
    expect(message).to.match(new RegExp(`^the key given does not decrypt dataset ${pageDataset} \\(${location.datasetCid}\\): `));
    expect(await head()).to.equal(before);
    expect(server.uploads).to.equal(uploadsBefore);
  });

  it("a document nobody can read as envelopes (published by the dataset's own contributor) is said on its dataset's line; the job's other datasets are still read", async () => {
    const { dataRegistry } = stack.contracts;
    const junk = await stack.store.add(new TextEncoder().encode("not key envelopes"));
    await (await dataRegistry!.connect(person).publishKeyEnvelopes(pageDataset, cidToBytes(junk))).wait();
    const status = await jobKeyStatus(contracts(), jobId, { gateway: server.url, fromBlock: stack.deployment.startBlock });
    const page = status.find((s) => s.datasetId === pageDataset)!;
    expect(page.unreadable).to.match(new RegExp(`^The key envelopes ${junk} of dataset ${pageDataset} are not a valid document: `));
    expect([page.canRead, page.waiting]).to.deep.equal([[], []]);
    const tasks = status.find((s) => s.datasetId === tasksDataset)!;
    expect([tasks.unreadable, tasks.canRead.map((w) => w.address)]).to.deep.equal([undefined, [workers[0]!.address]]);
  });
});
