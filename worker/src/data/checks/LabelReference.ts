import { float32Bytes, int32Bytes } from "../../ml/codecs/LittleEndian.js";
import type { ModelCache } from "../../ml/ModelCache.js";
import { codecsOf } from "../../ml/ModelManifest.js";
import { predictEncoded } from "../../ml/Prediction.js";
import { toDigitSet } from "../DatasetFormat.js";
import type { ReferenceClassifier } from "../ReferenceClassifier.js";
import type { Samples } from "../schema/DatasetEncoding.js";
import { featureSize, SchemaError, type SchemaDocument } from "../schema/SchemaDocument.js";

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
 * A published classifier as the reference (`checks.reference.model` = its manifest CID): each sample's features
 * become a request input of the model's input codec (uint8 pixels, float32 or int32 little-endian), the model runs
 * through the one prediction path of workers and clients, and the answer's class is the prediction (class-index;
 * the first of top-k; a binary probability of at least 1/2 is class 1).
 */
export function publishedReference(models: ModelCache, spec: ReferenceSpec): LabelReference {
  return {
    async predictClasses(document, samples) {
      const loaded = await models.load(spec.model, spec.weightsCid === undefined ? {} : { weightsCid: spec.weightsCid });
      const codecs = codecsOf(loaded.manifest);
      const size = featureSize(document);
      if (codecs.input.byteLength !== size * (codecs.input.spec.name === "uint8-image" ? 1 : 4)) {
        throw new SchemaError(`reference ${spec.model} takes ${codecs.input.byteLength}-byte inputs, the schema's samples are ${size} values of ${document.features.dtype}`);
      }
      const inputs: Uint8Array[] = [];
      for (let i = 0; i < samples.count; i++) {
        const values = samples.features.subarray(i * size, (i + 1) * size);
        inputs.push(codecs.input.spec.name === "uint8-image" ? Uint8Array.from(values) : codecs.input.spec.name === "int32-tokens" ? int32Bytes(values) : float32Bytes(values));
      }
      const answers = await predictEncoded(loaded.model, loaded.manifest, inputs);
      return Uint16Array.from(answers, (bytes) => {
        const decoded = codecs.output.decode(bytes);
        if (decoded.codec === "class-index") return decoded.classIndex;
        if (decoded.codec === "top-k") return decoded.top[0].classIndex;
        if (decoded.codec === "binary-probability") return decoded.probability >= 0.5 ? 1 : 0;
        throw new SchemaError(`reference ${spec.model} answers float32 tensors, not classes`);
      });
    },
  };
}
