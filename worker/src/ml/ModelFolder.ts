import { readFile, realpath, stat } from "node:fs/promises";
import { concat } from "uint8arrays";
import path from "node:path";
import type { io } from "@tensorflow/tfjs";
import { z } from "zod";
import { activeTf } from "./backend.js";
import { inputCodecSchema, type InputCodecSpec } from "./codecs/InputCodec.js";
import { trainingObjectiveSchema } from "./TrainingObjective.js";
import { outputCodecSchema, type OutputCodecSpec } from "./codecs/OutputCodec.js";
import { signatureOf, singleTensors, type Signature } from "./codecs/Signature.js";
import type { CodecChoice, ModelArtifactsToPublish, ModelMetadata } from "./ModelArtifacts.js";
import { ModelFolderError } from "./ModelError.js";
import { graphSignatureOf, loadGraphModelFromMemory } from "./GraphModels.js";
import { codecsOf } from "./ModelManifest.js";
import { vocabularySchema, wordsOf } from "./Tokenizer.js";

/**
 * A model as tfjs writes it to disk (`model.save("file://dir")`, or the Keras-to-tfjs converter):
 * `model.json` with the topology and a `weightsManifest` of groups, each naming its weight files
 * (`paths`, relative to model.json) and the tensors they hold, in order. Beside it, an optional
 * `tessera.json` names the codecs: `{ "inputCodec": {...}, "outputCodec": {...}, "name", "description" }`.
 */
export const MODEL_JSON = "model.json";
export const SIDECAR_JSON = "tessera.json";

const modelJsonSchema = z.looseObject({
  format: z.string().optional(),
  modelTopology: z.record(z.string(), z.unknown()),
  weightsManifest: z
    .array(z.object({ paths: z.array(z.string().min(1)).min(1), weights: z.array(z.looseObject({ name: z.string(), shape: z.array(z.number().int().nonnegative()), dtype: z.string() })) }))
    .min(1),
});

const sidecarSchema = z.strictObject({
  inputCodec: inputCodecSchema.optional(),
  outputCodec: outputCodecSchema.optional(),
  /** Federated training's loss and metric, e.g. `{"loss": "binary-crossentropy", "metric": "auc"}` (see TrainingObjective.ts). */
  training: trainingObjectiveSchema.optional(),
  name: z.string().optional(),
  description: z.string().optional(),
  /** A text model's tokenizer: `vocab` is a JSON file of the folder, `{"tokens": [...]}` (see Tokenizer.ts). */
  tokenizer: z
    .strictObject({
      kind: z.literal("word-vocab"),
      vocab: z.string().min(1),
      lowercase: z.boolean().default(true),
      unknownId: z.number().int().nonnegative(),
      truncate: z.boolean().default(true),
    })
    .optional(),
});

export interface CodecOverrides {
  /** A codec name (default parameters) or its JSON object, e.g. `{"name":"top-k","k":3}`. */
  inputCodec?: string;
  outputCodec?: string;
}

export interface ModelFolder {
  readonly artifacts: ModelArtifactsToPublish;
  readonly codecs: CodecChoice;
  readonly metadata: ModelMetadata;
  /** Where each codec came from, for the task's printout. */
  readonly codecSources: { input: string; output: string };
}

/**
 * Reads a tfjs LayersModel folder, loads it (so that a topology tfjs cannot build fails here),
 * takes its signature and picks the codecs (overrides, then tessera.json, then the defaults:
 * float32-tensor in, or int32-tokens for an int32 input; float32-tensor out) and checks them
 * against the signature. Every problem is a ModelFolderError with one sentence; nothing is stored.
 */
export async function readModelFolder(dir: string, overrides: CodecOverrides = {}): Promise<ModelFolder> {
  const folder = path.resolve(dir);
  const info = await stat(folder).catch(() => undefined);
  if (info === undefined || !info.isDirectory()) throw new ModelFolderError(`${dir} is not a folder`);
  const modelJson = modelJsonSchema.safeParse(await readJson(path.join(folder, MODEL_JSON), `${dir} has no ${MODEL_JSON} (save the model with model.save("file://${dir}"))`));
  if (!modelJson.success) throw new ModelFolderError(`${MODEL_JSON} in ${dir} is not a tfjs model: ${z.prettifyError(modelJson.error)}`);
  const { format, modelTopology, weightsManifest } = modelJson.data;
  if (format !== undefined && format !== "layers-model" && format !== "graph-model") {
    throw new ModelFolderError(`${MODEL_JSON} in ${dir} has format "${format}", expected "layers-model" or "graph-model"`);
  }
  const graph = format === "graph-model";
  const tfSignature = graph && typeof modelJson.data.signature === "object" && modelJson.data.signature !== null ? (modelJson.data.signature as Record<string, unknown>) : undefined;

  const weightSpecs = weightsManifest.flatMap((group) => group.weights) as io.WeightsManifestEntry[];
  const files = await Promise.all(weightsManifest.flatMap((group) => group.paths).map((file) => readWeightFile(folder, file, dir)));
  const weightData = concat(files);
  const expected = weightSpecs.reduce((sum, spec) => sum + byteSize(spec), 0);
  if (weightData.byteLength !== expected) {
    throw new ModelFolderError(`the weight files of ${dir} hold ${weightData.byteLength} bytes, ${MODEL_JSON} describes ${expected}`);
  }

  const tf = activeTf();
  const buffer = weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength) as ArrayBuffer;
  let signature: Signature;
  try {
    if (graph) {
      const model = await loadGraphModelFromMemory(modelTopology, weightSpecs, weightData, tfSignature);
      try {
        signature = graphSignatureOf(model);
      } finally {
        model.dispose();
      }
    } else {
      const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology, weightSpecs, weightData: buffer }));
      signature = signatureOf(model);
      model.dispose();
    }
  } catch (err) {
    throw new ModelFolderError(`the model in ${dir} does not load as a tfjs ${graph ? "GraphModel" : "LayersModel"}: ${(err as Error).message}`, { cause: err });
  }

  const sidecar = await readSidecar(folder, dir);
  const { input } = singleTensors(signature);
  const inputCodec = pick(overrides.inputCodec, "--input-codec", inputCodecSchema) ?? sidecar.inputCodec;
  const outputCodec = pick(overrides.outputCodec, "--output-codec", outputCodecSchema) ?? sidecar.outputCodec;
  const codecs: CodecChoice = {
    inputCodec: inputCodec ?? (input.dtype === "int32" ? ({ name: "int32-tokens", padId: 0 } satisfies InputCodecSpec) : { name: "float32-tensor" }),
    outputCodec: outputCodec ?? ({ name: "float32-tensor", significantBits: 12 } satisfies OutputCodecSpec),
    ...(sidecar.training === undefined ? {} : { training: sidecar.training }),
  };
  const source = (flag: string | undefined, fromSidecar: unknown) => (flag !== undefined && flag !== "" ? "option" : fromSidecar !== undefined ? SIDECAR_JSON : "default");
  try {
    codecsOf({ signature, ...codecs });
  } catch (err) {
    throw new ModelFolderError(`the codecs do not fit the model in ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const tokenizer = sidecar.tokenizer === undefined ? undefined : await readTokenizer(folder, dir, sidecar.tokenizer, codecs.inputCodec);
  const metadata: ModelMetadata = {
    ...(sidecar.name === undefined ? {} : { name: sidecar.name }),
    ...(sidecar.description === undefined ? {} : { description: sidecar.description }),
  };
  return {
    artifacts: {
      format: graph ? "tfjs-graph" : "tfjs-layers",
      modelTopology,
      weightSpecs,
      weightData,
      signature,
      ...(tfSignature === undefined ? {} : { tfSignature }),
      ...(tokenizer === undefined ? {} : { tokenizer }),
    },
    codecs,
    metadata,
    codecSources: { input: source(overrides.inputCodec, sidecar.inputCodec), output: source(overrides.outputCodec, sidecar.outputCodec) },
  };
}

/** The sidecar's tokenizer with its vocabulary file read and checked against the input codec. */
async function readTokenizer(
  folder: string,
  dir: string,
  { vocab, ...spec }: NonNullable<z.infer<typeof sidecarSchema>["tokenizer"]>,
  inputCodec: InputCodecSpec,
): Promise<NonNullable<ModelArtifactsToPublish["tokenizer"]>> {
  if (inputCodec.name !== "int32-tokens") throw new ModelFolderError(`${SIDECAR_JSON} in ${dir} names a tokenizer, which feeds int32-tokens, but the input codec is ${inputCodec.name}`);
  const file = await insideFolder(folder, vocab, `${SIDECAR_JSON} names vocabulary ${vocab}`, dir);
  const parsed = vocabularySchema.safeParse(await readJson(file, `${SIDECAR_JSON} names vocabulary ${vocab}, which is not in ${dir}`));
  if (!parsed.success) throw new ModelFolderError(`vocabulary ${vocab} in ${dir} is invalid: ${z.prettifyError(parsed.error)}`);
  const size = parsed.data.tokens.length;
  if (inputCodec.vocabSize !== undefined && size > inputCodec.vocabSize) {
    throw new ModelFolderError(`vocabulary ${vocab} has ${size} tokens, more than the input codec's vocabSize ${inputCodec.vocabSize}`);
  }
  if (spec.unknownId >= size) throw new ModelFolderError(`tokenizer unknownId ${spec.unknownId} is not an id of ${vocab} (${size} tokens)`);
  if (spec.unknownId === inputCodec.padId) throw new ModelFolderError(`tokenizer unknownId ${spec.unknownId} is the input codec's padId: an unknown word would read as padding`);
  // Every word of the vocabulary must be one the tokenizer can produce (normalised, one segment), or it silently never matches.
  parsed.data.tokens.forEach((token, id) => {
    if (id === spec.unknownId || id === inputCodec.padId) return;
    const words = wordsOf(token, spec.lowercase);
    if (words.length !== 1 || words[0] !== token) {
      throw new ModelFolderError(`vocabulary ${vocab}: token ${id} ${JSON.stringify(token)} can never be produced by the tokenizer, which reads it as ${JSON.stringify(words)}`);
    }
  });
  return { spec: { kind: spec.kind, lowercase: spec.lowercase, unknownId: spec.unknownId, truncate: spec.truncate }, vocabulary: parsed.data };
}

async function readJson(file: string, missing: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    throw new ModelFolderError(missing);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ModelFolderError(`${file} is not JSON: ${(err as Error).message}`);
  }
}

async function readSidecar(folder: string, dir: string): Promise<z.infer<typeof sidecarSchema>> {
  const file = path.join(folder, SIDECAR_JSON);
  if (!(await stat(file).catch(() => undefined))) return {};
  const parsed = sidecarSchema.safeParse(await readJson(file, `cannot read ${file}`));
  if (!parsed.success) throw new ModelFolderError(`${SIDECAR_JSON} in ${dir} is invalid: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** A codec option: a bare name (its parameters take their defaults) or a JSON object. */
function pick<T>(option: string | undefined, flag: string, schema: z.ZodType<T>): T | undefined {
  if (option === undefined || option.trim() === "") return undefined;
  let value: unknown;
  try {
    value = option.trim().startsWith("{") ? JSON.parse(option) : { name: option.trim() };
  } catch (err) {
    throw new ModelFolderError(`${flag} is neither a codec name nor JSON: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ModelFolderError(`${flag} ${option} is not a valid codec: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

async function readWeightFile(folder: string, file: string, dir: string): Promise<Uint8Array> {
  const resolved = await insideFolder(folder, file, `${MODEL_JSON} names weight file ${file}`, dir);
  try {
    return new Uint8Array(await readFile(resolved));
  } catch {
    throw new ModelFolderError(`${MODEL_JSON} names weight file ${file}, which is not in ${dir}`);
  }
}

/**
 * The real path of `file` (named by model.json or tessera.json) if it is inside the folder, links followed: a folder
 * someone downloaded must not publish a file from elsewhere on the host (a link to a key file, `../.env`).
 */
async function insideFolder(folder: string, file: string, what: string, dir: string): Promise<string> {
  if (path.isAbsolute(file)) throw new ModelFolderError(`${what}, outside ${dir}`);
  const root = await realpath(folder);
  let real: string;
  try {
    real = await realpath(path.resolve(folder, file));
  } catch {
    throw new ModelFolderError(`${what}, which is not in ${dir}`);
  }
  const rel = path.relative(root, real);
  if (rel === "" || rel === ".." || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) throw new ModelFolderError(`${what}, outside ${dir}`);
  return real;
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

/** Bytes a weight takes in the files: its own dtype, or its quantised one (converter --quantize_*). */
function byteSize(spec: io.WeightsManifestEntry): number {
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  const bytes = DTYPE_BYTES[dtype];
  if (bytes === undefined) throw new ModelFolderError(`weight ${spec.name} has dtype ${dtype}, which Tessera cannot publish`);
  return spec.shape.reduce((n, d) => n * d, 1) * bytes;
}
