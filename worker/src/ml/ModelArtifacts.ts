import { createHash } from "node:crypto";
import type { GraphModel, LayersModel, io } from "@tensorflow/tfjs";
import { z } from "zod";
import { addJson, getJson, type ContentStore } from "../ipfs/ContentStore.js";
import { activeTf } from "./backend.js";
import type { InputCodecSpec } from "./codecs/InputCodec.js";
import type { OutputCodecSpec } from "./codecs/OutputCodec.js";
import { signatureOf, type Signature } from "./codecs/Signature.js";
import { ModelIntegrityError, ModelManifestError } from "./ModelError.js";
import type { TrainingObjective } from "./TrainingObjective.js";
import { manifestV2Schema, parseModelManifest, type ModelFormat, type ModelManifest } from "./ModelManifest.js";
import { WordTokenizer, type TokenizerSpec, type Vocabulary } from "./Tokenizer.js";
import { graphSignatureOf, loadGraphModelFromMemory } from "./GraphModels.js";
import { loadLayersModelByWeight } from "./LayersModelLoading.js";

/** A model `predictEncoded` runs: a LayersModel (format "tfjs-layers"), or a GraphModel (format "tfjs-graph", inference only). */
export type InferenceModel = LayersModel | GraphModel;

/** A LayersModel as plain data: what tfjs would write as model.json plus the weights file. */
export interface SerializedModel {
  modelTopology: object;
  weightSpecs: io.WeightsManifestEntry[];
  weightData: Uint8Array;
}

export { modelManifestSchema, type ModelManifest } from "./ModelManifest.js";

export interface ModelMetadata {
  name?: string;
  description?: string;
}

/** The codecs a manifest names; without them a published model is read as a 28×28-digit classifier (uint8-image 1/255, class-index). */
export interface CodecChoice {
  inputCodec: InputCodecSpec;
  outputCodec: OutputCodecSpec;
  /** What federated training of this model minimises and how it is scored (default: implied by the output codec). */
  training?: TrainingObjective;
}

export const MNIST_CODECS: CodecChoice = {
  inputCodec: { name: "uint8-image", scale: 1 / 255, mean: [0], std: [1] },
  outputCodec: { name: "class-index", scoreBits: 16 },
};

export interface PublishedModel {
  manifestCid: string;
  weightsCid: string;
  contentHash: `0x${string}`;
}

/** Captures the model through a `tf.io` save handler that keeps the artifacts in memory. */
export async function serializeModel(model: LayersModel): Promise<SerializedModel> {
  const tf = activeTf();
  let artifacts: io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (saved) => {
      artifacts = saved;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(saved) };
    }),
  );
  if (artifacts?.modelTopology === undefined || artifacts.weightSpecs === undefined || artifacts.weightData === undefined) {
    throw new ModelManifestError("the model saved no topology or weights");
  }
  if (artifacts.modelTopology instanceof ArrayBuffer) {
    throw new ModelManifestError("expected a JSON topology from a LayersModel, got a binary graph");
  }
  return {
    modelTopology: artifacts.modelTopology,
    weightSpecs: artifacts.weightSpecs,
    weightData: new Uint8Array(tf.io.concatenateArrayBuffers(artifacts.weightData)),
  };
}

/** Rebuilds a LayersModel from memory (no file system, no HTTP), one weight at a time (LayersModelLoading.ts). */
export async function deserializeModel(serialized: SerializedModel): Promise<LayersModel> {
  return loadLayersModelByWeight(serialized.modelTopology, serialized.weightSpecs, serialized.weightData);
}

export function sha256Hex(bytes: Uint8Array): `0x${string}` {
  return `0x${createHash("sha256").update(bytes).digest("hex")}`;
}

/**
 * Stores the weights and then a manifest naming them; the manifest CID is what a ModelRegistry
 * entry points to and `contentHash` is what it commits to on chain.
 */
export async function publishModel(
  store: ContentStore,
  model: LayersModel,
  metadata: ModelMetadata = {},
  codecs: CodecChoice = MNIST_CODECS,
  tokenizer?: ModelArtifactsToPublish["tokenizer"],
): Promise<PublishedModel> {
  const serialized = await serializeModel(model);
  return publishArtifacts(store, { format: "tfjs-layers", ...serialized, signature: signatureOf(model), ...(tokenizer === undefined ? {} : { tokenizer }) }, codecs, metadata);
}

/** A model as files hold it (topology, weight specs, weight bytes), with its format and signature. */
export interface ModelArtifactsToPublish extends SerializedModel {
  format: ModelFormat;
  signature: Signature;
  /** A graph model's TF signature from model.json (format "tfjs-graph"). */
  tfSignature?: Record<string, unknown>;
  /** A text model's tokenizer: the vocabulary is stored beside the weights and the manifest names it by CID. */
  tokenizer?: { spec: Omit<TokenizerSpec, "vocabCid">; vocabulary: Vocabulary };
}

/**
 * Checks the manifest (codecs against the signature: a ModelManifestError with one sentence if
 * they do not fit) before storing anything, then stores the weights and the manifest.
 */
export async function publishArtifacts(
  store: ContentStore,
  artifacts: ModelArtifactsToPublish,
  codecs: CodecChoice,
  metadata: ModelMetadata = {},
): Promise<PublishedModel> {
  const contentHash = sha256Hex(artifacts.weightData);
  const draft = {
    manifestVersion: 2,
    format: artifacts.format,
    modelTopology: artifacts.modelTopology,
    weightSpecs: artifacts.weightSpecs,
    weightsCid: "pending",
    contentHash,
    signature: artifacts.signature,
    inputCodec: codecs.inputCodec,
    outputCodec: codecs.outputCodec,
    ...(codecs.training === undefined ? {} : { training: codecs.training }),
    ...(artifacts.tfSignature === undefined ? {} : { tfSignature: artifacts.tfSignature }),
    ...(artifacts.tokenizer === undefined ? {} : { tokenizer: { ...artifacts.tokenizer.spec, vocabCid: "pending" } }),
    ...metadata,
  };
  const checked = manifestV2Schema.safeParse(draft);
  if (!checked.success) throw new ModelManifestError(checked.error.issues.map((i) => i.message).join("; "), { cause: checked.error });
  if (artifacts.tokenizer !== undefined) new WordTokenizer({ ...artifacts.tokenizer.spec, vocabCid: "pending" }, artifacts.tokenizer.vocabulary); // checks unknownId
  const weightsCid = await store.add(artifacts.weightData);
  const tokenizer = artifacts.tokenizer === undefined ? {} : { tokenizer: { ...checked.data.tokenizer!, vocabCid: await addJson(store, artifacts.tokenizer.vocabulary) } };
  const manifest: ModelManifest = { ...checked.data, ...tokenizer, weightsCid };
  const manifestCid = await addJson(store, manifest);
  return { manifestCid, weightsCid, contentHash };
}

/** Reads and validates a manifest; the weights are not fetched. */
export async function readManifest(store: ContentStore, manifestCid: string): Promise<ModelManifest> {
  const parsed = parseModelManifest(await getJson(store, manifestCid));
  if (!parsed.success) {
    throw new ModelManifestError(`manifest ${manifestCid} is invalid: ${z.prettifyError(parsed.error)}`, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}

/** Up to this size, weights that misfit their specs are read to the end to say whether they are the committed ones. */
const MAX_HASHED_ON_MISFIT = 64 * 2 ** 20;

/**
 * Fetches the manifest and weights, checks the weights against the manifest's content hash (and
 * against `expectedContentHash`, e.g. the one registered on chain), and builds the model.
 *
 * With `weightsCid` other than the manifest's (a registry version whose weights were trained
 * after the manifest was written, e.g. by a federated training job: same architecture, new
 * weights), those weights are loaded instead and must hash to `expectedContentHash`, which is
 * then required.
 */
export async function loadPublishedModel(
  store: ContentStore,
  manifestCid: string,
  options: { expectedContentHash?: string; weightsCid?: string } = {},
): Promise<{ model: InferenceModel; manifest: ModelManifest; weightsCid: string; contentHash: string }> {
  const manifest = await readManifest(store, manifestCid);
  const weights = committedWeights(manifest, manifestCid, options);
  const { weightsCid, contentHash } = weights;
  const weightSpecs = manifest.weightSpecs as io.WeightsManifestEntry[];
  if (manifest.format === "tfjs-graph") {
    const weightData = await store.get(weightsCid);
    const actual = sha256Hex(weightData);
    if (actual !== contentHash) throw weights.mismatch(actual);
    return { model: await loadCheckedGraphModel(manifest, weightSpecs, weightData, manifestCid), manifest, weightsCid, contentHash };
  }
  const model = await buildCheckedLayers(store, weights, (source, byteLength) => loadLayersModelByWeight(manifest.modelTopology, weightSpecs, source, byteLength));
  return { model, manifest, weightsCid, contentHash };
}

/** The weights a load must read (the manifest's, or `options.weightsCid`) and the hash they must have; see `loadPublishedModel`. */
export interface CommittedWeights {
  readonly weightsCid: string;
  readonly contentHash: `0x${string}`;
  /** The error for weights that hash to `actual` instead. */
  mismatch(actual: string): ModelIntegrityError;
}

/** Which weights `manifest` (or `options`) commits a load to; a ModelIntegrityError when the commitments disagree. */
export function committedWeights(manifest: ModelManifest, manifestCid: string, options: { expectedContentHash?: string; weightsCid?: string } = {}): CommittedWeights {
  const expected = options.expectedContentHash?.toLowerCase();
  const override = options.weightsCid !== undefined && options.weightsCid !== manifest.weightsCid;
  if (override && expected === undefined) {
    throw new ModelIntegrityError(`weights ${options.weightsCid} are not the ones manifest ${manifestCid} names: an expected content hash is required`);
  }
  if (!override && expected !== undefined && expected !== manifest.contentHash) {
    throw new ModelIntegrityError(
      `manifest ${manifestCid} commits to ${manifest.contentHash}, expected ${expected}`,
    );
  }
  const weightsCid = override ? options.weightsCid! : manifest.weightsCid;
  const contentHash = (override ? expected! : manifest.contentHash) as `0x${string}`;
  return {
    weightsCid,
    contentHash,
    mismatch: (actual) =>
      new ModelIntegrityError(
        override
          ? `weights ${weightsCid} hash to ${actual}, expected ${contentHash}`
          : `weights ${weightsCid} of manifest ${manifestCid} hash to ${actual}, manifest says ${contentHash}`,
      ),
  };
}

/**
 * Builds a LayersModel (or anything that holds one: `build`, e.g. a loader in another thread) from the committed
 * weights as the store yields them, hashed on the way: the file is never held whole (LayersModelLoading.ts), and what
 * was built from bytes that do not hash to the commitment is disposed, never returned.
 */
export async function buildCheckedLayers<M extends { dispose(): void }>(
  store: ContentStore,
  weights: CommittedWeights,
  build: (source: AsyncIterable<Uint8Array>, byteLength: number) => Promise<M>,
): Promise<M> {
  const { weightsCid, contentHash } = weights;
  const hash = createHash("sha256");
  async function* hashed(): AsyncGenerator<Uint8Array> {
    for await (const chunk of store.cat(weightsCid)) {
      hash.update(chunk);
      yield chunk;
    }
  }
  const byteLength = await store.size(weightsCid);
  const source = hashed();
  let model: M;
  try {
    model = await build(source, byteLength);
  } catch (err) {
    // Bytes that are not the committed ones are named as such, even where they also misfit the specs; the rest of a
    // file of the size its store records is read to say so (a larger one is not: its size was the misfit).
    if (err instanceof ModelManifestError && byteLength <= MAX_HASHED_ON_MISFIT) {
      const drained = await (async () => {
        for await (const _ of source); // eslint-disable-line @typescript-eslint/no-unused-vars
      })().then(
        () => true,
        () => false,
      );
      const actual: `0x${string}` = `0x${hash.digest("hex")}`;
      if (drained && actual !== contentHash) throw weights.mismatch(actual);
    }
    throw err;
  } finally {
    await source.return(undefined);
  }
  const actual: `0x${string}` = `0x${hash.digest("hex")}`;
  if (actual !== contentHash) {
    model.dispose();
    throw weights.mismatch(actual);
  }
  return model;
}

/** A graph model whose graph takes and gives what its manifest's signature says (probed once), or a ModelManifestError. */
async function loadCheckedGraphModel(manifest: ModelManifest, weightSpecs: io.WeightsManifestEntry[], weightData: Uint8Array, manifestCid: string): Promise<GraphModel> {
  const model = await loadGraphModelFromMemory(manifest.modelTopology, weightSpecs, weightData, manifest.tfSignature);
  try {
    const actual = graphSignatureOf(model);
    const shapes = (sig: typeof actual) => JSON.stringify([sig.inputs.map((t) => [t.dtype, t.shape]), sig.outputs.map((t) => [t.dtype, t.shape])]);
    if (shapes(actual) !== shapes(manifest.signature)) {
      throw new ModelManifestError(`manifest ${manifestCid}: the graph takes and gives ${shapes(actual)}, its signature says ${shapes(manifest.signature)}`);
    }
    return model;
  } catch (err) {
    model.dispose();
    throw err instanceof ModelManifestError ? err : new ModelManifestError(`manifest ${manifestCid}: the graph model does not run: ${(err as Error).message}`, { cause: err });
  }
}
