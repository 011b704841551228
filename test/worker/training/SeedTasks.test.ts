import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { EmbeddedStack } from "../../../scripts/lib/EmbeddedStack.js";
import { Report } from "../../../scripts/lib/Report.js";
import { serveChain, type RpcChain } from "../../../scripts/lib/RpcChain.js";
import { colourShapesTask } from "../../../scripts/lib/seedTasks/ColourShapesTask.js";
import { irisTask } from "../../../scripts/lib/seedTasks/IrisTask.js";
import { LENGTH, reviewSamples, textSentimentTask } from "../../../scripts/lib/seedTasks/TextSentimentTask.js";
import { encodeInput } from "../../../scripts/lib/InferenceClient.js";
import { readManifest } from "../../../worker/src/ml/ModelArtifacts.js";
import { loadTokenizer } from "../../../worker/src/ml/Tokenizer.js";
import { priceSeriesTask } from "../../../scripts/lib/seedTasks/PriceSeriesTask.js";
import type { SeedTask } from "../../../scripts/lib/seedTasks/SeedTask.js";
import { runSeedTaskStages } from "../../../scripts/lib/SeedTaskStages.js";
import { runTaskInference } from "../../../scripts/lib/TaskInference.js";
import { DatasetStatus } from "../../../worker/src/data/OnChainDataset.js";
import { JobStatus } from "../../../worker/src/training/TrainingJobSpec.js";
import { removeQueueData } from "../../helpers/queue.js";

/**
 * The seeds' tasks beyond digits, each end to end on real parts (the contracts on a JSON-RPC chain, the embedded IPFS
 * store, Redis, three trainer daemons as OS processes, the validators in this process): contributions of the task's
 * schema are validated (one bad one rejected with its reason), a federated job trains the task's model from scratch,
 * the validators score it on the public evaluation set, it is registered and published, and paid requests on held-out
 * samples are answered on chain exactly as the requester's local prediction says.
 */
describe("Seed tasks end to end: contribute -> validate -> federated training -> registry -> paid inference", function () {
  this.timeout(600_000);
  let stack: EmbeddedStack;
  let chain: RpcChain;
  let dataDir: string;
  const prefix = `tessera-test-${randomUUID()}`;

  // A fresh chain and stack per task: every stage stakes its own validators and trainers.
  beforeEach(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tessera-seed-tasks-"));
    chain = await serveChain();
    stack = await EmbeddedStack.start(chain.connection, { dataDir, queuePrefix: prefix });
  });

  afterEach(async function () {
    await removeQueueData(stack.redis.url, prefix);
    await stack.stop();
    await chain.close();
    if (this.currentTest?.state === "failed") console.log(`    kept ${dataDir} (worker logs) for the failure`);
    else rmSync(dataDir, { recursive: true, force: true });
  });

  async function endToEnd(task: SeedTask) {
    const report = new Report({ print: false });
    const { data, fed } = await runSeedTaskStages(stack, chain.rpcUrl, task, report);
    expect(data.accepted).to.have.length(3);
    const { dataRegistry, trainingJobs, modelRegistry } = stack.contracts;
    for (const d of data.accepted) expect((await dataRegistry.datasetOf(d.datasetId)).schemaId).to.equal(task.schema.id);
    const rejected = data.datasetIds.filter((id) => !data.accepted.some((a) => a.datasetId === id));
    expect(rejected).to.have.length(1);
    const bad = await dataRegistry.datasetOf(rejected[0]);
    expect([bad.status, bad.reasonCode]).to.deep.equal([BigInt(DatasetStatus.Rejected), 1n]);
    const job = await trainingJobs.jobOf(fed.jobId);
    expect(job.status).to.equal(BigInt(JobStatus.Finalized));
    expect(fed.rounds.map((r) => r.updates)).to.deep.equal(new Array(task.training.rounds).fill(3));
    // The validators' median score on chain is the score of the agreed model on the public evaluation set.
    expect(Math.abs(fed.medianAccuracy - fed.trained.testAccuracy)).to.be.below(1e-6);
    const baseline = task.baseline!(fed.trained.evalSet);
    expect(fed.trained.testAccuracy, `score ${fed.trained.testAccuracy} vs ${baseline.name} ${baseline.score}`).to.be.at.least(task.minScore);
    expect(fed.trained.testAccuracy).to.be.greaterThan(baseline.score);
    expect(job.paid).to.equal(job.budget);
    expect((await modelRegistry.getVersion(fed.trained.versionId)).contentHash).to.equal(fed.rounds.at(-1)!.aggregateHash);

    const served = await runTaskInference(stack, task, fed.trained, { count: 12, report });
    expect(served.matchingLocal).to.equal(12);
    expect(served.correct).to.be.at.least(Math.floor(12 * task.minScore) - 1);
    return { fed, served, report };
  }

  it("Iris (real data, multi-class tabular): float32 features, a 4-16-3 MLP, class-index answers", async () => {
    const { fed, served } = await endToEnd(irisTask);
    console.log(`      iris: federated accuracy ${(fed.trained.testAccuracy * 100).toFixed(1)} % on 45 held-out flowers (majority baseline ${(irisTask.baseline!(fed.trained.evalSet).score * 100).toFixed(1)} %); ${served.correct}/12 paid answers right`);
  });

  it("Price series up/down (the seeds' stock example, generated): float32 [20, 2] windows, binary cross-entropy, probability answers", async () => {
    const task = priceSeriesTask();
    const { fed, served } = await endToEnd(task);
    const baseline = task.baseline!(fed.trained.evalSet);
    console.log(`      price series: federated accuracy ${(fed.trained.testAccuracy * 100).toFixed(1)} % on ${fed.trained.evalSet.count} held-out days (${baseline.name} ${(baseline.score * 100).toFixed(1)} %); ${served.correct}/12 paid answers right`);
  });

  it("Colour images (generated 16x16x3 shapes): uint8 RGB through the image codec, a small CNN, class-index answers", async () => {
    const task = colourShapesTask();
    const { fed, served } = await endToEnd(task);
    console.log(`      colour shapes: federated accuracy ${(fed.trained.testAccuracy * 100).toFixed(1)} % on ${fed.trained.evalSet.count} held-out images (majority ${(task.baseline!(fed.trained.evalSet).score * 100).toFixed(1)} %); ${served.correct}/12 paid answers right`);
  });

  it("Text (generated reviews): int32 token ids of the model's own tokenizer, embedding + convolution, class-index answers", async () => {
    const task = textSentimentTask();
    const { fed, served } = await endToEnd(task);
    // A client holding only the published manifest encodes the review texts to exactly the ids the data held.
    const manifest = await readManifest(stack.store, fed.trained.published.manifestCid);
    expect(manifest.tokenizer?.vocabCid).to.equal(task.schema.document.features.tokenizer?.vocabCid);
    const tokenizer = await loadTokenizer(stack.store, manifest.tokenizer!);
    const { texts, features } = reviewSamples(400, 4);
    for (let i = 0; i < 12; i++) {
      expect(Buffer.from(encodeInput(manifest, tokenizer.encode(texts[i], LENGTH))).equals(Buffer.from(encodeInput(manifest, features.subarray(i * LENGTH, (i + 1) * LENGTH)))), texts[i]).to.equal(true);
    }
    console.log(`      text: federated accuracy ${(fed.trained.testAccuracy * 100).toFixed(1)} % on ${fed.trained.evalSet.count} held-out reviews (majority ${(task.baseline!(fed.trained.evalSet).score * 100).toFixed(1)} %); ${served.correct}/12 paid answers right`);
  });
});
