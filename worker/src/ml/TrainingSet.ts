import type { Tensor } from "@tensorflow/tfjs";
import type { Samples } from "../data/schema/DatasetEncoding.js";
import type { SchemaDocument } from "../data/schema/SchemaDocument.js";
import { activeTf } from "./backend.js";
import { MNIST_PIXELS, type DigitSet } from "./MnistDataset.js";
import { ModelManifestError } from "./ModelError.js";
import { codecsOf, type ModelCodecs } from "./ModelManifest.js";
import { checkInputFits, modelInputs } from "./ModelInputs.js";
import type { TrainingObjective } from "./TrainingObjective.js";

/**
 * Examples as a model is fed them: each sample's features went through the model's own input codec (the uint8-image
 * scaling, the float32 or int32 layout), exactly as an inference request's bytes do, so the model is trained on the
 * values it will be asked about. Labels are class indices or regression targets.
 */
export interface TrainingSet {
  readonly count: number;
  /** The model inputs, flat: example i is `xs.subarray(i * size, (i + 1) * size)`. */
  readonly xs: Float32Array | Int32Array;
  readonly exampleShape: readonly number[];
  readonly dtype: "float32" | "int32";
  /** Class indices, or regression targets. */
  readonly labels: Uint8Array | Uint16Array | Float32Array;
}

/** Samples of a schema as a model of this manifest takes them (a ModelManifestError if its input codec cannot). */
export function trainingSetOf(manifest: ModelCodecs, document: SchemaDocument, samples: Samples): TrainingSet {
  checkModelTakes(manifest, document);
  const { input } = codecsOf(manifest);
  return { count: samples.count, xs: modelInputs(manifest, document, samples), exampleShape: input.exampleShape, dtype: input.dtype, labels: samples.labels };
}

/** Whether a model of this manifest can be trained on the schema's samples: as many values, of a dtype its input codec reads, within the ranges it takes. */
export function checkModelTakes(manifest: ModelCodecs, document: SchemaDocument): void {
  checkInputFits(manifest, document);
  checkTrainable(manifest, document);
}

/**
 * Every value validators accept under the schema must be one a trained model takes: otherwise a partition holding one
 * makes only its trainer fail, and that trainer is slashed for missing the round.
 */
function checkTrainable(manifest: ModelCodecs, document: SchemaDocument): void {
  const { input } = codecsOf(manifest);
  const { min, max } = document.features;
  if (input.spec.name === "int32-tokens") {
    const vocab = input.spec.vocabSize;
    if (vocab === undefined) throw new ModelManifestError("a trained int32-tokens model must declare its vocabSize (the embedding's input dimension)");
    if (min === undefined || min < 0 || max === undefined || max >= vocab) {
      throw new ModelManifestError(`the schema ${document.name} allows token ids ${min ?? "-2^31"}..${max ?? "2^31-1"}, the model takes 0..${vocab - 1}`);
    }
  }
  if (document.features.dtype === "float32" && (min === undefined || max === undefined || Math.max(Math.abs(min), Math.abs(max)) > MAX_TRAINING_FEATURE)) {
    throw new ModelManifestError(`the schema ${document.name} must bound its float32 features within +-${MAX_TRAINING_FEATURE} for training (min ${min ?? "none"}, max ${max ?? "none"})`);
  }
}

/** The largest feature magnitude a trained float32 schema may allow (beyond, a gradient step can overflow float32). */
export const MAX_TRAINING_FEATURE = 1e6;

/** MNIST digits (pixels already in [0, 1]) for a model whose input has this per-example shape. */
export function trainingSetOfDigits(set: DigitSet, exampleShape: readonly number[]): TrainingSet {
  return { count: set.count, xs: set.images.subarray(0, set.count * MNIST_PIXELS), exampleShape, dtype: "float32", labels: set.labels.subarray(0, set.count) };
}

/** The examples at `indices`, in that order. */
export function selectExamples(set: TrainingSet, indices: ArrayLike<number>): TrainingSet {
  const size = exampleSizeOf(set);
  const xs = set.dtype === "int32" ? new Int32Array(indices.length * size) : new Float32Array(indices.length * size);
  const labels = new (set.labels.constructor as Uint8ArrayConstructor | Uint16ArrayConstructor | Float32ArrayConstructor)(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const source = indices[i];
    xs.set(set.xs.subarray(source * size, (source + 1) * size), i * size);
    labels[i] = set.labels[source];
  }
  return { ...set, count: indices.length, xs, labels };
}

/** Sets of one example shape and dtype, one after the other. */
export function concatExamples(parts: readonly TrainingSet[], empty: Omit<TrainingSet, "count" | "xs" | "labels">): TrainingSet {
  const size = empty.exampleShape.reduce((a, b) => a * b, 1);
  const count = parts.reduce((sum, p) => sum + p.count, 0);
  const xs = empty.dtype === "int32" ? new Int32Array(count * size) : new Float32Array(count * size);
  const labels = parts.length > 0 && parts[0].labels instanceof Float32Array ? new Float32Array(count) : new Uint16Array(count);
  let offset = 0;
  for (const p of parts) {
    xs.set(p.xs.subarray(0, p.count * size), offset * size);
    labels.set(p.labels.subarray(0, p.count), offset);
    offset += p.count;
  }
  return { ...empty, count, xs, labels };
}

/** Values per example. */
export function exampleSizeOf(set: Pick<TrainingSet, "exampleShape">): number {
  return set.exampleShape.reduce((a, b) => a * b, 1);
}

/** The inputs as one tensor `[count, ...exampleShape]`. */
export function inputTensor(set: TrainingSet): Tensor {
  return activeTf().tensor(set.xs, [set.count, ...set.exampleShape], set.dtype);
}

/** The labels as the loss reads them: one-hot `[count, units]` (categorical), or `[count, 1]` (binary 0/1, regression). */
export function labelTensor(set: TrainingSet, objective: TrainingObjective, units: number): Tensor {
  const tf = activeTf();
  if (objective.loss === "categorical-crossentropy") return tf.tidy(() => tf.oneHot(tf.tensor1d(Int32Array.from(set.labels), "int32"), units).toFloat());
  return tf.tensor2d(Float32Array.from(set.labels), [set.count, 1]);
}
