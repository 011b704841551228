import type { io, LayersModel, Tensor } from "@tensorflow/tfjs";
import { activeTf } from "./backend.js";
import { ModelManifestError } from "./ModelError.js";

/** Bytes of one stored element, by stored dtype (after quantization). */
const STORED_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2, complex64: 8 };

/** The bytes a weight spec takes in the weights file, or undefined when it cannot be known ahead (strings). */
function storedBytes(spec: io.WeightsManifestEntry): number | undefined {
  const elements = spec.shape.reduce((a, b) => a * b, 1);
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  const size = STORED_BYTES[dtype];
  return size === undefined ? undefined : elements * size;
}

/**
 * Builds a LayersModel from its topology and weights one weight at a time: the model is built first (tfjs's own
 * deserialization, as `tf.loadLayersModel` does), then each weight is decoded from its slice of the weights file
 * (`tf.io.decodeWeights`: dtypes and quantization as tfjs writes them), set, and its temporary tensor released
 * before the next. `tf.loadLayersModel` decodes every weight first and sets them all at once, so the backend's memory
 * holds the weights twice at the peak (three times and more on WASM, whose heap never shrinks: a host loading a
 * 64 MB shard kept ~270 MB of heap); this holds them once, plus the largest single weight. On the WASM backend a
 * plain float32 weight is not even decoded into a tensor: its bytes are copied into the heap memory of the variable
 * the model was built with, so the heap holds each weight once (a 64 MB layer: 64 MB of heap, not 128). Strict as
 * tfjs is: a weight the model has and the file lacks, or one the file has and the model lacks, is an error.
 */
export async function loadLayersModelByWeight(modelTopology: object, weightSpecs: readonly io.WeightsManifestEntry[], weightData: Uint8Array): Promise<LayersModel> {
  const tf = activeTf();
  const sizes = weightSpecs.map(storedBytes);
  if (sizes.some((s) => s === undefined)) {
    // String weights have no fixed size: decode them all at once, as tfjs does.
    const buffer = weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength) as ArrayBuffer;
    return tf.loadLayersModel(tf.io.fromMemory({ modelTopology, weightSpecs: [...weightSpecs], weightData: buffer }));
  }
  const total = (sizes as number[]).reduce((a, b) => a + b, 0);
  if (total !== weightData.byteLength) {
    throw new ModelManifestError(`the weights file holds ${weightData.byteLength} bytes, its specs describe ${total}`);
  }
  // The model without weights (strict: false), then its weights one by one.
  const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology, weightSpecs: [], weightData: new ArrayBuffer(0) }), { strict: false });
  try {
    // Names as tfjs matches them: exact, or with the scopes a Keras save adds dropped (`a/b/c/kernel` → `a/kernel`).
    const expected = new Set(model.weights.map((w) => w.originalName));
    const matched = new Set<string>();
    const extra: string[] = [];
    for (const { name } of weightSpecs) {
      const tokens = name.split("/");
      const candidate = expected.has(name) ? name : [...tokens.slice(0, -2), tokens[tokens.length - 1]].join("/");
      if (expected.has(candidate)) matched.add(candidate);
      else extra.push(name);
    }
    const missing = [...expected].filter((n) => !matched.has(n));
    if (missing.length > 0 || extra.length > 0) {
      throw new ModelManifestError(
        `the weights do not fit the model: ${missing.length > 0 ? `missing ${missing.slice(0, 3).join(", ")}` : ""}${missing.length > 0 && extra.length > 0 ? "; " : ""}${extra.length > 0 ? `unused ${extra.slice(0, 3).join(", ")}` : ""}`,
      );
    }
    const byName = new Map(model.weights.map((w) => [w.originalName, w]));
    const heap = wasmHeapWriter(tf);
    let offset = weightData.byteOffset;
    for (const [i, spec] of weightSpecs.entries()) {
      const size = sizes[i]!;
      const at = offset;
      offset += size;
      // On WASM, a plain float32 weight is copied straight into the memory the model was built with.
      const variable = byName.get(spec.name);
      const sameShape = variable !== undefined && variable.shape.length === spec.shape.length && variable.shape.every((d, k) => d === spec.shape[k]);
      if (heap !== undefined && sameShape && spec.dtype === "float32" && spec.quantization === undefined && variable!.dtype === "float32") {
        if (heap(variable!.read(), weightData.subarray(at - weightData.byteOffset, at - weightData.byteOffset + size))) continue;
      }
      const slice = weightData.buffer.slice(at, at + size) as ArrayBuffer;
      const decoded = tf.io.decodeWeights(slice, [spec]);
      try {
        model.loadWeights(decoded, false);
      } finally {
        tf.dispose(Object.values(decoded));
      }
    }
    return model;
  } catch (err) {
    model.dispose();
    throw err;
  }
}

/** The part of the WASM backend this needs: a view of a tensor's memory in its heap. */
interface WasmHeapBackend {
  typedArrayFromHeap(tensor: { shape: number[]; dtype: string; dataId: object }): ArrayBufferView;
  refCount(dataId: object): number;
}

/**
 * On the WASM backend, a function that copies float32 bytes into a tensor's own heap memory (false when the sizes
 * differ or another tensor shares that memory: the caller then decodes and sets the weight as tfjs does, which also
 * checks shapes); undefined on other backends. The caller copies only into a variable of the weight's very shape.
 */
function wasmHeapWriter(tf: ReturnType<typeof activeTf>): ((tensor: Tensor, bytes: Uint8Array) => boolean) | undefined {
  if (tf.getBackend() !== "wasm") return undefined;
  const backend = tf.backend() as unknown as Partial<WasmHeapBackend>;
  if (typeof backend.typedArrayFromHeap !== "function") return undefined;
  return (tensor, bytes) => {
    // Only memory no other tensor shares (a weight tied to another layer's is decoded and set as tfjs does).
    if (typeof backend.refCount === "function" && backend.refCount((tensor as unknown as { dataId: object }).dataId) !== 1) return false;
    const view = backend.typedArrayFromHeap!(tensor as unknown as { shape: number[]; dtype: string; dataId: object });
    if (view.byteLength !== bytes.byteLength) return false;
    new Uint8Array(view.buffer, view.byteOffset, view.byteLength).set(bytes);
    return true;
  };
}
