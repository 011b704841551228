import { createHash } from "node:crypto";
import type { LayersModel, io } from "@tensorflow/tfjs";
import { z } from "zod";
import { addJson, getJson, type ContentStore } from "../ipfs/ContentStore.js";
import { activeTf } from "./backend.js";
import { ModelIntegrityError, ModelManifestError } from "./ModelError.js";

/** A LayersModel as plain data: what tfjs would write as model.json plus the weights file. */
export interface SerializedModel {
  modelTopology: object;
  weightSpecs: io.WeightsManifestEntry[];
  weightData: Uint8Array;
}

const weightSpecSchema = z.looseObject({
  name: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  dtype: z.enum(["float32", "int32", "bool", "string", "complex64"]),
});

const shapeSchema = z.array(z.number().int().positive()).min(1);

export const modelManifestSchema = z.object({
  format: z.literal("tfjs-layers"),
  modelTopology: z.record(z.string(), z.unknown()),
  weightSpecs: z.array(weightSpecSchema).min(1),
  weightsCid: z.string().min(1),
  /** sha256 of the weight bytes, as the bytes32 a registry stores. */
  contentHash: z.string().regex(/^0x[0-9a-f]{64}$/),
  /** Per-example shapes, without the batch dimension. */
  inputShape: shapeSchema,
  outputShape: shapeSchema,
  inputEncoding: z.literal("uint8-pixels"),
  outputEncoding: z.literal("uint8-class"),
  name: z.string().optional(),
  description: z.string().optional(),
});

export type ModelManifest = z.infer<typeof modelManifestSchema>;

export interface ModelMetadata {
  name?: string;
  description?: string;
}

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

/** Rebuilds a LayersModel from memory (`tf.io.fromMemory`): no file system, no HTTP. */
export async function deserializeModel(serialized: SerializedModel): Promise<LayersModel> {
  const tf = activeTf();
  const { weightData } = serialized;
  // fromMemory wants an ArrayBuffer holding exactly the weights, not a view into a larger one.
  const buffer = weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength) as ArrayBuffer;
  return tf.loadLayersModel(
    tf.io.fromMemory({ modelTopology: serialized.modelTopology, weightSpecs: serialized.weightSpecs, weightData: buffer }),
  );
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
): Promise<PublishedModel> {
  const serialized = await serializeModel(model);
  const weightsCid = await store.add(serialized.weightData);
  const contentHash = sha256Hex(serialized.weightData);
  const manifest: ModelManifest = {
    format: "tfjs-layers",
    modelTopology: serialized.modelTopology as Record<string, unknown>,
    weightSpecs: serialized.weightSpecs as ModelManifest["weightSpecs"],
    weightsCid,
    contentHash,
    inputShape: perExampleShape(model.inputs[0].shape, "input"),
    outputShape: perExampleShape(model.outputs[0].shape, "output"),
    inputEncoding: "uint8-pixels",
    outputEncoding: "uint8-class",
    ...metadata,
  };
  const manifestCid = await addJson(store, manifest);
  return { manifestCid, weightsCid, contentHash };
}

/** Reads and validates a manifest; the weights are not fetched. */
export async function readManifest(store: ContentStore, manifestCid: string): Promise<ModelManifest> {
  const parsed = modelManifestSchema.safeParse(await getJson(store, manifestCid));
  if (!parsed.success) {
    throw new ModelManifestError(`manifest ${manifestCid} is invalid: ${z.prettifyError(parsed.error)}`, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}

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
): Promise<{ model: LayersModel; manifest: ModelManifest; weightsCid: string; contentHash: string }> {
  const manifest = await readManifest(store, manifestCid);
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
  const contentHash = override ? expected! : manifest.contentHash;
  const weightData = await store.get(weightsCid);
  const actual = sha256Hex(weightData);
  if (actual !== contentHash) {
    throw new ModelIntegrityError(
      override
        ? `weights ${weightsCid} hash to ${actual}, expected ${contentHash}`
        : `weights ${weightsCid} of manifest ${manifestCid} hash to ${actual}, manifest says ${contentHash}`,
    );
  }
  const model = await deserializeModel({
    modelTopology: manifest.modelTopology,
    weightSpecs: manifest.weightSpecs as io.WeightsManifestEntry[],
    weightData,
  });
  return { model, manifest, weightsCid, contentHash };
}

function perExampleShape(shape: Array<number | null>, which: string): number[] {
  const [, ...rest] = shape;
  if (rest.some((d) => d === null || d <= 0)) {
    throw new ModelManifestError(`model ${which} shape ${JSON.stringify(shape)} is not fixed beyond the batch dimension`);
  }
  return rest as number[];
}
