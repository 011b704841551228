import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { hexlify } from "ethers";
import { network } from "hardhat";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import { checkDatasetFile } from "../../../client/src/DatasetSubmission.js";
import { ensureMinter, ensureStakedWorker } from "../../../scripts/lib/EmbeddedStaking.js";
import { EmbeddedStack } from "../../../scripts/lib/EmbeddedStack.js";
import { CAP_VALIDATE } from "../../../worker/src/chain/Capabilities.js";
import { contributedDatasetId, prepareContribution } from "../../../worker/src/data/DataRegistryClient.js";
import { FileDatasetKeyring } from "../../../worker/src/data/DatasetKeyring.js";
import { generateEncryptionKey, openEnvelope, parseKeyEnvelopeDocument, sealKeyEnvelopes, type EncryptionKeyPair } from "../../../worker/src/data/KeyEnvelopes.js";
import { locateDataset } from "../../../worker/src/data/KeyRecipients.js";
import { cidToBytes } from "../../../worker/src/data/OnChainDataset.js";
import { builtinSchema } from "../../../worker/src/data/schema/BuiltinSchemas.js";
import { NotYetError } from "../../../worker/src/errors.js";
import { addJson, getJson } from "../../../worker/src/ipfs/ContentStore.js";
import { loadPartition } from "../../../worker/src/training/PartitionData.js";
import { SIX_FLOWERS_CSV } from "../../helpers/IrisCsv.js";

/**
 * A trainer keeps the dataset keys it opened (FileDatasetKeyring), on real parts: a dataset contributed on an
 * in-process chain with its key sealed for the validators, its contributor and one worker; the contributor then
 * publishes envelopes without the worker (after the worker read its partition). A worker that kept its key still
 * reads its data after a restart; one that did not waits for a key that will not come, and would miss its commit.
 */
describe("A trainer keeps the dataset keys it opened (DatasetKeyring)", function () {
  this.timeout(120_000);
  let stack: EmbeddedStack;
  let dataDir: string;
  let contributor: HardhatEthersSigner;
  let datasetId: bigint;
  const worker = generateEncryptionKey();
  const contributorKey = generateEncryptionKey();
  const slices = () => [{ datasetId, start: 1, end: 5 }];
  const options = (keyring?: FileDatasetKeyring, key: EncryptionKeyPair = worker) => ({
    registry: stack.contracts.dataRegistry!,
    store: stack.store,
    encryptionPrivateKey: key.privateKey,
    fromBlock: stack.deployment.startBlock,
    ...(keyring === undefined ? {} : { keyring }),
  });
  const refusal = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tessera-partition-keys-"));
    stack = await EmbeddedStack.start(await network.create(), { dataDir, queuePrefix: `tessera-test-partition-keys-${process.pid}` });
    const { token, workerRegistry, dataRegistry } = stack.contracts;
    await ensureMinter(stack);
    contributor = stack.signers.users[0]!;
    const validators = stack.signers.users.slice(-3);
    const stake = (await workerRegistry.minStake()) * 2n;
    const validatorKeys = validators.map(() => generateEncryptionKey());
    for (const [i, v] of validators.entries()) await ensureStakedWorker(stack, v, { stake, capabilities: CAP_VALIDATE, encryptionPublicKey: validatorKeys[i]!.publicKey, endpoint: `embedded://v${i}` });
    await (await token.mint(contributor.address, (await dataRegistry!.params()).bond)).wait();
    const checked = checkDatasetFile("iris-4/species-3", { name: "iris.csv", bytes: new TextEncoder().encode(SIX_FLOWERS_CSV) });
    const recipients = [
      ...validators.map((v, i) => ({ address: v.address, publicKey: validatorKeys[i]!.publicKey })),
      { address: contributor.address, publicKey: contributorKey.publicKey },
      { address: stack.signers.users[1]!.address, publicKey: worker.publicKey },
    ];
    const prepared = await prepareContribution({ registry: dataRegistry!, token, signer: contributor, store: stack.store, source: { schema: builtinSchema("iris-4/species-3")!, samples: checked.samples }, recipients, license: "CC-BY-4.0" });
    datasetId = contributedDatasetId(dataRegistry!, await (await dataRegistry!.connect(contributor).contribute(prepared.args, prepared.permit)).wait());
  });

  after(async () => {
    await stack?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("a key opened is kept, sealed to the worker (no key bytes in the clear, mode 0600); after the contributor drops the worker from the envelopes, a restarted worker that kept it still reads its partition, one without waits for a key that will not come", async () => {
    const dir = join(dataDir, "dataset-keys");
    const first = await loadPartition(slices(), options(new FileDatasetKeyring(dir, worker.privateKey)));
    expect(first.samples.count).to.equal(4);
    const files = readdirSync(dir);
    expect(files).to.have.length(1);
    const location = await locateDataset(stack.contracts.dataRegistry!, datasetId, stack.deployment.startBlock);
    const key = openEnvelope(parseKeyEnvelopeDocument(await getJson(stack.store, location.envelopesCid!)), worker.privateKey);
    const stored = readFileSync(join(dir, files[0]!), "utf8");
    expect(stored).to.not.include(hexlify(key).slice(2));
    expect(statSync(join(dir, files[0]!)).mode & 0o777).to.equal(0o600);

    // The contributor republishes its envelopes for itself only: the worker is no longer listed.
    const resealed = sealKeyEnvelopes(key, location.commitment, [{ address: contributor.address, publicKey: contributorKey.publicKey }], contributor.address);
    await (await stack.contracts.dataRegistry!.connect(contributor).publishKeyEnvelopes(datasetId, cidToBytes(await addJson(stack.store, resealed)))).wait();

    const forgetful = await refusal(loadPartition(slices(), options()));
    expect(forgetful).to.be.instanceOf(NotYetError);
    expect((forgetful as NotYetError).message).to.match(new RegExp(`^dataset ${datasetId}: its owner has not shared the key with this worker yet`));
    // A new process (a new keyring object over the same directory) reads the same samples.
    const again = await loadPartition(slices(), options(new FileDatasetKeyring(dir, worker.privateKey)));
    expect(Buffer.from(again.samples.features.buffer).equals(Buffer.from(first.samples.features.buffer))).to.equal(true);
    expect(Array.from(again.samples.labels)).to.deep.equal(Array.from(first.samples.labels));
  });

  it("a kept file another worker's key cannot open, or a damaged one, is a miss, never a key: the envelopes stay the source of truth", async () => {
    const dir = join(dataDir, "dataset-keys");
    const stranger = generateEncryptionKey();
    const theirs = await refusal(loadPartition(slices(), options(new FileDatasetKeyring(dir, stranger.privateKey), stranger)));
    expect(theirs).to.be.instanceOf(NotYetError);
    const [file] = readdirSync(dir);
    writeFileSync(join(dir, file!), "0xdamaged");
    expect(await new FileDatasetKeyring(dir, worker.privateKey).get(datasetId, (await locateDataset(stack.contracts.dataRegistry!, datasetId)).commitment)).to.equal(undefined);
    expect(await refusal(loadPartition(slices(), options(new FileDatasetKeyring(dir, worker.privateKey))))).to.be.instanceOf(NotYetError);
  });
});
