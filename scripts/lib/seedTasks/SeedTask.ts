import type { LayersModel } from "@tensorflow/tfjs";
import { selectSamples, type Samples } from "../../../worker/src/data/schema/DatasetEncoding.js";
import type { SchemaDocument } from "../../../worker/src/data/schema/SchemaDocument.js";
import type { SchemaRef } from "../../../worker/src/data/schema/DatasetEncoding.js";
import type { ContentStore } from "../../../worker/src/ipfs/ContentStore.js";
import { mulberry32 } from "../../../worker/src/ml/MnistDataset.js";
import type { CodecChoice } from "../../../worker/src/ml/ModelArtifacts.js";
import type { TokenizerSpec, Vocabulary } from "../../../worker/src/ml/Tokenizer.js";

/** One dataset a contributor brings in a seed task's data stage. */
export interface TaskContribution {
  readonly name: string;
  readonly samples: Samples;
  /** A contribution the validators must reject, with the reason code they must give (and why, for the report). */
  readonly bad?: { readonly reason: number; readonly what: string };
}

/**
 * One of the seeds' tasks, end to end: what contributors bring (with one bad contribution the validators must
 * catch), the public evaluation set, the model a training job starts from and its codecs, the job's
 * hyperparameters, and the inputs paid requests ask about. MNIST is one of them; each runs through the same
 * stages (data -> federated training -> registry -> paid inference).
 */
export interface SeedTask {
  /** Short name (also the model's name in the registry). */
  readonly name: string;
  readonly description: string;
  readonly schema: SchemaRef;
  /** Stores what validators and workers fetch by content address before anything is contributed (a schema that is not built in, its vocabulary). */
  prepare?(store: ContentStore): Promise<void>;
  /** Three clean contributions, then one bad one. Deterministic. */
  contributions(): Promise<TaskContribution[]>;
  /** The public evaluation set of the training job (samples no contribution holds). */
  evalSet(): Promise<Samples>;
  /** A fresh, seeded initial model. */
  initialModel(): LayersModel;
  readonly codecs: CodecChoice;
  /** A text model's tokenizer, named by its manifest (the vocabulary is stored beside the weights). */
  readonly tokenizer?: { readonly spec: Omit<TokenizerSpec, "vocabCid">; readonly vocabulary: Vocabulary };
  readonly training: { readonly rounds: number; readonly localEpochs: number; readonly batchSize: number; readonly learningRate: number };
  /** The least score (accuracy, AUC or 1/(1+MAE)) the trained model must reach on the evaluation set. */
  readonly minScore: number;
  /** A baseline to print beside the score (e.g. the always-majority classifier's accuracy on the evaluation set). */
  baseline?(evalSet: Samples): { readonly name: string; readonly score: number };
}

/** A seeded uniform generator (mulberry32): the same seed always gives the same sequence. */
export const seededRandom = mulberry32;

/** The samples of one class (the first `limit` of them): a seed task's bad contribution, rejected for class balance. */
export function onlyClass(document: SchemaDocument, samples: Samples, classIndex: number, limit = Number.POSITIVE_INFINITY): Samples {
  const indices = Array.from({ length: samples.count }, (_, i) => i).filter((i) => samples.labels[i] === classIndex);
  return selectSamples(document, samples, indices.slice(0, limit));
}

/** Accuracy of always answering the most frequent class of `samples`. */
export function majorityBaseline(samples: Samples, classes: number): { name: string; score: number } {
  const counts = new Array<number>(classes).fill(0);
  for (let i = 0; i < samples.count; i++) counts[samples.labels[i]]++;
  return { name: "always the majority class", score: Math.max(...counts) / samples.count };
}
