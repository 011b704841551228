import type { DataRegistry } from "../../../typechain-types/index.js";
import { decodeSamples, readDatasetHeader } from "../data/schema/DatasetEncoding.js";
import { SchemaResolver, type ResolvedSchema } from "../data/schema/SchemaResolver.js";
import { locateDataset } from "../data/KeyRecipients.js";
import type { ContentStore } from "../ipfs/ContentStore.js";
import type { io } from "@tensorflow/tfjs";
import { deserializeModel, readManifest, serializeModel, sha256Hex, type ModelManifest } from "../ml/ModelArtifacts.js";
import { InferenceEncodingError, ModelManifestError } from "../ml/ModelError.js";
import { codecsOf } from "../ml/ModelManifest.js";
import { checkObjectiveFits, objectiveOf } from "../ml/TrainingObjective.js";
import { trainingSetOf } from "../ml/TrainingSet.js";
import { payPerUpdate, type TrainingJobSpec } from "./TrainingJobSpec.js";

/** The DataRegistry's DatasetStatus.Accepted. */
const DATASET_ACCEPTED = 2n;
const FLOAT32_BYTES = 4;

export interface JobAdmissionOptions {
  readonly store: ContentStore;
  readonly dataRegistry: DataRegistry;
  /** Least pay (wei) for one round's update this worker accepts (TRAINING_MIN_PAY_PER_ROUND). */
  readonly minPayPerRound: bigint;
  /** Where to look for the datasets' events (the deployment block). */
  readonly fromBlock?: number;
  /** Dataset schemas (default: built in, or fetched from `store`). */
  readonly schemas?: SchemaResolver;
}

/**
 * Why a worker should not enroll in a job, or undefined if it may: enrolling bonds its stake to
 * deadlines it can only meet if the job pays for its work and its inputs can be obtained. Checked
 * before the stake is at risk:
 * - pay: an update's share of a round (budget less royalties and evaluation pool, per round, per
 *   worker) is at least `minPayPerRound`;
 * - the model: the manifest parses, is a LayersModel (format tfjs-layers: graph models are served, not trained), and the initial weights are fetchable, of the size the
 *   manifest's weight specs give, and hash to the manifest's content hash when it names them; and the manifest lists
 *   them in tfjs's own order, which the workers' flat updates follow;
 * - the evaluation set is fetchable and decodes under its schema, and the model can learn that schema: its input
 *   codec takes the schema's features, its output and the training objective (manifest `training`, or implied by the
 *   output codec) fit the schema's labels;
 * - every dataset is still Accepted, of the evaluation set's schema, its ciphertext fetchable, and its owner
 *   published key envelopes (it can share the key with the workers reading it).
 */
export async function admissionRefusal(spec: TrainingJobSpec, o: JobAdmissionOptions): Promise<string | undefined> {
  const pay = payPerUpdate(spec);
  if (pay < o.minPayPerRound) return `underpaid:${pay}<${o.minPayPerRound}`;
  let manifest: ModelManifest;
  try {
    manifest = await readManifest(o.store, spec.manifestCid);
    // Federated training builds LayersModels; a graph model (inference only) would fail every round.
    if (manifest.format !== "tfjs-layers") return `model-not-trainable:${manifest.format}`;
    const weights = await o.store.get(spec.weightsCid);
    const expected = manifest.weightSpecs.reduce((sum, w) => sum + w.shape.reduce((n, d) => n * d, 1) * FLOAT32_BYTES, 0);
    if (weights.byteLength !== expected) return `initial-weights-size:${weights.byteLength}!=${expected}`;
    if (manifest.weightsCid === spec.weightsCid && sha256Hex(weights) !== manifest.contentHash.toLowerCase()) {
      return "initial-weights-hash";
    }
    // Workers exchange updates and aggregates as flat vectors in tfjs's weight order and cut them by the manifest's
    // list: a manifest listing the weights in another order (a Keras save groups each layer's) would load scrambled
    // weights from round 2 on. The initial weights, serialized back in tfjs's order, must be the very bytes.
    const model = await deserializeModel({ modelTopology: manifest.modelTopology, weightSpecs: manifest.weightSpecs as io.WeightsManifestEntry[], weightData: weights });
    try {
      const inOrder = Buffer.from((await serializeModel(model)).weightData).equals(Buffer.from(weights));
      if (!inOrder) return "model-weight-order";
    } finally {
      model.dispose();
    }
  } catch (err) {
    return `model-unavailable:${(err as Error).message}`;
  }
  let schema: ResolvedSchema;
  try {
    const bytes = await o.store.get(spec.evalSetCid);
    schema = await (o.schemas ?? new SchemaResolver(o.store)).byId(readDatasetHeader(bytes).schemaId);
    const samples = decodeSamples(schema, bytes);
    // The model must take the schema's samples through its input codec (trainingSetOf checks it can, then does) and
    // learn its labels with its objective.
    trainingSetOf(manifest, schema.document, samples);
    checkObjectiveFits(objectiveOf(manifest), codecsOf(manifest).output.exampleShape.reduce((a, b) => a * b, 1), schema.document.label);
  } catch (err) {
    return err instanceof ModelManifestError || err instanceof InferenceEncodingError ? `model-does-not-fit-data:${err.message}` : `eval-set-unavailable:${(err as Error).message}`;
  }
  for (const { datasetId } of spec.datasets) {
    try {
      const [location, dataset] = await Promise.all([
        locateDataset(o.dataRegistry, datasetId, o.fromBlock ?? 0),
        o.dataRegistry.datasetOf(datasetId),
      ]);
      if (dataset.status !== DATASET_ACCEPTED) return `dataset-not-accepted:${datasetId}`;
      if (dataset.schemaId.toLowerCase() !== schema.id) return `dataset-schema-mismatch:${datasetId}:${dataset.schemaId}!=${schema.id}`;
      if (location.envelopesCid === undefined) return `dataset-key-unshareable:${datasetId}`;
      if (!(await o.store.has(location.datasetCid))) await o.store.get(location.datasetCid);
    } catch (err) {
      return `dataset-unavailable:${datasetId}:${(err as Error).message}`;
    }
  }
  return undefined;
}
