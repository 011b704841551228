import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { id } from "ethers";
import hre from "hardhat";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import type { NetworkConnection } from "hardhat/types/network";
import type { ContributeResult } from "../../tasks/data/contribute.js";
import type { ShareTaskResult } from "../../tasks/data/share.js";
import type { VersionView } from "../../tasks/model/show.js";
import type { CreateJobResult } from "../../tasks/train/create.js";
import type { EnrollResult } from "../../tasks/train/enroll.js";
import type { JobView } from "../../tasks/lib/Training.js";
import { cidToString } from "../../tasks/lib/Cids.js";
import { MNIST_SPLIT } from "../../tasks/lib/Defaults.js";
import { Session } from "../../tasks/lib/Session.js";
import { DataRegistry__factory, TesseraToken__factory, TrainingJobs__factory, WorkerRegistry__factory } from "../../typechain-types/index.js";
import { decryptDataset } from "../../worker/src/data/DatasetCipher.js";
import { NotAuthorizedError } from "../../worker/src/data/DatasetError.js";
import { commitmentOf, decodeDataset, fromDigitSet } from "../../worker/src/data/DatasetFormat.js";
import { generateEncryptionKey, openEnvelope, parseKeyEnvelopeDocument, type EncryptionKeyPair } from "../../worker/src/data/KeyEnvelopes.js";
import { locateDataset } from "../../worker/src/data/KeyRecipients.js";
import type { Deployment } from "../../worker/src/Deployment.js";
import { getJson } from "../../worker/src/ipfs/ContentStore.js";
import { EmbeddedContentStore } from "../../worker/src/ipfs/EmbeddedContentStore.js";
import { readManifest, serializeModel } from "../../worker/src/ml/ModelArtifacts.js";
import { activeTf } from "../../worker/src/ml/backend.js";
import { builtinSchema } from "../../worker/src/data/schema/BuiltinSchemas.js";
import { inKerasOrder, saveModelFolder } from "../helpers/tfjsFolder.js";
import { loadMnist, selectDigits } from "../../worker/src/ml/MnistDataset.js";
import { commitmentOf as updateCommitment, update } from "../helpers/training.js";
import { runTask, taskFailure } from "../helpers/taskRunner.js";

const TOKEN = 10n ** 18n;
const CAP_TRAIN = 1;
const CAP_INFER = 2;
const CAP_VALIDATE = 4;
const BUDGET = 300n * TOKEN;
const AGG = (round: number) => id(`aggregate-${round}`);
const AGG_CID = (round: number) => "0x01551220" + (0xe0 + round).toString(16).repeat(32);
const ACCOUNTS = { requester: "0", idle: "4", workers: ["5", "6", "7"], unregistered: "8", inferrer: "9", contributor: "13" };

/**
 * The training tasks on the in-process chain they share with this test, with the real contracts:
 * data contribute (sealed for the contributor too) -> train create (a real seeded 2NN and 50
 * held-out digits on IPFS) -> train enroll x3 -> data share -> two rounds driven through the
 * contract (commit / reveal / vote with placeholder CIDs) -> evaluations -> finalize ->
 * model show with the provenance; train status along the way, and the errors met on it.
 */
describe("Hardhat tasks: train create, enroll, status; data share; model show provenance", function () {
  this.timeout(120_000);
  let dir: string;
  let deploymentPath: string;
  let connection: NetworkConnection;
  let deployment: Deployment;
  let signers: HardhatEthersSigner[];
  let workers: HardhatEthersSigner[];
  let validators: HardhatEthersSigner[];
  let created: CreateJobResult;
  const keys = new Map<string, EncryptionKeyPair>();
  const contributorKey = generateEncryptionKey();
  const common = () => ({ deployment: deploymentPath });
  const withDir = () => ({ deployment: deploymentPath, dataDir: dir });

  const contracts = () => {
    const { provider } = connection.ethers;
    return {
      token: TesseraToken__factory.connect(deployment.contracts.TesseraToken, provider),
      workerRegistry: WorkerRegistry__factory.connect(deployment.contracts.WorkerRegistry, provider),
      dataRegistry: DataRegistry__factory.connect(deployment.contracts.DataRegistry!, provider),
      jobs: TrainingJobs__factory.connect(deployment.contracts.TrainingJobs!, provider),
    };
  };

  async function withEncryptionKey<T>(key: string | undefined, run: () => Promise<T>): Promise<T> {
    const saved = process.env.TESSERA_ENCRYPTION_KEY;
    if (key === undefined) delete process.env.TESSERA_ENCRYPTION_KEY;
    else process.env.TESSERA_ENCRYPTION_KEY = key;
    try {
      return await run();
    } finally {
      if (saved === undefined) delete process.env.TESSERA_ENCRYPTION_KEY;
      else process.env.TESSERA_ENCRYPTION_KEY = saved;
    }
  }

  async function withStore<T>(run: (store: EmbeddedContentStore) => Promise<T>): Promise<T> {
    const store = await EmbeddedContentStore.open(join(dir, "ipfs"));
    try {
      return await run(store);
    } finally {
      await store.close();
    }
  }

  async function register(who: HardhatEthersSigner, capabilities: number): Promise<void> {
    const { token, workerRegistry } = contracts();
    const key = generateEncryptionKey();
    keys.set(who.address, key);
    const stake = await workerRegistry.minStake();
    await (await token.connect(signers[0]).mint(who.address, stake)).wait();
    await (await token.connect(who).approve(await workerRegistry.getAddress(), stake)).wait();
    await (await workerRegistry.connect(who).register(stake, capabilities, key.publicKey, "")).wait();
  }

  function digitsFile(name: string, train: Awaited<ReturnType<typeof loadMnist>>["train"], from: number, count: number): string {
    const set = fromDigitSet(selectDigits(train, Array.from({ length: count }, (_, i) => from + i)));
    const file = join(dir, name);
    writeFileSync(file, JSON.stringify(Array.from({ length: set.count }, (_, i) => ({ pixels: Array.from(set.pixels.subarray(i * 784, (i + 1) * 784)), label: set.labels[i] }))));
    return file;
  }

  const status = async (job = "1") => (await runTask<JobView>(hre, ["train", "status"], { ...common(), job })).result;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "tessera-train-tasks-"));
    deploymentPath = join(dir, "deployment.json");
    connection = await hre.network.getOrCreate();
    signers = await connection.ethers.getSigners();
    const admin = signers[0];
    workers = ACCOUNTS.workers.map((a) => signers[Number(a)]);
    validators = signers.slice(10, 13);
    deployment = (await runTask<Deployment>(hre, ["tessera", "deploy"], common())).result;
    const { token, dataRegistry } = contracts();
    const minter = await token.MINTER_ROLE();
    if (!(await token.hasRole(minter, admin.address))) await (await token.connect(admin).grantRole(minter, admin.address)).wait();
    for (const v of validators) await register(v, CAP_VALIDATE);
    for (const w of [...workers, signers[Number(ACCOUNTS.idle)]]) await register(w, CAP_TRAIN);
    await register(signers[Number(ACCOUNTS.inferrer)], CAP_INFER);
    await (await token.connect(admin).mint(signers[Number(ACCOUNTS.contributor)].address, 100n * TOKEN)).wait();
    await (await token.connect(admin).mint(admin.address, 2_000n * TOKEN)).wait();
    await (await token.connect(admin).approve(await dataRegistry.getAddress(), 1_000n * TOKEN)).wait();
    await (await dataRegistry.connect(admin).fundRewardPool(1_000n * TOKEN)).wait();

    // Three datasets of real digits, their keys sealed for the validators and for the contributor: 1 and 2 accepted, 3 left pending.
    const train = (await loadMnist(MNIST_SPLIT)).train;
    const files = [digitsFile("a.json", train, 6_000, 30), digitsFile("b.json", train, 6_100, 20), digitsFile("c.json", train, 6_200, 10)];
    for (const [i, file] of files.entries()) {
      const { result, output } = await withEncryptionKey(contributorKey.privateKey, () =>
        runTask<ContributeResult>(hre, ["data", "contribute"], { ...withDir(), account: ACCOUNTS.contributor, file }),
      );
      expect(result.datasetId).to.equal(BigInt(i + 1));
      expect(result.contributorKey).to.equal(contributorKey.publicKey);
      expect(output).to.include(`key sealed for your encryption key ${contributorKey.publicKey}`);
      if (i < 2) for (const v of validators) await (await dataRegistry.connect(v).vote(result.datasetId, true, 0)).wait(); // the whole drawn committee
    }
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it("train create: refuses bad inputs before any transaction", async () => {
    const base = { ...withDir(), datasets: "1,2", evalDigits: 50, budget: "300", rounds: 2, evaluators: 3 };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ datasets: undefined }, /--datasets is required/],
      [{ datasets: "1,1" }, /--datasets: 1 is listed twice/],
      [{ learningRate: "abc" }, /--learning-rate: "abc" is not a positive number/],
      [{ learningRate: "0" }, /--learning-rate: "0" is not a positive number/],
      [{ learningRate: "0.0000001" }, /--learning-rate: 0\.0000001 is below 0\.000001/],
      [{ learningRate: "0.0000015" }, /--learning-rate: 0\.0000015 is not a multiple of 0\.000001/],
      [{ model: "resnet" }, /--model: "resnet" is neither mlp/],
      [{ rule: "mean" }, /--rule: "mean" is not an aggregation rule \(fedavg, median, trimmed-mean, screened-fedavg\)/],
      [{ evalSet: "bafkqaaa" }, /pass one of --eval-digits, --eval-set or --eval-file, not several/],
      [{ evalDigits: 0 }, /an evaluation set is required/],
      [{ evalDigits: 0, evalSet: "not-a-cid" }, /--eval-set: "not-a-cid" is not a CID/],
      [{ evalDigits: 5_000 }, /--eval-digits must be an integer in 1\.\.2000/],
      [{ budget: "" }, /--budget is required/],
      [{ workers: 1 }, /--workers must be an integer in 2\.\.32, got 1/],
      [{ quorumBps: 5_000 }, /--quorum-bps must be an integer in 5001\.\.10000/],
      [{ quorumBps: 6_667 }, /--quorum-bps 6667 of 3 workers needs every worker's vote: one worker could block every round/],
      [{ evaluators: 2 }, /--evaluators must be an integer in 3\.\.15, got 2/],
      [{ budget: "0.000001" }, /less than the contract's least pay of 1\.0 TSR per update of every round \(2 x 3\)/],
      [{ royaltyBps: 6_000, evaluationBps: 4_000 }, /must stay below 10000/],
      [{ commitTime: "60s" }, /--commit-time 60s is outside 5m\.\.30d/],
      [{ voteTime: "soon" }, /--vote-time: "soon" is not a duration/],
      [{ datasets: "1,9" }, /--datasets: unknown dataset 9 \(3 contributed so far\)/],
      [{ datasets: "1,3" }, /--datasets: dataset 3 is Pending, not Accepted/],
      [{ account: "15" }, /holds 0\.0 TSR, the budget is 300\.0 TSR/],
    ];
    for (const [override, message] of cases) {
      const err = await taskFailure(hre, ["train", "create"], { ...base, ...override });
      expect(err.message, JSON.stringify(override)).to.match(message);
    }
    expect(await contracts().jobs.jobCount()).to.equal(0n);
  });

  it("train create: publishes a seeded 2NN and 50 held-out digits in plaintext, escrows the budget by permit", async () => {
    const { token, jobs } = contracts();
    const before = await token.balanceOf(signers[0].address);
    const run = await runTask<CreateJobResult>(hre, ["train", "create"], {
      ...withDir(),
      datasets: "1,2",
      evalDigits: 50,
      budget: "300",
      rounds: 2,
      evaluators: 3,
      learningRate: "0.05",
      rule: "fedavg",
    });
    created = run.result;
    expect(created).to.include({ jobId: 1n, requester: signers[0].address, model: "mlp", modelName: "mnist-mlp-federated", evalSamples: 50, budget: BUDGET });
    expect(created).to.include({ rounds: 2, workersPerRound: 3, evaluators: 3, localEpochs: 1, batchSize: 10, learningRate: 50_000, rule: "fedavg", quorumBps: 6_666 });
    expect(created.datasets).to.deep.equal([
      { datasetId: 1n, samples: 30 },
      { datasetId: 2n, samples: 20 },
    ]);
    expect(created.durations).to.deep.equal({ enroll: 3600, commit: 1800, reveal: 600, vote: 600, evaluation: 1800 });
    for (const text of [created.manifestCid, created.weightsCid, created.evalSetCid, new Date(created.enrollDeadline * 1000).toISOString()]) {
      expect(run.output).to.include(text);
    }
    expect(run.output).to.include("Created training job 1");
    expect(await token.balanceOf(signers[0].address)).to.equal(before - BUDGET);
    expect(await token.balanceOf(await jobs.getAddress())).to.equal(BUDGET);

    await withStore(async (store) => {
      const manifest = await readManifest(store, created.manifestCid);
      expect(manifest.weightsCid).to.equal(created.weightsCid);
      expect(manifest.contentHash).to.equal(created.contentHash);
      expect(manifest.signature.inputs[0].shape).to.deep.equal([null, 784]);
      const evalSet = decodeDataset(await store.get(created.evalSetCid)); // plaintext, canonical format
      const test = (await loadMnist(MNIST_SPLIT)).test;
      expect(evalSet.count).to.equal(50);
      expect(Array.from(evalSet.labels)).to.deep.equal(Array.from(test.labels.subarray(0, 50)));
    });
  });

  it("train enroll: refuses an unknown job, the requester and ineligible accounts; enrolls three workers and prints their partitions", async () => {
    expect((await taskFailure(hre, ["train", "enroll"], { ...common(), job: "9", account: "5" })).message).to.match(/unknown training job 9 \(1 created so far\)/);
    expect((await taskFailure(hre, ["train", "enroll"], { ...common(), job: "x", account: "5" })).message).to.match(/--job: "x" is not an id/);
    expect((await taskFailure(hre, ["train", "enroll"], { ...common(), job: "1", account: ACCOUNTS.requester })).message).to.match(/requested job 1: a requester cannot train its own job/);
    const unregistered = signers[Number(ACCOUNTS.unregistered)].address;
    expect((await taskFailure(hre, ["train", "enroll"], { ...common(), job: "1", account: ACCOUNTS.unregistered })).message).to.equal(
      `${unregistered} is not eligible to train (TrainingJobs needs a registered, staked, non-unstaking worker with CAP_TRAIN): it is not a registered worker`,
    );
    expect((await taskFailure(hre, ["train", "enroll"], { ...common(), job: "1", account: ACCOUNTS.inferrer })).message).to.match(/registered without CAP_TRAIN \(capabilities: infer\)/);

    const enrolled: EnrollResult[] = [];
    for (const [i, account] of ACCOUNTS.workers.entries()) {
      const { result, output } = await runTask<EnrollResult>(hre, ["train", "enroll"], { ...common(), job: "1", account });
      enrolled.push(result);
      expect(result).to.include({ jobId: 1n, worker: workers[i].address, partitionIndex: i, enrolled: i + 1, workersPerRound: 3, roundStarted: i === 2 });
      expect(output).to.include(`partition ${i} of 3`);
      if (i === 1) {
        const again = await taskFailure(hre, ["train", "enroll"], { ...common(), job: "1", account });
        expect(again.message).to.match(/is already enrolled in job 1 \(partition 1\)/);
        const half = await status();
        expect(half).to.include({ status: "Enrolling", round: 0, enrolled: 2 });
        expect(half.workers.map((w) => w.partitionIndex)).to.deep.equal([0, 1]);
      }
    }
    // Two datasets for three workers: dataset 1 split between partitions 0 and 2, dataset 2 to partition 1.
    expect(enrolled.map((e) => e.slices)).to.deep.equal([
      [{ datasetId: 1n, start: 0, end: 15 }],
      [{ datasetId: 2n, start: 0, end: 20 }],
      [{ datasetId: 1n, start: 15, end: 30 }],
    ]);
    expect(enrolled.map((e) => e.samples)).to.deep.equal([15, 20, 15]);
    const closed = await taskFailure(hre, ["train", "enroll"], { ...common(), job: "1", account: ACCOUNTS.idle });
    expect(closed.message).to.match(/job 1 is Committing: enrollment is closed \(3 of 3 workers enrolled\)/);
  });

  it("train status: round 1 commit phase, its deadline, the workers with their partitions; an unknown job fails", async () => {
    const view = await status();
    expect(view).to.include({ jobId: 1n, status: "Committing", round: 1, rounds: 2, workersPerRound: 3, enrolled: 3, active: 3, committed: 0, requester: signers[0].address });
    expect(view.secondsLeft).to.be.within(1, 1800);
    expect(view.workers.map((w) => [w.address, w.partitionIndex, w.dropped, w.earned])).to.deep.equal(workers.map((w, i) => [w.address, i, false, 0n]));
    expect(view.terms).to.include({ modelName: "mnist-mlp-federated", manifestCid: created.manifestCid, weightsCid: created.weightsCid, evalSetCid: created.evalSetCid, localEpochs: 1, batchSize: 10, learningRate: 0.05, rule: "fedavg" });
    expect(view.roundResults).to.deep.equal([]);
    expect(view).to.include({ budget: BUDGET, paid: 0n });
    const { output } = await runTask<JobView>(hre, ["train", "status"], { ...common(), job: "1" });
    expect(output).to.include("Training job 1 \"mnist-mlp-federated\": Committing, round 1 of 2").and.include("0 of 3 active workers committed").and.include("left)");
    expect((await taskFailure(hre, ["train", "status"], { ...common(), job: "99" })).message).to.match(/unknown training job 99 \(1 created so far\)/);
  });

  it("data share: the contributor shares dataset 1's key with partitions 0 and 2, who can then decrypt it; partition 1 cannot", async () => {
    const noKey = await withEncryptionKey(undefined, () => taskFailure(hre, ["data", "share"], { ...withDir(), account: ACCOUNTS.contributor, dataset: "1", job: "1" }));
    expect(noKey.message).to.match(/data share .* needs TESSERA_ENCRYPTION_KEY/);
    const notYours = await withEncryptionKey(contributorKey.privateKey, () => taskFailure(hre, ["data", "share"], { ...withDir(), account: "14", dataset: "1", job: "1" }));
    expect(notYours.message).to.match(/dataset 1 was contributed by .*, not .*; only its contributor can share its key/);
    const wrongKey = await withEncryptionKey(generateEncryptionKey().privateKey, () =>
      taskFailure(hre, ["data", "share"], { ...withDir(), account: ACCOUNTS.contributor, dataset: "1", job: "1" }),
    );
    expect(wrongKey.message).to.match(/key envelopes hold no entry for the public key .* of TESSERA_ENCRYPTION_KEY/);
    const notInJob = await withEncryptionKey(contributorKey.privateKey, () => taskFailure(hre, ["data", "share"], { ...withDir(), account: ACCOUNTS.contributor, dataset: "3", job: "1" }));
    expect(notInJob.message).to.match(/dataset 3 is not a dataset of training job 1/);

    const { result, output } = await withEncryptionKey(contributorKey.privateKey, () =>
      runTask<ShareTaskResult>(hre, ["data", "share"], { ...withDir(), account: ACCOUNTS.contributor, dataset: "1", job: "1" }),
    );
    expect(result.partitions).to.deep.equal([0, 2]);
    expect(result.added).to.deep.equal([workers[0].address, workers[2].address]);
    expect(result.rows.map((r) => [r.partitionIndex, r.worker, r.outcome])).to.deep.equal([
      [0, workers[0].address, "added"],
      [2, workers[2].address, "added"],
    ]);
    expect(result.recipients).to.include.members([...validators.map((v) => v.address), workers[0].address, workers[2].address]);
    expect(output).to.include(`Shared dataset 1's key with 2 worker(s) of job 1`).and.include(`${workers[0].address} added`).and.include(result.envelopesCid);

    const { dataRegistry } = contracts();
    await withStore(async (store) => {
      const location = await locateDataset(dataRegistry, 1n, deployment.startBlock);
      expect(location.envelopesCid).to.equal(result.envelopesCid);
      const document = parseKeyEnvelopeDocument(await getJson(store, result.envelopesCid));
      const ciphertext = await store.get(location.datasetCid);
      for (const w of [workers[0], workers[2], validators[0]]) {
        const key = openEnvelope(document, keys.get(w.address)!.privateKey);
        expect(commitmentOf(await decryptDataset(ciphertext, key))).to.equal(location.commitment);
      }
      expect(() => openEnvelope(document, keys.get(workers[1].address)!.privateKey)).to.throw(NotAuthorizedError);
    });

    const again = await withEncryptionKey(contributorKey.privateKey, () =>
      runTask<ShareTaskResult>(hre, ["data", "share"], { ...withDir(), account: ACCOUNTS.contributor, dataset: "1", job: "1" }),
    );
    expect(again.result.added).to.deep.equal([]);
    expect(again.result.txHash).to.equal(undefined);
    expect(again.result.rows.map((r) => r.outcome)).to.deep.equal(["already shared", "already shared"]);
    expect(again.output).to.include("nothing new to share");
  });

  it("two rounds through the contract (commit, reveal, vote): train status follows the phases and records each round", async () => {
    const { jobs } = contracts();
    for (const round of [1, 2]) {
      for (const [i, w] of workers.entries()) {
        const u = update(round * 10 + i, 15 + (i === 1 ? 5 : 0));
        await (await jobs.connect(w).commitUpdate(1, updateCommitment(u, w.address))).wait();
      }
      expect((await status()).status).to.equal("Revealing");
      for (const [i, w] of workers.entries()) {
        const u = update(round * 10 + i, 15 + (i === 1 ? 5 : 0));
        await (await jobs.connect(w).revealUpdate(1, u.updateCid, u.updateHash, u.sampleCount, u.salt)).wait();
      }
      const voting = await status();
      expect(voting).to.include({ status: "Voting", round, revealed: 3 });
      for (const w of workers.slice(0, 2)) await (await jobs.connect(w).voteAggregate(1, round, AGG(round), AGG_CID(round), 0n)).wait();
      const after = await status();
      expect(after.roundResults).to.have.length(round);
      expect(after.roundResults[round - 1]).to.deep.equal({ round, aggregateHash: AGG(round), aggregateCid: cidToString(AGG_CID(round)), updates: 3, votes: 2, excluded: [] });
      if (round === 1) expect(after).to.include({ status: "Committing", round: 2 });
      else expect(after).to.include({ status: "Evaluating", round: 2 });
    }
    const view = await status();
    expect(view.workers.every((w) => w.earned > 0n)).to.equal(true);
    expect(view.paid).to.equal(view.workers.reduce((sum, w) => sum + w.earned, 0n));
  });

  it("evaluations and finalize; train status shows the medians and the model; model show prints the provenance", async () => {
    const { jobs } = contracts();
    await (await jobs.connect(validators[0]).postEvaluation(1, 910_000, 300_000)).wait();
    await (await jobs.connect(validators[1]).postEvaluation(1, 930_000, 250_000)).wait();
    await (await jobs.connect(validators[2]).postEvaluation(1, 920_000, 275_000)).wait();
    await (await jobs.connect(signers[Number(ACCOUNTS.idle)]).finalize(1)).wait();

    const done = await runTask<JobView>(hre, ["train", "status"], { ...common(), job: "1" });
    expect(done.result).to.include({ status: "Finalized", accuracy: 0.92, loss: 0.275, paid: BUDGET });
    expect(done.result.evaluations.map((e) => [e.validator, e.accuracy, e.loss])).to.deep.equal([
      [validators[0].address, 0.91, 0.3],
      [validators[1].address, 0.93, 0.25],
      [validators[2].address, 0.92, 0.275],
    ]);
    const versionId = done.result.versionId!;
    expect(versionId).to.be.a("bigint");
    expect(done.output).to.include("accuracy 92.00 %").and.include(`model show --version-id ${versionId}`);

    const shown = await runTask<VersionView>(hre, ["model", "show"], { ...common(), versionId: versionId.toString() });
    expect(shown.result).to.include({ modelName: "mnist-mlp-federated", manifestCid: created.manifestCid, weightsCid: cidToString(AGG_CID(2)), contentHash: AGG(2) });
    const p = shown.result.provenance!;
    expect(p).to.include({ jobId: 1n, requester: signers[0].address, trainingJobs: deployment.contracts.TrainingJobs, accuracy: 0.92, loss: 0.275 });
    expect(p.datasets).to.deep.equal([
      { datasetId: 1n, samplesUsed: 30 },
      { datasetId: 2n, samplesUsed: 20 },
    ]);
    expect(p.workers).to.deep.equal(workers.map((w) => w.address));
    expect(p.terms?.evalSetCid).to.equal(created.evalSetCid);
    expect(p.rounds.map((r) => [r.round, r.aggregateHash, r.aggregateCid, r.updates])).to.deep.equal([
      [1, AGG(1), cidToString(AGG_CID(1)), 3],
      [2, AGG(2), cidToString(AGG_CID(2)), 3],
    ]);
    expect(p.rounds.map((r) => r.includedSamples)).to.deep.equal([50, 50]); // no update excluded: 15 + 20 + 15 each
    for (const r of p.rounds) {
      expect(r.updateCids.map((u) => [u.worker, u.cid, u.sampleCount])).to.deep.equal(
        workers.map((w, i) => [w.address, cidToString(update(r.round * 10 + i).updateCid), i === 1 ? 20 : 15]),
      );
    }
    expect(p.evaluations).to.have.length(3);
    // A refused transaction names TrainingJobs' custom error, with its hint.
    const session = await Session.open(hre, deploymentPath);
    const nobody = signers[15];
    const refused = await session.send(nobody, jobs, "withdraw", []).then(
      () => expect.fail("withdraw of nothing did not revert"),
      (e: Error) => e,
    );
    expect(refused.message).to.equal(`withdraw reverts with TrainingJobsNothingToWithdraw(${nobody.address}): ${nobody.address} has no credit in TrainingJobs`);
    const over = await withEncryptionKey(contributorKey.privateKey, () => taskFailure(hre, ["data", "share"], { ...withDir(), account: ACCOUNTS.contributor, dataset: "2", job: "1" }));
    expect(over.message).to.match(/job 1 is Finalized: its workers train no more/);
    expect(shown.output).to.include("Trained by job 1 of TrainingJobs").and.include(cidToString(update(21).updateCid)).and.include("accuracy 92.00 %");

  });

  it("train create --dir: any LayersModel folder (fresh or pretrained) with an evaluation file of the datasets' schema; a job the workers would refuse is refused first", async () => {
    const { token, jobs } = contracts();
    const tf = activeTf();
    // A model the project's builders do not make (784 -> 24 -> batch norm -> 10), saved as Keras's converter lays out
    // weights: each layer's together (the batch norm's gamma, beta, moving mean, moving variance), not in tfjs's order
    // (trainable weights first), which the workers' flat updates follow.
    const net = tf.sequential({ name: "folder_mlp" });
    net.add(tf.layers.dense({ inputShape: [784], units: 24, activation: "relu", kernelInitializer: tf.initializers.glorotUniform({ seed: 7 }) }));
    net.add(tf.layers.batchNormalization({ movingMeanInitializer: tf.initializers.constant({ value: 0.25 }), movingVarianceInitializer: tf.initializers.constant({ value: 2 }) }));
    net.add(tf.layers.dense({ units: 10, activation: "softmax", kernelInitializer: tf.initializers.glorotUniform({ seed: 8 }) }));
    const tfjsOrder = await serializeModel(net);
    const folder = join(dir, "folder-mlp");
    await saveModelFolder(net, folder);
    net.dispose();
    {
      const saved = JSON.parse(readFileSync(join(folder, "model.json"), "utf8"));
      const keras = inKerasOrder(saved.modelTopology, saved.weightsManifest[0].weights, readFileSync(join(folder, "weights.bin")));
      expect(keras.reordered).to.equal(true); // the layouts do differ
      saved.weightsManifest[0].weights = keras.weightSpecs;
      writeFileSync(join(folder, "model.json"), JSON.stringify(saved));
      writeFileSync(join(folder, "weights.bin"), keras.weightData);
    }
    writeFileSync(join(folder, "tessera.json"), JSON.stringify({ name: "digits-24", inputCodec: { name: "uint8-image", scale: 1 / 255, mean: [0], std: [1] }, outputCodec: { name: "class-index" } }));
    // A model of another task (Iris: 4 features) and a quantized copy of the digit model.
    const irisNet = tf.sequential({ name: "iris_mlp" });
    irisNet.add(tf.layers.dense({ inputShape: [4], units: 3, activation: "softmax" }));
    const irisFolder = join(dir, "iris-mlp");
    await saveModelFolder(irisNet, irisFolder);
    irisNet.dispose();
    const quantized = join(dir, "quantized-mlp");
    await saveModelFolder(tf.sequential({ layers: [tf.layers.dense({ inputShape: [784], units: 10, activation: "softmax" })] }), quantized);
    const modelJson = JSON.parse(readFileSync(join(quantized, "model.json"), "utf8"));
    const [kernel, bias] = modelJson.weightsManifest[0].weights;
    kernel.quantization = { dtype: "uint8", scale: 0.001, min: -0.1 };
    writeFileSync(join(quantized, "weights.bin"), Buffer.concat([Buffer.alloc(784 * 10, 100), Buffer.from(new Float32Array(10).buffer)]));
    modelJson.weightsManifest[0].weights = [kernel, bias];
    writeFileSync(join(quantized, "model.json"), JSON.stringify(modelJson));
    // The evaluation file: 40 held-out digits as data contribute reads them; an Iris CSV for the mismatch.
    const test = (await loadMnist(MNIST_SPLIT)).test;
    const evalFile = digitsFile("eval.json", test, 100, 40);
    const irisCsv = join(dir, "iris-eval.csv");
    writeFileSync(irisCsv, ["sepal_length,sepal_width,petal_length,petal_width,species", "5.1,3.5,1.4,0.2,setosa", "6.3,3.3,6.0,2.5,virginica"].join("\n") + "\n");

    const base = { ...withDir(), datasets: "1,2", budget: "300", rounds: 2, evaluators: 3, dir: folder, evalFile, schema: "mnist-784/labels-10", learningRate: "0.05" };
    const jobCount = await jobs.jobCount();
    const mnistId = builtinSchema("mnist-784/labels-10")!.id;
    const irisId = builtinSchema("iris-4/species-3")!.id;
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ model: "cnn" }, /^pass either --model \(a fresh MNIST mlp or cnn\) or --dir \(a model folder\), not both$/],
      [{ learningRate: "" }, /^--learning-rate is required with --dir/],
      [{ dir: join(dir, "nowhere") }, /^--dir: .*nowhere is not a folder$/],
      [{ schema: "" }, /^--eval-file needs --schema/],
      [{ evalFile: "", evalDigits: 10 }, /^--schema and --labels describe an --eval-file$/],
      [{ evalDigits: 10 }, /^pass one of --eval-digits, --eval-set or --eval-file, not several$/],
      [{ evalFile: join(dir, "missing.json") }, /^--eval-file: .*missing\.json does not exist$/],
      [{ schema: "no-such-schema" }, /^--schema: /],
      [{ dir: quantized }, /^--dir: weight .*kernel.* is stored as uint8-quantized float32: federated training starts from float32 weights/],
      [{ name: "m".repeat(65) }, /^the model's name "m{40}"… is over 64 bytes: pass a shorter --name$/],
      [{ dir: irisFolder }, /^the model in .*iris-mlp cannot learn mnist-784\/labels-10: /],
      [{ evalFile: irisCsv, schema: "iris-4/species-3" }, new RegExp(`^--datasets: dataset 1 is of schema ${mnistId}, the evaluation set of iris-4/species-3 \\(${irisId}\\): a job trains on one schema$`)],
    ];
    for (const [override, message] of cases) {
      const err = await taskFailure(hre, ["train", "create"], { ...base, ...override });
      expect(err.message, JSON.stringify(override)).to.match(message);
    }
    expect(await jobs.jobCount()).to.equal(jobCount);

    const before = await token.balanceOf(signers[0].address);
    const run = await runTask<CreateJobResult>(hre, ["train", "create"], base);
    expect(run.result).to.include({ jobId: jobCount + 1n, model: "folder", modelName: "digits-24-federated", evalSamples: 40, learningRate: 50_000 });
    expect(run.output).to.include("40 samples of mnist-784/labels-10 from eval.json").and.include("uint8-image -> class-index");
    expect(await token.balanceOf(signers[0].address)).to.equal(before - BUDGET);
    const onChain = await jobs.jobOf(run.result.jobId);
    expect(onChain.requester).to.equal(signers[0].address);
    await withStore(async (store) => {
      // The workers fetch the folder's weights in tfjs's order (what their flat updates follow), its topology and codecs,
      // and the file's samples.
      const manifest = await readManifest(store, run.result.manifestCid);
      const weights = await store.get(manifest.weightsCid);
      expect(manifest.weightSpecs.map((w) => w.name)).to.deep.equal(tfjsOrder.weightSpecs.map((w) => w.name));
      expect(Buffer.from(weights).equals(Buffer.from(tfjsOrder.weightData))).to.equal(true);
      expect(Buffer.from(weights).equals(readFileSync(join(folder, "weights.bin")))).to.equal(false);
      expect(manifest.signature.inputs[0].shape).to.deep.equal([null, 784]);
      expect(manifest.signature.outputs[0].shape).to.deep.equal([null, 10]);
      expect(manifest.inputCodec).to.deep.include({ name: "uint8-image" });
      expect(manifest.outputCodec).to.deep.include({ name: "class-index" });
      const evalSet = decodeDataset(await store.get(run.result.evalSetCid));
      expect(Array.from(evalSet.labels)).to.deep.equal(Array.from(test.labels.subarray(100, 140)));
    });
  });
});
