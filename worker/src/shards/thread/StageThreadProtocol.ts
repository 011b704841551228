import type { io } from "@tensorflow/tfjs";
import type { ModelCodecs } from "../../ml/ModelManifest.js";

/**
 * The messages between a ThreadedStageRunner (the event loop that serves and routes) and its stage thread (the
 * models, StageThread.ts). Bytes cross as copies in a transferred buffer of their own (`packed`).
 */
export type ToStageThread =
  /** Build a shard's model; its weights come one chunk per `pull`. */
  | { readonly kind: "load"; readonly id: number; readonly versionId: bigint; readonly shardIndex: number; readonly shardCount: number; readonly codecs: ModelCodecs; readonly modelTopology: object; readonly weightSpecs: readonly io.WeightsManifestEntry[]; readonly byteLength: number }
  /** The next chunk of load `id`'s weights, the end of them, or why they stopped coming. */
  | { readonly kind: "chunk"; readonly id: number; readonly bytes: Uint8Array }
  | { readonly kind: "end"; readonly id: number }
  | { readonly kind: "abort"; readonly id: number; readonly message: string }
  /** Load `id`'s model was built from bytes that hash to their commitment: serve it (answered `loaded`). */
  | { readonly kind: "commit"; readonly id: number }
  /** Load `id`'s model was built from bytes that do not: free it, never serve it. */
  | { readonly kind: "discard"; readonly id: number }
  /** Stages of one shard, as one prediction (ShardStageRunner.runBatch). */
  | { readonly kind: "run"; readonly id: number; readonly versionId: bigint; readonly shardIndex: number; readonly inputs: readonly Uint8Array[] };

export type FromStageThread =
  | { readonly kind: "ready"; readonly backend: string; readonly build: string }
  | { readonly kind: "pull"; readonly id: number }
  /** Load `id`'s model is built, held aside until `commit` or `discard`. */
  | { readonly kind: "built"; readonly id: number }
  | { readonly kind: "loaded"; readonly id: number }
  | { readonly kind: "ran"; readonly id: number; readonly results: readonly ThreadStageResult[] }
  | { readonly kind: "failed"; readonly id: number; readonly error: ThreadError };

declare const TESSERA_BUILD_ID: string | undefined;

/**
 * Which build this code is: the id Bundles.ts gives the bundle and the stage thread bundled beside it (one build),
 * "source" when the TypeScript runs as it is. A thread from another build (the bundle rebuilt while a worker ran,
 * then its thread restarted) may speak other messages: the runner refuses it.
 */
export const BUILD_ID: string = typeof TESSERA_BUILD_ID === "undefined" ? "source" : TESSERA_BUILD_ID;

/** An error as it crosses the thread boundary: its class name and message. */
export interface ThreadError {
  readonly name: string;
  readonly message: string;
}

export type ThreadStageResult = { readonly ok: true; readonly output: Uint8Array } | { readonly ok: false; readonly error: ThreadError };

export function threadError(err: unknown): ThreadError {
  return err instanceof Error ? { name: err.name, message: err.message } : { name: "Error", message: String(err) };
}

/**
 * Copies of `list` in one new buffer, and that buffer, to transfer: the sender's own bytes are never detached (a
 * caller keeps its stage input to replay it on another host; a store keeps its blocks), and the message carries no
 * more than the bytes themselves (a view of a larger buffer would carry all of it).
 */
export function packed(list: readonly Uint8Array[]): { views: Uint8Array[]; buffer: ArrayBuffer } {
  const buffer = new ArrayBuffer(list.reduce((sum, bytes) => sum + bytes.byteLength, 0));
  let offset = 0;
  const views = list.map((bytes) => {
    const view = new Uint8Array(buffer, offset, bytes.byteLength);
    view.set(bytes);
    offset += bytes.byteLength;
    return view;
  });
  return { views, buffer };
}
