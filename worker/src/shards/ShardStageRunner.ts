import type { LayersModel, Tensor } from "@tensorflow/tfjs";
import { activeTf } from "../ml/backend.js";
import { codecsOf, type ModelCodecs } from "../ml/ModelManifest.js";
import { decodeActivation, encodeActivation } from "../ml/sharding/Activations.js";
import { ShardingError } from "../ml/sharding/ShardingError.js";

/** One shard this host loaded: its model, and the version's codecs (shard 0 decodes the request, the last encodes the answer). */
export interface HostedShard {
  readonly versionId: bigint;
  readonly shardIndex: number;
  readonly shardCount: number;
  readonly model: LayersModel;
  readonly codecs: ModelCodecs;
}

/**
 * Runs the shards a host serves, one stage at a time, on the bytes that travel between hosts: shard 0 takes the
 * request's input bytes (the version's input codec decodes them), every other shard the previous shard's activation
 * (Activations.ts); the last shard answers with the version's output codec, every other one with its activation.
 * So the answer is byte for byte what the whole model gives through `predictSettled`.
 */
export class ShardStageRunner {
  readonly #shards = new Map<string, HostedShard>();

  constructor(shards: readonly HostedShard[] = []) {
    for (const shard of shards) this.add(shard);
  }

  /** Serves `shard` from now on (one model per version and index: a second is an error, the first kept). */
  add(shard: HostedShard): void {
    const k = key(shard.versionId, shard.shardIndex);
    if (this.#shards.has(k)) throw new ShardingError(`shard ${shard.shardIndex} of version ${shard.versionId} is already loaded here`);
    this.#shards.set(k, shard);
  }

  serves(versionId: bigint, shardIndex: number): boolean {
    return this.#shards.has(key(versionId, shardIndex));
  }

  /** The shards served, as (version, index) pairs. */
  get hosted(): HostedShard[] {
    return [...this.#shards.values()];
  }

  async run(versionId: bigint, shardIndex: number, input: Uint8Array): Promise<Uint8Array> {
    const [result] = await this.runBatch(versionId, shardIndex, [input]);
    if (!result!.ok) throw result!.error;
    return result!.output;
  }

  /**
   * Several stages of one shard as one prediction (a host batches the stages that arrive while it computes: the
   * weights are read once for all of them). Each input is decoded and checked alone, and a batch whose prediction
   * fails is run again one stage at a time, so a malformed stage fails alone, never the stages batched with it. On
   * the WASM backend a row's output is bit for bit the one it gets alone (checked in ShardStageRunner.test.ts), so a
   * stage's output hash does not depend on what it was batched with.
   */
  async runBatch(versionId: bigint, shardIndex: number, inputs: readonly Uint8Array[]): Promise<StageResult[]> {
    const shard = this.#shards.get(key(versionId, shardIndex));
    if (shard === undefined) return inputs.map(() => ({ ok: false, error: new ShardingError(`shard ${shardIndex} of version ${versionId} is not served here`) }));
    const codecs = codecsOf(shard.codecs);
    const results: StageResult[] = new Array(inputs.length);
    // Rows of one example each, grouped by shape and dtype (only rows of one shape make one tensor).
    const groups = new Map<string, Row[]>();
    inputs.forEach((input, index) => {
      try {
        const row = decodeRow(shardIndex, codecs, input, index);
        const group = `${row.dtype}:${row.shape.join("x")}`;
        groups.set(group, [...(groups.get(group) ?? []), row]);
      } catch (err) {
        results[index] = { ok: false, error: err instanceof Error ? err : new Error(String(err)) };
      }
    });
    for (const rows of groups.values()) {
      try {
        await this.#predict(shard, codecs, rows, results);
      } catch (err) {
        if (rows.length === 1) results[rows[0]!.index] = { ok: false, error: err instanceof Error ? err : new Error(String(err)) };
        // One of them may be what fails: each alone, so that only it does.
        else for (const row of rows) await this.#predict(shard, codecs, [row], results).catch((e: unknown) => (results[row.index] = { ok: false, error: e instanceof Error ? e : new Error(String(e)) }));
      }
    }
    return results;
  }

  async #predict(shard: HostedShard, codecs: ReturnType<typeof codecsOf>, rows: readonly Row[], results: StageResult[]): Promise<void> {
    const tf = activeTf();
    const { shape, dtype } = rows[0]!;
    const size = rows[0]!.values.length;
    const flat = dtype === "int32" ? new Int32Array(rows.length * size) : new Float32Array(rows.length * size);
    rows.forEach((row, i) => flat.set(row.values, i * size));
    const output = tf.tidy(() => {
      const y = shard.model.predict(tf.tensor(flat, [rows.length, ...shape], dtype));
      if (!(y instanceof tf.Tensor)) throw new ShardingError(`shard ${shard.shardIndex} of version ${shard.versionId} has more than one output`);
      return y as Tensor;
    });
    try {
      const values = (await output.data()) as Float32Array;
      const rowShape = output.shape.slice(1);
      const rowSize = values.length / rows.length;
      const last = shard.shardIndex + 1 === shard.shardCount;
      rows.forEach((row, i) => {
        const slice = values.subarray(i * rowSize, (i + 1) * rowSize);
        try {
          results[row.index] = { ok: true, output: last ? codecs.output.encode(slice) : encodeActivation({ shape: [1, ...rowShape], data: slice }) };
        } catch (err) {
          results[row.index] = { ok: false, error: err instanceof Error ? err : new Error(String(err)) };
        }
      });
    } finally {
      output.dispose();
    }
  }

  dispose(): void {
    for (const shard of this.#shards.values()) shard.model.dispose();
    this.#shards.clear();
  }
}

/** A stage's outcome in a batch: its output bytes, or why it alone failed. */
export type StageResult = { readonly ok: true; readonly output: Uint8Array } | { readonly ok: false; readonly error: Error };

/** One stage's input as one example: its values, the example's shape (without the batch axis) and dtype. */
interface Row {
  readonly index: number;
  readonly values: Float32Array | Int32Array;
  readonly shape: readonly number[];
  readonly dtype: "float32" | "int32";
}

/** Stage 0: the request's bytes through the version's input codec; later stages: an activation of one example. */
function decodeRow(shardIndex: number, codecs: ReturnType<typeof codecsOf>, input: Uint8Array, index: number): Row {
  if (shardIndex === 0) {
    const values = codecs.input.decode(input);
    return { index, values, shape: codecs.input.exampleShape, dtype: codecs.input.dtype === "int32" ? "int32" : "float32" };
  }
  const activation = decodeActivation(input);
  if (activation.shape[0] !== 1) throw new ShardingError(`an activation carries one example (its first dimension is 1), not ${activation.shape[0]}`);
  return { index, values: activation.data, shape: activation.shape.slice(1), dtype: "float32" };
}

function key(versionId: bigint, shardIndex: number): string {
  return `${versionId}:${shardIndex}`;
}
