import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { getAddress } from "ethers";
import { network } from "hardhat";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import type { DataRegistry, TrainingJobs } from "../../../typechain-types/index.js";
import { contributedDatasetId, prepareContribution } from "../../../worker/src/data/DataRegistryClient.js";
import { decryptDataset } from "../../../worker/src/data/DatasetCipher.js";
import { NotAuthorizedError } from "../../../worker/src/data/DatasetError.js";
import { commitmentOf, fromDigitSet } from "../../../worker/src/data/DatasetFormat.js";
import { generateEncryptionKey, openEnvelope, parseKeyEnvelopeDocument, type EncryptionKeyPair, type KeyRecipient } from "../../../worker/src/data/KeyEnvelopes.js";
import { KeySharingError, jobKeyRecipients, locateDataset, validEncryptionKey } from "../../../worker/src/data/KeyRecipients.js";
import { openOwnDatasetKey, shareDatasetKey } from "../../../worker/src/data/KeySharing.js";
import { EmbeddedContentStore } from "../../../worker/src/ipfs/EmbeddedContentStore.js";
import { getJson } from "../../../worker/src/ipfs/ContentStore.js";
import { loadMnist, selectDigits } from "../../../worker/src/ml/MnistDataset.js";
import { NO_PERMIT, TOKEN, deployDataRegistry } from "../../helpers/data.js";
import { CAP_TRAIN, CAP_VALIDATE, MIN_STAKE, deployTessera, type Deployment } from "../../helpers/tessera.js";
import { deployTrainingJobs, jobArgs, jobIdOf } from "../../helpers/training.js";

const { ethers } = await network.create();

/** A 33-byte "key" WorkerRegistry accepts (02 prefix) that is no point of secp256k1 (x >= p). */
const NOT_A_POINT = "0x02" + "ff".repeat(32);

/**
 * Key sharing on real parts: the contracts on an in-process chain, the embedded IPFS store, two
 * real MNIST datasets contributed through the client library (key sealed for three validators and
 * for the contributor itself), and a training job of K = 3 over them. Dataset A is read by
 * partitions 0 and 2, dataset B by partition 1 (Partition.ts, D < K).
 */
describe("KeySharing: share a dataset key with a training job's workers", function () {
  this.timeout(60_000);
  let dir: string;
  let store: EmbeddedContentStore;
  let d: Deployment;
  let data: DataRegistry;
  let jobs: TrainingJobs;
  let contributor: HardhatEthersSigner;
  let outsider: HardhatEthersSigner;
  let validators: HardhatEthersSigner[];
  let workers: HardhatEthersSigner[];
  const keys = new Map<string, EncryptionKeyPair>();
  const contributorKey = generateEncryptionKey();
  let validatorRecipients: KeyRecipient[];
  let datasetA: bigint;
  let datasetB: bigint;
  let jobId: bigint;

  async function register(worker: HardhatEthersSigner, capabilities: number, publicKey?: string): Promise<void> {
    const key = generateEncryptionKey();
    keys.set(worker.address, key);
    await d.token.mint(worker.address, MIN_STAKE);
    await d.token.connect(worker).approve(await d.workers.getAddress(), MIN_STAKE);
    await d.workers.connect(worker).register(MIN_STAKE, capabilities, publicKey ?? key.publicKey, "");
  }

  const keyOf = (who: HardhatEthersSigner) => keys.get(who.address)!;

  async function documentOf(datasetId: bigint) {
    const location = await locateDataset(data, datasetId);
    return parseKeyEnvelopeDocument(await getJson(store, location.envelopesCid!));
  }

  /** Opens `who`'s envelope of the current document and decrypts the dataset with it. */
  async function readAs(datasetId: bigint, privateKey: string): Promise<string> {
    const location = await locateDataset(data, datasetId);
    const key = openEnvelope(await documentOf(datasetId), privateKey);
    return commitmentOf(await decryptDataset(await store.get(location.datasetCid), key));
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "tessera-key-sharing-"));
    store = await EmbeddedContentStore.open(join(dir, "ipfs"));
    const signers = await ethers.getSigners();
    const [admin, treasury] = signers;
    [contributor, outsider] = signers.slice(2, 4);
    validators = signers.slice(4, 7);
    workers = signers.slice(7, 10);
    d = await deployTessera(ethers, admin, treasury.address);
    data = await deployDataRegistry(ethers, d, admin);
    jobs = await deployTrainingJobs(ethers, d, data, admin);
    for (const v of validators) await register(v, CAP_VALIDATE);
    await register(workers[0], CAP_TRAIN);
    await register(workers[1], CAP_TRAIN);
    await register(workers[2], CAP_TRAIN, NOT_A_POINT);
    validatorRecipients = validators.map((v) => ({ address: v.address, publicKey: keyOf(v).publicKey }));

    await d.token.mint(admin.address, 2_000n * TOKEN);
    await d.token.approve(await data.getAddress(), 1_000n * TOKEN);
    await data.fundRewardPool(1_000n * TOKEN);
    await d.token.mint(contributor.address, 100n * TOKEN);
    const train = (await loadMnist({ testCount: 2_000, seed: 42 })).train;
    const ids: bigint[] = [];
    for (const [from, count] of [
      [0, 30],
      [100, 20],
    ]) {
      const samples = fromDigitSet(selectDigits(train, Array.from({ length: count }, (_, i) => from + i)));
      const recipients = [...validatorRecipients, { address: contributor.address, publicKey: contributorKey.publicKey }];
      const prepared = await prepareContribution({ registry: data, token: d.token, signer: contributor, store, source: { samples }, recipients, license: "CC-BY-4.0" });
      const receipt = await (await data.connect(contributor).contribute(prepared.args, prepared.permit)).wait();
      const datasetId = contributedDatasetId(data, receipt);
      for (const v of validators) await (await data.connect(v).vote(datasetId, true, 0)).wait(); // the whole drawn committee
      ids.push(datasetId);
    }
    [datasetA, datasetB] = ids;

    await d.token.approve(await jobs.getAddress(), 1_000n * TOKEN);
    jobId = jobIdOf(jobs, await (await jobs.createJob(jobArgs(ids), NO_PERMIT)).wait());
    for (const w of workers) await (await jobs.connect(w).enroll(jobId)).wait();
  });

  after(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("jobKeyRecipients: the enrolled workers whose partition reads the dataset, with their keys; a worker without a usable key is reported", async () => {
    const a = await jobKeyRecipients({ trainingJobs: jobs, workerRegistry: d.workers, jobId, datasetId: datasetA });
    expect(a.partitions).to.deep.equal([0, 2]);
    expect(a.recipients).to.deep.equal([{ address: workers[0].address, partitionIndex: 0, publicKey: keyOf(workers[0]).publicKey }]);
    expect(a.withoutKey).to.have.length(1);
    expect(a.withoutKey[0]).to.include({ address: workers[2].address, partitionIndex: 2 });
    expect(a.withoutKey[0].reason).to.match(/not a secp256k1 point/);
    expect(a.dropped).to.deep.equal([]);
    expect(a.unfilled).to.deep.equal([]);

    const b = await jobKeyRecipients({ trainingJobs: jobs, workerRegistry: d.workers, jobId, datasetId: datasetB });
    expect(b.partitions).to.deep.equal([1]);
    expect(b.recipients.map((r) => [r.address, r.partitionIndex])).to.deep.equal([[workers[1].address, 1]]);

    const notInJob = await jobKeyRecipients({ trainingJobs: jobs, workerRegistry: d.workers, jobId, datasetId: 99n }).catch((e: Error) => e);
    expect(notInJob).to.be.instanceOf(KeySharingError);
    expect((notInJob as Error).message).to.match(/dataset 99 is not a dataset of training job 1 \(its datasets: 1, 2\)/);
    const unknownJob = await jobKeyRecipients({ trainingJobs: jobs, workerRegistry: d.workers, jobId: 7n, datasetId: datasetA }).catch((e: Error) => e);
    expect((unknownJob as Error).message).to.match(/unknown training job 7 \(1 created so far\)/);
    expect(validEncryptionKey(NOT_A_POINT)).to.equal(undefined);
  });

  it("openOwnDatasetKey: the contributor recovers its key from its own envelope; another key is NotAuthorized", async () => {
    const own = await openOwnDatasetKey({ registry: data, store, datasetId: datasetA, encryptionPrivateKey: contributorKey.privateKey });
    const plaintext = await decryptDataset(await store.get(own.location.datasetCid), own.key);
    expect(commitmentOf(plaintext)).to.equal(own.location.commitment);
    expect(own.location.contributor).to.equal(contributor.address);
    const stranger = await openOwnDatasetKey({ registry: data, store, datasetId: datasetA, encryptionPrivateKey: generateEncryptionKey().privateKey }).catch((e: Error) => e);
    expect(stranger).to.be.instanceOf(NotAuthorizedError);
  });

  it("shareDatasetKey: adds the job's worker, keeps every recipient, publishes the new document; only listed keys open it", async () => {
    const readers = await jobKeyRecipients({ trainingJobs: jobs, workerRegistry: d.workers, jobId, datasetId: datasetA });
    const { key } = await openOwnDatasetKey({ registry: data, store, datasetId: datasetA, encryptionPrivateKey: contributorKey.privateKey });
    const before = await locateDataset(data, datasetA);
    const result = await shareDatasetKey({ registry: data.connect(contributor), store, datasetId: datasetA, datasetKey: key, recipients: readers.recipients });
    expect(result.added).to.deep.equal([workers[0].address]);
    expect(result.txHash).to.be.a("string");
    expect(result.envelopesCid).to.not.equal(before.envelopesCid);
    expect(result.recipients).to.have.members([...validators.map((v) => v.address), contributor.address, workers[0].address]);

    const receipt = await ethers.provider.getTransactionReceipt(result.txHash!);
    const published = receipt!.logs.map((l) => data.interface.parseLog(l)).find((e) => e?.name === "KeyEnvelopesPublished");
    expect(published!.args.datasetId).to.equal(datasetA);
    expect((await locateDataset(data, datasetA)).envelopesCid).to.equal(result.envelopesCid);
    expect(await store.has(result.envelopesCid)).to.equal(true);

    const commitment = before.commitment;
    expect(await readAs(datasetA, keyOf(workers[0]).privateKey)).to.equal(commitment); // the added worker
    expect(await readAs(datasetA, keyOf(validators[0]).privateKey)).to.equal(commitment); // an existing validator
    expect(await readAs(datasetA, contributorKey.privateKey)).to.equal(commitment); // the contributor itself
    const notListed = await readAs(datasetA, keyOf(workers[1]).privateKey).catch((e: Error) => e);
    expect(notListed).to.be.instanceOf(NotAuthorizedError); // partition 1 trains on dataset B only
    // Dataset B's document is untouched.
    expect((await documentOf(datasetB)).envelopes.map((e) => e.recipient)).to.not.include(workers[0].address);
  });

  it("shareDatasetKey: nothing new (the same worker, its address in another case, a repeat) sends no transaction", async () => {
    const { key } = await openOwnDatasetKey({ registry: data, store, datasetId: datasetA, encryptionPrivateKey: contributorKey.privateKey });
    const current = await locateDataset(data, datasetA);
    const w0 = { address: workers[0].address.toLowerCase(), publicKey: keyOf(workers[0]).publicKey };
    const v0 = { address: validators[0].address, publicKey: keyOf(validators[0]).publicKey.toUpperCase().replace("0X", "0x") };
    const blockBefore = await ethers.provider.getBlockNumber();
    const result = await shareDatasetKey({ registry: data.connect(contributor), store, datasetId: datasetA, datasetKey: key, recipients: [w0, w0, v0] });
    expect(result).to.deep.include({ envelopesCid: current.envelopesCid, added: [], skipped: [] });
    expect(result.txHash).to.equal(undefined);
    expect(await ethers.provider.getBlockNumber()).to.equal(blockBefore);
  });

  it("shareDatasetKey: a public key already listed under another address is skipped, not sealed twice", async () => {
    const { key } = await openOwnDatasetKey({ registry: data, store, datasetId: datasetB, encryptionPrivateKey: contributorKey.privateKey });
    const copycat = { address: outsider.address, publicKey: keyOf(validators[1]).publicKey };
    const result = await shareDatasetKey({ registry: data.connect(contributor), store, datasetId: datasetB, datasetKey: key, recipients: [copycat] });
    expect(result.added).to.deep.equal([]);
    expect(result.skipped).to.deep.equal([{ address: outsider.address, reason: `its encryption key ${keyOf(validators[1]).publicKey} is already listed for ${validators[1].address}` }]);
    expect(result.txHash).to.equal(undefined);
  });

  it("shareDatasetKey: anyone but the contributor is refused with the registry's custom error; a wrong key is refused before any transaction", async () => {
    const readers = await jobKeyRecipients({ trainingJobs: jobs, workerRegistry: d.workers, jobId, datasetId: datasetB });
    const { key } = await openOwnDatasetKey({ registry: data, store, datasetId: datasetB, encryptionPrivateKey: contributorKey.privateKey });
    const refused = await shareDatasetKey({ registry: data.connect(outsider), store, datasetId: datasetB, datasetKey: key, recipients: readers.recipients }).catch((e: Error) => e);
    expect(refused).to.be.instanceOf(KeySharingError);
    expect((refused as KeySharingError).revert?.name).to.equal("DataRegistryNotContributor");
    expect((refused as Error).message).to.equal(
      `publishKeyEnvelopes reverts with DataRegistryNotContributor(${datasetB}, ${outsider.address}, ${contributor.address}): only its contributor ${contributor.address} can share dataset ${datasetB}'s key`,
    );

    const wrongKey = Uint8Array.from(key);
    wrongKey[0] ^= 0xff;
    const blockBefore = await ethers.provider.getBlockNumber();
    const wrong = await shareDatasetKey({ registry: data.connect(contributor), store, datasetId: datasetB, datasetKey: wrongKey, recipients: readers.recipients }).catch((e: Error) => e);
    expect(wrong).to.be.instanceOf(KeySharingError);
    expect((wrong as Error).message).to.match(/the key given does not decrypt dataset 2/);
    expect(await ethers.provider.getBlockNumber()).to.equal(blockBefore);

    // The contributor then shares B with partition 1's worker, who can read it.
    const shared = await shareDatasetKey({ registry: data.connect(contributor), store, datasetId: datasetB, datasetKey: key, recipients: readers.recipients });
    expect(shared.added).to.deep.equal([getAddress(workers[1].address)]);
    expect(await readAs(datasetB, keyOf(workers[1]).privateKey)).to.equal((await locateDataset(data, datasetB)).commitment);
  });
});
