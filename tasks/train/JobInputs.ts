import { basename, resolve } from "node:path";
import { existsSync } from "node:fs";
import type { LayersModel } from "@tensorflow/tfjs";
import { encodeDataset, fromDigitSet } from "../../worker/src/data/DatasetFormat.js";
import { decodeSamples, encodeSamples, readDatasetHeader } from "../../worker/src/data/schema/DatasetEncoding.js";
import { SchemaResolver, type ResolvedSchema } from "../../worker/src/data/schema/SchemaResolver.js";
import type { ContentStore } from "../../worker/src/ipfs/ContentStore.js";
import { signatureOf } from "../../worker/src/ml/codecs/Signature.js";
import { loadMnist, selectDigits } from "../../worker/src/ml/MnistDataset.js";
import { MNIST_CODECS, deserializeModel, publishArtifacts, publishModel, serializeModel, type CodecChoice, type PublishedModel, type SerializedModel } from "../../worker/src/ml/ModelArtifacts.js";
import { ModelError } from "../../worker/src/ml/ModelError.js";
import { readModelFolder, type ModelFolder } from "../../worker/src/ml/ModelFolder.js";
import type { ModelCodecs } from "../../worker/src/ml/ModelManifest.js";
import { codecsOf } from "../../worker/src/ml/ModelManifest.js";
import { checkObjectiveFits, objectiveOf } from "../../worker/src/ml/TrainingObjective.js";
import { trainingSetOf } from "../../worker/src/ml/TrainingSet.js";
import { buildCnn, buildMlp } from "../../worker/src/ml/models.js";
import { MNIST_SPLIT } from "../lib/Defaults.js";
import { samplesOption, schemaOption } from "../lib/SamplesOptions.js";
import { taskError } from "../lib/TaskError.js";

/**
 * What a training job starts from: a fresh seeded MNIST 2NN or CNN (the project's builders), or any tfjs LayersModel
 * folder a person has (`model.json` + weight files, fresh or pretrained, with an optional `tessera.json` naming its
 * codecs and training objective), and the public evaluation set it is scored on. Everything here is read and checked
 * in memory, the way the workers' admission checks a job (JobAdmission.ts), before anything is stored or sent.
 */
export type InitialModel =
  | { readonly kind: "builtin"; readonly model: "mlp" | "cnn"; readonly net: LayersModel; readonly codecs: ModelCodecs; readonly description: string }
  | { readonly kind: "folder"; readonly dir: string; readonly folder: ModelFolder; readonly codecs: ModelCodecs };

export type EvaluationChoice =
  | { readonly kind: "digits"; readonly count: number }
  | { readonly kind: "cid"; readonly cid: string }
  | { readonly kind: "file"; readonly path: string; readonly schema: string; readonly labels: string | undefined };

/** A public evaluation set as the job will name it: its canonical bytes when known here (built, read or found in the store). */
export interface EvaluationSet {
  readonly bytes: Uint8Array | undefined;
  /** Set once stored (or given as a CID). */
  readonly cid: string | undefined;
  readonly description: string;
}

/** The initial model the options name (`--dir` wins over `--model`; both given is an error the caller raised). */
export async function readInitialModel(o: { dir: string; model: "mlp" | "cnn"; seed: number }): Promise<InitialModel> {
  if (o.dir === "") {
    const net = o.model === "mlp" ? buildMlp({ seed: o.seed }) : buildCnn({ seed: o.seed });
    const description = o.model === "mlp" ? "784-200-200-10 MLP (McMahan et al. 2017), initial weights of a federated job" : "MNIST CNN (McMahan et al. 2017), initial weights of a federated job";
    return { kind: "builtin", model: o.model, net, description, codecs: { signature: signatureOf(net), ...MNIST_CODECS } };
  }
  let folder: ModelFolder;
  try {
    folder = await readModelFolder(o.dir);
  } catch (err) {
    if (err instanceof ModelError) throw taskError(`--dir: ${err.message}`, err);
    throw err;
  }
  if (folder.artifacts.format !== "tfjs-layers") throw taskError(`--dir: ${o.dir} holds a tfjs graph model, which is served, not trained: a training job needs a LayersModel (model.json of format "layers-model")`);
  const unfit = folder.artifacts.weightSpecs.find((w) => w.dtype !== "float32" || w.quantization !== undefined);
  if (unfit !== undefined) {
    throw taskError(`--dir: weight ${unfit.name} of ${o.dir} is stored as ${unfit.quantization === undefined ? unfit.dtype : `${unfit.quantization.dtype}-quantized ${unfit.dtype}`}: federated training starts from float32 weights (save the model without quantization)`);
  }
  // Workers exchange updates and aggregates as flat vectors in tfjs's own weight order (trainable weights, then the
  // others: ModelWeights.ts) and cut them by the manifest's weight list: the folder's list (a Keras save groups each
  // layer's weights, batch-norm statistics included) is rewritten in that order, or every round after the first
  // would load scrambled weights.
  const model = await deserializeModel(folder.artifacts);
  let ordered: SerializedModel;
  try {
    ordered = await serializeModel(model);
  } finally {
    model.dispose();
  }
  const artifacts = { ...folder.artifacts, weightSpecs: ordered.weightSpecs, weightData: ordered.weightData };
  return { kind: "folder", dir: o.dir, folder: { ...folder, artifacts }, codecs: { signature: folder.artifacts.signature, inputCodec: folder.codecs.inputCodec, outputCodec: folder.codecs.outputCodec } };
}

/** Releases what `readInitialModel` holds (the built model). */
export function disposeInitialModel(model: InitialModel): void {
  if (model.kind === "builtin") model.net.dispose();
}

/** The evaluation set's bytes: held-out MNIST digits, a file read under its schema, or a CID (read when the store has it). */
export async function readEvaluationSet(store: ContentStore, choice: EvaluationChoice): Promise<EvaluationSet> {
  if (choice.kind === "digits") {
    const test = (await loadMnist(MNIST_SPLIT)).test;
    const digits = selectDigits(test, Array.from({ length: choice.count }, (_, i) => i));
    return { bytes: encodeDataset(fromDigitSet(digits)), cid: undefined, description: `${choice.count} held-out MNIST digits` };
  }
  if (choice.kind === "cid") {
    return { bytes: (await store.has(choice.cid)) ? await store.get(choice.cid) : undefined, cid: choice.cid, description: choice.cid };
  }
  const path = resolve(choice.path);
  if (!existsSync(path)) throw taskError(`--eval-file: ${path} does not exist`);
  if (choice.labels !== undefined && !existsSync(resolve(choice.labels))) throw taskError(`--labels: ${resolve(choice.labels)} does not exist`);
  const schema = await schemaOption(store, choice.schema);
  const samples = await samplesOption(store, schema, "--eval-file", path, choice.labels === undefined ? undefined : resolve(choice.labels));
  return { bytes: encodeSamples(schema, samples), cid: undefined, description: `${samples.count} samples of ${schema.document.name} from ${basename(path)}` };
}

/**
 * Refuses, with one sentence, a job the workers would refuse at admission (JobAdmission.ts), before anything is
 * stored or sent: the evaluation set must decode under its schema, every dataset must be of that schema, and the
 * model must take the schema's features through its input codec and learn its labels with its objective.
 * An evaluation set known only by a CID that the store lacks is left to the workers, but the datasets must still
 * share one schema. Returns the set's sample count.
 */
export async function checkJobFits(
  store: ContentStore,
  model: InitialModel,
  evaluation: EvaluationSet,
  datasets: readonly { datasetId: bigint; schemaId: string }[],
): Promise<number | undefined> {
  if (new Set(datasets.map((d) => d.schemaId.toLowerCase())).size > 1) {
    throw taskError(`--datasets: ${datasets.map((d) => `dataset ${d.datasetId} is of schema ${d.schemaId}`).join(", ")}: a job trains on one schema`);
  }
  if (evaluation.bytes === undefined) return undefined;
  let schema: ResolvedSchema;
  let samples;
  try {
    schema = await new SchemaResolver(store).byId(readDatasetHeader(evaluation.bytes).schemaId);
    samples = decodeSamples(schema, evaluation.bytes);
  } catch (err) {
    throw taskError(`the evaluation set ${evaluation.description} is not a plaintext dataset in the canonical format: ${(err as Error).message}`, err);
  }
  for (const d of datasets) {
    if (d.schemaId.toLowerCase() !== schema.id) {
      throw taskError(`--datasets: dataset ${d.datasetId} is of schema ${d.schemaId}, the evaluation set of ${schema.document.name} (${schema.id}): a job trains on one schema`);
    }
  }
  const what = model.kind === "folder" ? `the model in ${model.dir}` : `the ${model.model}`;
  try {
    trainingSetOf(model.codecs, schema.document, samples);
    const outputUnits = codecsOf(model.codecs).output.exampleShape.reduce((a, b) => a * b, 1);
    const training = model.kind === "folder" ? model.folder.codecs.training : undefined;
    checkObjectiveFits(objectiveOf({ outputCodec: model.codecs.outputCodec, training }), outputUnits, schema.document.label);
  } catch (err) {
    if (err instanceof ModelError) throw taskError(`${what} cannot learn ${schema.document.name}: ${err.message}`, err);
    throw err;
  }
  return samples.count;
}

/** Stores the initial model (manifest and weights, pinned) as the job's workers will fetch it. */
export async function storeInitialModel(store: ContentStore, model: InitialModel, name: string): Promise<PublishedModel> {
  const published =
    model.kind === "builtin"
      ? await publishModel(store, model.net, { name, description: model.description })
      : await publishArtifacts(store, model.folder.artifacts, model.folder.codecs as CodecChoice, { ...model.folder.metadata, name });
  await store.pin(published.weightsCid);
  await store.pin(published.manifestCid);
  return published;
}
