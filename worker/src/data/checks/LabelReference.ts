import type { ModelCache } from "../../ml/ModelCache.js";
import { codecsOf } from "../../ml/ModelManifest.js";
import { runModel } from "../../ml/Prediction.js";
import { modelInputs } from "../../ml/ModelInputs.js";
import { toDigitSet } from "../DatasetFormat.js";
import type { ReferenceClassifier } from "../ReferenceClassifier.js";
import type { Samples } from "../schema/DatasetEncoding.js";
import { SchemaError, type SchemaDocument } from "../schema/SchemaDocument.js";

/** A classifier that predicts the class of samples of a schema: what the label-noise check compares labels with. */
export interface LabelReference {
  predictClasses(document: SchemaDocument, samples: Samples): Promise<Uint16Array>;
}

/** The reference a schema names (`checks.reference`). */
export type ReferenceSpec = NonNullable<SchemaDocument["checks"]["reference"]>;

/** Finds the reference classifier a schema names. */
export type ReferenceProvider = (spec: ReferenceSpec, document: SchemaDocument) => Promise<LabelReference>;

/** The built-in MNIST reference (`tessera:mnist-2nn`): the 2NN every validator trains deterministically itself. */
export function mnistReference(classifier: ReferenceClassifier): LabelReference {
  return {
    async predictClasses(_document, samples) {
      const digits = toDigitSet({ count: samples.count, pixels: samples.features as Uint8Array, labels: new Uint8Array(samples.count) });
      return Uint16Array.from(await classifier.predict(digits));
    },
  };
}

/**
 * Predictions whose top two scores are closer than this are "too close to call" and left out of the agreement:
 * float arithmetic differs by backend (GPU, native, WASM, cpu) in the last bits, so a sample near a decision
 * boundary could be predicted differently by two honest validators, and a schema's author could craft such samples
 * to split the committee's votes. Backend differences are orders of magnitude below this.
 */
export const REFERENCE_MARGIN = 1e-3;

/** Prediction of a sample the reference cannot call (see REFERENCE_MARGIN). */
export const UNDECIDED = 0xffff;

/**
 * A published classifier as the reference (`checks.reference.model` = its manifest CID): each sample's features
 * become a request input of the model's input codec (uint8 pixels, float32 or int32 little-endian) decoded as a worker
 * decodes it, the model runs once per batch, and each output gives a class (the argmax of a class-index or top-k
 * model; probability >= 1/2 is class 1 for a binary-probability one), or UNDECIDED when its margin is below
 * REFERENCE_MARGIN.
 */
export function publishedReference(models: ModelCache, spec: ReferenceSpec): LabelReference {
  return {
    async predictClasses(document, samples) {
      const loaded = await models.load(spec.model, spec.weightsCid === undefined ? {} : { weightsCid: spec.weightsCid });
      const codecs = codecsOf(loaded.manifest);
      if (codecs.output.spec.name === "float32-tensor") throw new SchemaError(`reference ${spec.model} answers float32 tensors, not classes`);
      const scores = await runModel(loaded.model, loaded.manifest, modelInputs(loaded.manifest, document, samples), samples.count);
      const perExample = scores.length / samples.count;
      const classes = new Uint16Array(samples.count);
      for (let i = 0; i < samples.count; i++) {
        const row = scores.subarray(i * perExample, (i + 1) * perExample);
        if (codecs.output.spec.name === "binary-probability") {
          classes[i] = Math.abs(row[0] - 0.5) * 2 < REFERENCE_MARGIN ? UNDECIDED : row[0] >= 0.5 ? 1 : 0;
          continue;
        }
        let best = 0;
        for (let c = 1; c < row.length; c++) if (row[c] > row[best]) best = c;
        let second = -Infinity;
        for (let c = 0; c < row.length; c++) if (c !== best && row[c] > second) second = row[c];
        classes[i] = row[best] - second < REFERENCE_MARGIN ? UNDECIDED : best;
      }
      return classes;
    },
  };
}
