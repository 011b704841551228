import type { io, LayersModel, Tensor } from "@tensorflow/tfjs";
import { concat } from "uint8arrays";
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

/** A weights file as one buffer, or as the chunks a content store yields (`ContentStore.cat`), in order. */
export type WeightBytes = Uint8Array | AsyncIterable<Uint8Array>;

/**
 * Builds a LayersModel from its topology and weights one weight at a time: the model is built first (tfjs's own
 * deserialization, as `tf.loadLayersModel` does; its initializers are kept, so that the model's config is the
 * manifest's and serializes to the same topology), then each weight is decoded from its slice of the weights file
 * (`tf.io.decodeWeights`: dtypes and quantization as tfjs writes them), set, and its temporary tensor released
 * before the next. `tf.loadLayersModel` decodes every weight first and sets them all at once, so the
 * backend's memory holds the weights twice at the peak (three times and more on WASM, whose heap never shrinks: a
 * host loading a 64 MB shard kept ~270 MB of heap); this holds them once, plus the largest single weight. On the
 * WASM backend a plain float32 weight is not even decoded into a tensor: its bytes are copied into the heap memory
 * of the variable the model was built with, so the heap holds each weight once (a 64 MB layer: 64 MB of heap, not
 * 128). The weights may come as the chunks a store yields: then neither the file nor a copy of it is ever held
 * (a 460 MB model's host peaked at 1,383 MB with the file in memory). Strict as tfjs is: a weight the model has and
 * the file lacks, or one the file has and the model lacks, is an error, as is a file longer or shorter than its specs.
 */
export async function loadLayersModelByWeight(
  modelTopology: object,
  weightSpecs: readonly io.WeightsManifestEntry[],
  weights: WeightBytes,
  /** The streamed file's size as its store records it (`ContentStore.size`): checked before the model is built. */
  byteLength?: number,
): Promise<LayersModel> {
  const tf = activeTf();
  const sizes = weightSpecs.map(storedBytes);
  if (sizes.some((s) => s === undefined)) {
    // String weights have no fixed size: decode them all at once, as tfjs does.
    const weightData = await wholeFile(weights);
    const buffer = weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength) as ArrayBuffer;
    return tf.loadLayersModel(tf.io.fromMemory({ modelTopology, weightSpecs: [...weightSpecs], weightData: buffer }));
  }
  const total = (sizes as number[]).reduce((a, b) => a + b, 0);
  // Before anything is allocated: specs that claim more than the file holds (a manifest naming a tiny file with
  // gigabyte layers) must not make the process build the gigabytes first.
  const fileBytes = weights instanceof Uint8Array ? weights.byteLength : byteLength;
  if (fileBytes !== undefined && total !== fileBytes) {
    throw new ModelManifestError(`the weights file holds ${fileBytes} bytes, its specs describe ${total}`);
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
    const reader = new SequentialReader(weights, total);
    for (const [i, spec] of weightSpecs.entries()) {
      const size = sizes[i]!;
      // On WASM, a plain float32 weight is copied straight into the memory the model was built with.
      const variable = byName.get(spec.name);
      const sameShape = variable !== undefined && variable.shape.length === spec.shape.length && variable.shape.every((d, k) => d === spec.shape[k]);
      if (heap !== undefined && sameShape && spec.dtype === "float32" && spec.quantization === undefined && variable!.dtype === "float32" && heap.fits(variable!.read(), size)) {
        const tensor = variable!.read();
        await reader.read(size, (bytes, at) => heap.write(tensor, at, bytes));
        continue;
      }
      const slice = new Uint8Array(size);
      await reader.read(size, (bytes, at) => slice.set(bytes, at));
      const decoded = tf.io.decodeWeights(slice.buffer, [spec]);
      try {
        model.loadWeights(decoded, false);
      } finally {
        tf.dispose(Object.values(decoded));
      }
    }
    await reader.end();
    return model;
  } catch (err) {
    model.dispose();
    throw err;
  }
}

/** The whole file from either form. */
async function wholeFile(weights: WeightBytes): Promise<Uint8Array> {
  if (weights instanceof Uint8Array) return weights;
  const chunks: Uint8Array[] = [];
  for await (const chunk of weights) chunks.push(chunk);
  return concat(chunks);
}

/**
 * Reads a weights file front to back in the pieces the specs ask for, across chunk boundaries, holding one chunk at
 * a time; a file shorter or longer than the specs' `total` is a ModelManifestError naming both sizes.
 */
class SequentialReader {
  readonly #chunks: AsyncIterator<Uint8Array> | undefined;
  #current: Uint8Array;
  #offset = 0;
  #consumed = 0;

  constructor(
    weights: WeightBytes,
    private readonly total: number,
  ) {
    this.#chunks = weights instanceof Uint8Array ? undefined : weights[Symbol.asyncIterator]();
    this.#current = weights instanceof Uint8Array ? weights : new Uint8Array(0);
  }

  /** Hands the next `size` bytes to `sink`, piece by piece, with each piece's offset in those `size` bytes. */
  async read(size: number, sink: (bytes: Uint8Array, at: number) => void): Promise<void> {
    let done = 0;
    while (done < size) {
      if (this.#offset === this.#current.byteLength && !(await this.#next())) {
        throw new ModelManifestError(`the weights file holds ${this.#consumed + done} bytes, its specs describe ${this.total}`);
      }
      const take = Math.min(size - done, this.#current.byteLength - this.#offset);
      sink(this.#current.subarray(this.#offset, this.#offset + take), done);
      this.#offset += take;
      done += take;
    }
    this.#consumed += size;
  }

  /** Checks that nothing is left. */
  async end(): Promise<void> {
    let extra = this.#current.byteLength - this.#offset;
    while (await this.#next()) extra += this.#current.byteLength;
    if (extra > 0) throw new ModelManifestError(`the weights file holds ${this.#consumed + extra} bytes, its specs describe ${this.total}`);
  }

  async #next(): Promise<boolean> {
    if (this.#chunks === undefined) return false;
    const { value, done } = await this.#chunks.next();
    if (done === true) return false;
    this.#current = value;
    this.#offset = 0;
    return true;
  }
}

/** The part of the WASM backend this needs: a view of a tensor's memory in its heap. */
interface WasmHeapBackend {
  typedArrayFromHeap(tensor: { shape: number[]; dtype: string; dataId: object }): ArrayBufferView;
  refCount(dataId: object): number;
}

/** Writes float32 bytes into a tensor's own memory in the WASM heap. */
interface HeapWriter {
  /** Whether `tensor` owns heap memory of exactly `size` bytes that no other tensor shares. */
  fits(tensor: Tensor, size: number): boolean;
  /** Copies `bytes` to `at` bytes into the tensor's memory (a fresh view each time: the heap may grow, and move, between writes). */
  write(tensor: Tensor, at: number, bytes: Uint8Array): void;
}

/**
 * On the WASM backend, a writer of float32 bytes into a tensor's own heap memory; undefined on other backends. A
 * tensor whose memory another tensor shares (a weight tied to another layer's), or of another size, does not fit: the
 * caller then decodes and sets the weight as tfjs does, which also checks shapes. The caller writes only into a
 * variable of the weight's very shape.
 */
function wasmHeapWriter(tf: ReturnType<typeof activeTf>): HeapWriter | undefined {
  if (tf.getBackend() !== "wasm") return undefined;
  const backend = tf.backend() as unknown as Partial<WasmHeapBackend>;
  if (typeof backend.typedArrayFromHeap !== "function") return undefined;
  const view = (tensor: Tensor) => backend.typedArrayFromHeap!(tensor as unknown as { shape: number[]; dtype: string; dataId: object });
  return {
    fits: (tensor, size) =>
      (typeof backend.refCount !== "function" || backend.refCount((tensor as unknown as { dataId: object }).dataId) === 1) && view(tensor).byteLength === size,
    write: (tensor, at, bytes) => {
      const v = view(tensor);
      new Uint8Array(v.buffer, v.byteOffset + at, bytes.byteLength).set(bytes);
    },
  };
}
