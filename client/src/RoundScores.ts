import type * as Tfjs from "@tensorflow/tfjs";
import { sha256 } from "ethers";
import { builtinSchemaById } from "../../worker/src/data/schema/BuiltinSchemas.js";
import { decodeSamples, readDatasetHeader, type SchemaRef } from "../../worker/src/data/schema/DatasetEncoding.js";
import { parseSchemaDocument, schemaIdOf } from "../../worker/src/data/schema/SchemaDocument.js";
import { rawBlockCid } from "../../worker/src/ipfs/ContentStore.js";
import { codecsOf } from "../../worker/src/ml/ModelManifest.js";
import { modelInputs } from "../../worker/src/ml/ModelInputs.js";
import { objectiveOf, rocAuc, scoreOf, type Metric, type TrainingObjective } from "../../worker/src/ml/TrainingObjective.js";
import { checkableCid, fetchContent, fetchManifest } from "./ModelCatalog.js";
import type { JobTerms, RoundView, TrainingProvenance } from "./TrainingJobView.js";

/** One round's agreed aggregate scored on the job's public evaluation set. */
export interface RoundScore {
  readonly round: number;
  readonly metric: Metric;
  /** The metric's value (accuracy or AUC in [0, 1], or the mean absolute error). */
  readonly value: number;
  /** As evaluators post it: higher is better, in [0, 1] (TrainingObjective.scoreOf). */
  readonly score: number;
  /** Whether the evaluation set's bytes were checked against its CID (content of one block); aggregates always are. */
  readonly evalSetChecked: boolean;
}

/** The largest public evaluation set the page downloads to score rounds. */
const MAX_EVAL_SET_BYTES = 64 * 2 ** 20;

/** A job whose rounds can be scored: its terms (the manifest and the evaluation set) from its JobCreated event. */
export interface ScorableJob {
  readonly jobId: bigint;
  readonly terms: JobTerms | undefined;
}

/** Scores one round's agreed aggregate (the round as TrainingJobs recorded it). */
export type RoundScorer = (round: RoundView) => Promise<RoundScore>;

/**
 * Prepares scoring a training job's rounds on its public evaluation set, here (in a browser, with the tfjs given): the
 * manifest and the evaluation set are read once from a gateway, then each round's aggregate as it is asked for, and
 * each aggregate must hash to the sha256 the round agreed on chain, so a gateway cannot make a round look better or
 * worse than it was. The samples go through the model's own input codec (ModelInputs.ts, as the workers feed them)
 * and are scored as the validators score the final model (LocalTraining.evaluate: argmax for classes, p >= 0.5 or the
 * ROC AUC for a binary probability, 1/(1+MAE) for a regression). The last round's score is the one the validators
 * posted, up to the last bits of another backend. A job still training is scored round by round as they complete.
 */
export async function roundScorer(tf: typeof Tfjs, gateway: string, job: ScorableJob): Promise<RoundScorer> {
  const terms = job.terms;
  if (terms === undefined) throw new Error(`Job ${job.jobId}'s terms (its JobCreated event) were not found: its rounds cannot be scored.`);
  const manifest = await fetchManifest(gateway, terms.manifestCid);
  // An evaluation set of several blocks cannot be checked through a plain gateway: scored anyway, and said so
  // (`evalSetChecked`); every aggregate is checked against its agreed hash whatever its size.
  const evalSetChecked = checkableCid(terms.evalSetCid);
  const evalSet = await fetchContent(gateway, terms.evalSetCid, "the evaluation set", { unchecked: true, maxBytes: MAX_EVAL_SET_BYTES });
  const schema = await schemaOf(gateway, readDatasetHeader(evalSet).schemaId);
  const samples = decodeSamples(schema, evalSet);
  const { input } = codecsOf(manifest);
  const objective = objectiveOf(manifest);
  const xs = modelInputs(manifest, schema.document, samples);
  const weightBytes = manifest.weightSpecs.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1) * 4, 0);
  return async (r) => {
    const weights = await fetchContent(gateway, r.aggregateCid, `round ${r.round}'s aggregate`, { unchecked: true, maxBytes: weightBytes });
    if (sha256(weights) !== r.aggregateHash.toLowerCase()) {
      throw new Error(`The IPFS gateway ${gateway} sent bytes for round ${r.round}'s aggregate that do not hash to the ${r.aggregateHash} its workers agreed on: choose another gateway.`);
    }
    const model = await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: manifest.modelTopology, weightSpecs: manifest.weightSpecs as Tfjs.io.WeightsManifestEntry[], weightData: weights.slice().buffer }),
    );
    try {
      const predicted = tf.tidy(() => model.predict(tf.tensor(xs, [samples.count, ...input.exampleShape], input.dtype)) as Tfjs.Tensor);
      const outputs = await predicted.data();
      predicted.dispose();
      const value = metricValue(objective, outputs, samples.labels, samples.count);
      return { round: r.round, metric: objective.metric, value, score: scoreOf(objective.metric, value), evalSetChecked };
    } finally {
      model.dispose();
    }
  };
}

/** Every round of a finished job scored in order (`roundScorer`); `onScore` sees each round's score as it comes. */
export async function scoreRounds(tf: typeof Tfjs, gateway: string, provenance: TrainingProvenance, onScore: (score: RoundScore) => void = () => undefined): Promise<RoundScore[]> {
  const score = await roundScorer(tf, gateway, provenance);
  const scores: RoundScore[] = [];
  for (const r of provenance.rounds) {
    const s = await score(r);
    scores.push(s);
    onScore(s);
  }
  return scores;
}

/** The dataset schema of an evaluation set: built in, or its document from the gateway, checked against its id. */
async function schemaOf(gateway: string, schemaId: string): Promise<SchemaRef> {
  const builtin = builtinSchemaById(schemaId);
  if (builtin !== undefined) return builtin;
  const bytes = await fetchContent(gateway, rawBlockCid(schemaId), "the dataset schema");
  const document = parseSchemaDocument(JSON.parse(new TextDecoder().decode(bytes)));
  if (schemaIdOf(document) !== schemaId.toLowerCase()) throw new Error(`The dataset schema from ${gateway} is not the schema ${schemaId}.`);
  return { id: schemaId.toLowerCase(), document };
}

/** The objective's metric over a model's outputs, as LocalTraining.evaluate computes it. */
function metricValue(objective: TrainingObjective, outputs: ArrayLike<number>, labels: ArrayLike<number>, count: number): number {
  const units = outputs.length / count;
  if (objective.loss === "mean-squared-error") {
    let error = 0;
    for (let i = 0; i < count; i++) error += Math.abs(outputs[i] - labels[i]);
    return error / count;
  }
  if (objective.loss === "binary-crossentropy") {
    if (objective.metric === "auc") return rocAuc(outputs, labels);
    let hits = 0;
    for (let i = 0; i < count; i++) if ((outputs[i] >= 0.5 ? 1 : 0) === labels[i]) hits++;
    return hits / count;
  }
  let hits = 0;
  for (let i = 0; i < count; i++) {
    let best = 0;
    for (let k = 1; k < units; k++) if (outputs[i * units + k] > outputs[i * units + best]) best = k;
    if (best === labels[i]) hits++;
  }
  return hits / count;
}
