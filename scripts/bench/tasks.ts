/**
 * `npm run -s bench:tasks`: each seed task end to end on the embedded stack (a fresh chain per task): contributions
 * validated, a federated job of three worker processes trains the task's model, the validators score it, it is
 * registered and served to paid requests. Beside the federated score, the same model trained centrally (one process,
 * the same clean samples, as many epochs as the federated job ran in total, the same optimiser), and the task's naive
 * baseline. Last line: JSON.
 *
 * Settings: BENCH_TASKS (default "iris,price,shapes,text,mnist"), BENCH_REQUESTS (paid requests per task, default 20),
 * BENCH_MNIST_SLICE (digits per MNIST contribution, default 1,000).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EmbeddedStack } from "../lib/EmbeddedStack.js";
import { Report } from "../lib/Report.js";
import { serveChain } from "../lib/RpcChain.js";
import { colourShapesTask } from "../lib/seedTasks/ColourShapesTask.js";
import { irisTask } from "../lib/seedTasks/IrisTask.js";
import { mnistTask } from "../lib/seedTasks/MnistTask.js";
import { priceSeriesTask } from "../lib/seedTasks/PriceSeriesTask.js";
import { textSentimentTask } from "../lib/seedTasks/TextSentimentTask.js";
import type { SeedTask } from "../lib/seedTasks/SeedTask.js";
import { runSeedTaskStages } from "../lib/SeedTaskStages.js";
import { runTaskInference } from "../lib/TaskInference.js";
import { silentLogger } from "../../worker/src/logger.js";
import { selectBackend } from "../../worker/src/ml/backend.js";
import { readManifest } from "../../worker/src/ml/ModelArtifacts.js";
import { evaluate, trainModel } from "../../worker/src/ml/models.js";
import { objectiveOf } from "../../worker/src/ml/TrainingObjective.js";
import { concatExamples, trainingSetOf } from "../../worker/src/ml/TrainingSet.js";

const TASKS: Record<string, () => SeedTask> = {
  iris: () => irisTask,
  price: () => priceSeriesTask(),
  shapes: () => colourShapesTask(),
  text: () => textSentimentTask(),
  mnist: () => mnistTask({ sliceSize: Number(process.env.BENCH_MNIST_SLICE ?? 1_000), shuffledSize: 300, evalDigits: 1_000 }),
};
const NAMES = (process.env.BENCH_TASKS ?? "iris,price,shapes,text,mnist").split(",").map((s) => s.trim());
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 20);

interface Row {
  task: string;
  schema: string;
  trainSamples: number;
  evalSamples: number;
  metric: string;
  federated: number;
  centralised: number;
  baseline: { name: string; score: number };
  rounds: number;
  trainingSamplesPerSecond: number;
  stageSeconds: number;
  inference: { requests: number; matchingLocal: number; correct: number; latencyP50Ms: number; gasPerRequest: number };
}

const backend = (await selectBackend()).name;
const rows: Row[] = [];
for (const name of NAMES) {
  const make = TASKS[name];
  if (make === undefined) throw new Error(`BENCH_TASKS: unknown task ${name} (known: ${Object.keys(TASKS).join(", ")})`);
  const task = make();
  const dataDir = mkdtempSync(join(tmpdir(), `tessera-bench-${name}-`));
  const chain = await serveChain();
  const stack = await EmbeddedStack.start(chain.connection, { dataDir, queuePrefix: `tessera-bench-tasks-${process.pid}-${name}`, logger: silentLogger });
  try {
    const report = new Report({ print: false });
    const started = Date.now();
    const { fed } = await runSeedTaskStages(stack, chain.rpcUrl, task, report, 600_000);
    const stageSeconds = (Date.now() - started) / 1000;
    const served = await runTaskInference(stack, task, fed.trained, { count: REQUESTS });

    // The same model, trained centrally on the same clean samples for as many epochs as the job ran.
    const manifest = await readManifest(stack.store, fed.trained.published.manifestCid);
    const objective = objectiveOf(manifest);
    const clean = (await task.contributions()).filter((c) => c.bad === undefined);
    const sets = clean.map((c) => trainingSetOf(manifest, task.schema.document, c.samples));
    const train = concatExamples(sets, sets[0]);
    const model = task.initialModel();
    await trainModel(model, train, { epochs: task.training.rounds * task.training.localEpochs, batchSize: task.training.batchSize, learningRate: task.training.learningRate, objective, seed: 1 });
    const centralised = await evaluate(model, trainingSetOf(manifest, task.schema.document, fed.trained.evalSet), { objective });
    model.dispose();

    rows.push({
      task: name,
      schema: task.schema.document.name,
      trainSamples: train.count,
      evalSamples: fed.trained.evalSet.count,
      metric: objective.metric,
      federated: fed.trained.testAccuracy,
      centralised: centralised.score,
      baseline: task.baseline!(fed.trained.evalSet),
      rounds: fed.rounds.length,
      trainingSamplesPerSecond: fed.samplesPerSecond.reduce((a, b) => a + b, 0) / fed.samplesPerSecond.length,
      stageSeconds,
      inference: { requests: served.requests, matchingLocal: served.matchingLocal, correct: served.correct, latencyP50Ms: served.latencyP50Ms, gasPerRequest: Number(served.meanGasPerRequest) },
    });
  } finally {
    await stack.stop();
    await chain.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
console.log(`Seed tasks end to end (tfjs backend ${backend}; federated: 3 worker processes, FedAvg; centralised: one process, same samples and epochs)`);
console.log("| task | schema | train / eval samples | metric | federated | centralised | baseline | rounds | training samples/s per worker | data + training s | paid answers = local | right | inference p50 ms | request gas |");
console.log("|---|---|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|");
for (const r of rows) {
  console.log(
    `| ${r.task} | ${r.schema} | ${r.trainSamples} / ${r.evalSamples} | ${r.metric} | ${pct(r.federated)} | ${pct(r.centralised)} | ${r.baseline.name} ${pct(r.baseline.score)} | ${r.rounds} | ${r.trainingSamplesPerSecond.toFixed(0)} | ${r.stageSeconds.toFixed(0)} | ${r.inference.matchingLocal}/${r.inference.requests} | ${r.inference.correct}/${r.inference.requests} | ${r.inference.latencyP50Ms} | ${r.inference.gasPerRequest} |`,
  );
}
console.log(JSON.stringify({ backend: backend, tasks: rows }));
process.exit(0);
