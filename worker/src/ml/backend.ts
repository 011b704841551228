import { createRequire } from "node:module";
import path from "node:path";
import type * as TfNamespace from "@tensorflow/tfjs";
import { registerWasmConv2DBackpropFilter } from "./wasmConv2DBackpropFilter.js";
import { registerWasmFastGradientKernels } from "./wasmGradientKernels.js";
import { registerWasmUnsortedSegmentSum } from "./wasmUnsortedSegmentSum.js";

/** The TensorFlow.js namespace (`@tensorflow/tfjs`, or `@tensorflow/tfjs-node[-gpu]`, which re-exports it). */
export type Tf = typeof TfNamespace;

export type BackendName = "tensorflow-gpu" | "tensorflow" | "wasm" | "cpu";
export type BackendPreference = "auto" | BackendName;

export interface SelectedBackend {
  /** What runs the kernels: libtensorflow with CUDA, libtensorflow on CPU, WASM (XNNPACK), or pure JS. */
  name: BackendName;
  /** The namespace the backend was registered on; build and run every model through it. */
  tf: Tf;
  /** Backends tried first that were not available, and why (for the start-up log). */
  skipped: Array<{ name: BackendName; reason: string }>;
}

export class BackendSelectionError extends Error {
  override readonly name = "BackendSelectionError";
}

const require = createRequire(import.meta.url);

/**
 * Native packages are optional: they download libtensorflow in their install script, which fails
 * on hosts without internet access (and on this project's CI), so they are not dependencies.
 * On a GPU host: `npm install @tensorflow/tfjs-node-gpu@4.22.0` (CUDA 11.2 + cuDNN 8.1); on a
 * CPU host: `npm install @tensorflow/tfjs-node@4.22.0`. Both must match @tensorflow/tfjs's version
 * so that they share one tfjs-core engine.
 */
const NATIVE_PACKAGES = {
  "tensorflow-gpu": "@tensorflow/tfjs-node-gpu",
  tensorflow: "@tensorflow/tfjs-node",
} as const;

const AUTO_ORDER: BackendName[] = ["tensorflow-gpu", "tensorflow", "wasm", "cpu"];

let selection: Promise<SelectedBackend> | undefined;
let selected: SelectedBackend | undefined;

/**
 * Picks the fastest TensorFlow.js backend this host can run, once per process: `auto` tries
 * tfjs-node-gpu, tfjs-node, WASM, then the pure-JS cpu backend. Later calls return the first
 * selection; asking for a different backend afterwards throws, because the engine is global.
 */
export async function selectBackend(preference: BackendPreference = "auto"): Promise<SelectedBackend> {
  selection ??= select(preference).then(
    (result) => (selected = result),
    (error: unknown) => {
      selection = undefined;
      throw error;
    },
  );
  const result = await selection;
  if (preference !== "auto" && preference !== result.name) {
    throw new BackendSelectionError(`backend ${result.name} is already selected; cannot switch to ${preference}`);
  }
  return result;
}

/** The namespace of the selected backend, for code that runs after `selectBackend()` resolved. */
export function activeTf(): Tf {
  if (selected === undefined) throw new BackendSelectionError("call selectBackend() before using TensorFlow.js");
  return selected.tf;
}

async function select(preference: BackendPreference): Promise<SelectedBackend> {
  const candidates = preference === "auto" ? AUTO_ORDER : [preference];
  const skipped: SelectedBackend["skipped"] = [];
  for (const name of candidates) {
    try {
      const tf = await initialize(name);
      return { name, tf, skipped };
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (preference !== "auto") {
        throw new BackendSelectionError(`TensorFlow.js backend ${name} is not available: ${reason}`, { cause: error });
      }
      skipped.push({ name, reason });
    }
  }
  throw new BackendSelectionError(`no TensorFlow.js backend could be initialized: ${JSON.stringify(skipped)}`);
}

async function initialize(name: BackendName): Promise<Tf> {
  switch (name) {
    case "tensorflow-gpu":
    case "tensorflow":
      return initializeNative(NATIVE_PACKAGES[name]);
    case "wasm":
      return initializeWasm();
    case "cpu":
      return initializeJs("cpu");
  }
}

async function initializeNative(packageName: string): Promise<Tf> {
  try {
    require.resolve(packageName);
  } catch {
    throw new Error(`${packageName} is not installed`);
  }
  // A variable specifier keeps TypeScript from requiring the optional package's types. The
  // packages are CommonJS: `default` is their module.exports, which holds all of tfjs.
  const loaded = (await import(packageName)) as Tf & { default?: Tf };
  const tf = loaded.default ?? loaded;
  if (!(await tf.setBackend("tensorflow"))) throw new Error(`${packageName} loaded but its backend did not initialize`);
  await tf.ready();
  return tf;
}

async function initializeWasm(): Promise<Tf> {
  const tf = await import("@tensorflow/tfjs");
  const wasm = await import("@tensorflow/tfjs-backend-wasm");
  // Load the .wasm binaries from the package on disk (its default would be a CDN-relative URL in
  // a bundle); the single-threaded SIMD build, since Node has no Web Workers for the threaded one.
  const distDirectory = path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json")) + "/dist/";
  wasm.setWasmPaths(distDirectory);
  tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
  if (!(await tf.setBackend("wasm"))) throw new Error("the WASM backend did not initialize");
  await tf.ready();
  registerWasmConv2DBackpropFilter(tf);
  registerWasmFastGradientKernels(tf);
  registerWasmUnsortedSegmentSum(tf);
  return tf;
}

async function initializeJs(name: "cpu"): Promise<Tf> {
  const tf = await import("@tensorflow/tfjs");
  if (!(await tf.setBackend(name))) throw new Error(`the ${name} backend did not initialize`);
  await tf.ready();
  return tf;
}
