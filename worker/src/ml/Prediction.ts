import type { Tensor } from "@tensorflow/tfjs";
import { activeTf } from "./backend.js";
import { InferenceEncodingError, ModelManifestError } from "./ModelError.js";
import type { InferenceModel } from "./ModelArtifacts.js";
import { codecsOf, type ModelCodecs } from "./ModelManifest.js";

/** One request's answer bytes, or why its input (or the model's output for it) cannot be encoded. */
export type EncodedPrediction = { readonly ok: true; readonly output: Uint8Array } | { readonly ok: false; readonly error: InferenceEncodingError };

/** Examples per `predict` call inside one batch. */
const PREDICT_BATCH_SIZE = 256;

/**
 * The one prediction path of workers and clients: decodes each input with the manifest's input
 * codec, runs the model once on every input that decoded, and encodes each output with the
 * output codec. An input that does not decode (or whose output cannot be encoded, e.g. NaN) gets
 * its own error; the others are answered. A model whose outputs do not have the shape the
 * manifest declares is a ModelManifestError for the whole batch. All tensors are disposed.
 */
export async function predictSettled(model: InferenceModel, manifest: ModelCodecs, inputs: readonly Uint8Array[]): Promise<EncodedPrediction[]> {
  const codecs = codecsOf(manifest);
  const results: EncodedPrediction[] = new Array(inputs.length);
  const decoded: Array<{ index: number; values: Float32Array | Int32Array }> = [];
  inputs.forEach((bytes, index) => {
    try {
      decoded.push({ index, values: codecs.input.decode(bytes) });
    } catch (err) {
      results[index] = { ok: false, error: asEncodingError(err) };
    }
  });
  if (decoded.length === 0) return results;

  const exampleSize = codecs.input.exampleShape.reduce((product, d) => product * d, 1);
  const batch = codecs.input.dtype === "int32" ? new Int32Array(decoded.length * exampleSize) : new Float32Array(decoded.length * exampleSize);
  decoded.forEach((d, i) => batch.set(d.values, i * exampleSize));
  const values = await runModel(model, manifest, batch, decoded.length);
  const outputSize = values.length / decoded.length;
  decoded.forEach((d, i) => {
    try {
      results[d.index] = { ok: true, output: codecs.output.encode(values.subarray(i * outputSize, (i + 1) * outputSize)) };
    } catch (err) {
      results[d.index] = { ok: false, error: asEncodingError(err) };
    }
  });
  return results;
}

/**
 * The model's raw outputs for `count` examples already decoded by the manifest's input codec (`inputs`, flat), as
 * one flat array; a model whose outputs do not have the shape the manifest declares is a ModelManifestError. All
 * tensors are disposed.
 */
export async function runModel(model: InferenceModel, manifest: ModelCodecs, inputs: Float32Array | Int32Array, count: number): Promise<Float32Array | Int32Array | Uint8Array> {
  const codecs = codecsOf(manifest);
  const tf = activeTf();
  const outputs = tf.tidy(() => {
    const xs = tf.tensor(inputs, [count, ...codecs.input.exampleShape], codecs.input.dtype);
    const ys = "layers" in model ? model.predict(xs, { batchSize: PREDICT_BATCH_SIZE }) : model.predict(xs);
    if (!(ys instanceof tf.Tensor)) throw new ModelManifestError("the model has more than one output; the codecs serve models with exactly one");
    return ys as Tensor;
  });
  try {
    const perExample = outputs.shape.slice(1).reduce((product, d) => product * d, 1);
    if (outputs.shape[0] !== count || perExample !== codecs.output.exampleShape.reduce((product, d) => product * d, 1)) {
      throw new ModelManifestError(`the model output has shape ${JSON.stringify(outputs.shape)}, the manifest declares [${count}, ${codecs.output.exampleShape.join(", ")}]`);
    }
    return (await outputs.data()) as Float32Array | Int32Array | Uint8Array;
  } finally {
    outputs.dispose();
  }
}

/** `predictSettled` for callers that want every answer or the first error (clients, local checks). */
export async function predictEncoded(model: InferenceModel, manifest: ModelCodecs, inputs: readonly Uint8Array[]): Promise<Uint8Array[]> {
  return (await predictSettled(model, manifest, inputs)).map((result, i) => {
    if (!result.ok) throw new InferenceEncodingError(`input ${i}: ${result.error.message}`, { cause: result.error });
    return result.output;
  });
}

function asEncodingError(err: unknown): InferenceEncodingError {
  if (err instanceof InferenceEncodingError) return err;
  throw err;
}

/**
 * `predictSettled` over the group; if the model itself throws (an input it cannot take that no codec check catches,
 * such as a token id beyond an embedding without a declared vocabSize), each input again on its own, so that the
 * inputs that break it are declined and the rest of the batch is still served.
 */
export async function predictIsolated(model: InferenceModel, manifest: ModelCodecs, inputs: Uint8Array[]): Promise<EncodedPrediction[] | "model-fails"> {
  try {
    return await predictSettled(model, manifest, inputs);
  } catch {
    const one: EncodedPrediction[] = [];
    let failures = 0;
    for (const input of inputs) {
      try {
        one.push(...(await predictSettled(model, manifest, [input])));
      } catch (err) {
        failures++;
        one.push({ ok: false, error: new InferenceEncodingError(`the model cannot take this input: ${(err as Error).message.slice(0, 200)}`) });
      }
    }
    return failures === inputs.length ? "model-fails" : one;
  }
}
