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

  constructor(shards: readonly HostedShard[]) {
    for (const shard of shards) this.#shards.set(key(shard.versionId, shard.shardIndex), shard);
  }

  serves(versionId: bigint, shardIndex: number): boolean {
    return this.#shards.has(key(versionId, shardIndex));
  }

  /** The shards served, as (version, index) pairs. */
  get hosted(): HostedShard[] {
    return [...this.#shards.values()];
  }

  async run(versionId: bigint, shardIndex: number, input: Uint8Array): Promise<Uint8Array> {
    const shard = this.#shards.get(key(versionId, shardIndex));
    if (shard === undefined) throw new ShardingError(`shard ${shardIndex} of version ${versionId} is not served here`);
    const tf = activeTf();
    const codecs = codecsOf(shard.codecs);
    const output = tf.tidy(() => {
      let x: Tensor;
      if (shardIndex === 0) {
        const values = codecs.input.decode(input);
        x = tf.tensor(values, [1, ...codecs.input.exampleShape], codecs.input.dtype === "int32" ? "int32" : "float32");
      } else {
        const activation = decodeActivation(input);
        x = tf.tensor(activation.data, activation.shape, "float32");
      }
      const y = shard.model.predict(x);
      if (!(y instanceof tf.Tensor)) throw new ShardingError(`shard ${shardIndex} of version ${versionId} has more than one output`);
      return y as Tensor;
    });
    try {
      if (shardIndex + 1 < shard.shardCount) return encodeActivation(output);
      const values = (await output.data()) as Float32Array;
      return codecs.output.encode(values);
    } finally {
      output.dispose();
    }
  }

  dispose(): void {
    for (const shard of this.#shards.values()) shard.model.dispose();
    this.#shards.clear();
  }
}

function key(versionId: bigint, shardIndex: number): string {
  return `${versionId}:${shardIndex}`;
}
