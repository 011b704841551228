import type { LayersModel, Tensor } from "@tensorflow/tfjs";
import { activeTf } from "../backend.js";
import { activationHash, decodeActivation, encodeActivation } from "./Activations.js";
import { ShardingError } from "./ShardingError.js";

/** What one stage (one shard) of a pipeline run received and sent, as the hashes of the wire bytes. */
export interface StageTrace {
  index: number;
  /** keccak256 of the activation bytes the stage decoded (stage 0: the encoded input). */
  inputHash: `0x${string}`;
  /** keccak256 of the activation bytes the stage encoded: exactly the next stage's `inputHash`. */
  outputHash: `0x${string}`;
  /** Shape of the stage's output, batch first. */
  outputShape: number[];
  /** Size of the stage's output on the wire. */
  outputBytes: number;
}

export interface PipelineRun {
  /** The last stage's output, decoded from the bytes it sent (the caller disposes it). */
  output: Tensor;
  stages: StageTrace[];
}

/**
 * Runs `shards` in order on `input` (batch first; an int32 input travels as float32) in this process, passing each
 * activation as hosts would: encoded in the wire format (Activations.ts), hashed, and decoded by
 * the next stage. The bytes a stage sends are the bytes the next one hashes and reads, so stage
 * i's `outputHash` is stage i+1's `inputHash`. A shard that cannot take its input is a
 * ShardingError naming the stage. `input` and the shards are left as they were.
 */
export async function runShards(shards: readonly LayersModel[], input: Tensor): Promise<PipelineRun> {
  const tf = activeTf();
  if (shards.length === 0) throw new ShardingError("runShards needs at least one shard");
  let bytes = encodeActivation({ shape: input.shape, data: (await input.data()) as Float32Array });
  const stages: StageTrace[] = [];
  for (const [index, shard] of shards.entries()) {
    const inputHash = activationHash(bytes);
    const received = decodeActivation(bytes);
    const x = tf.tensor(received.data, received.shape, "float32");
    let y: Tensor | undefined;
    let outputShape: number[];
    try {
      const predicted = shard.predict(x);
      if (Array.isArray(predicted)) {
        tf.dispose(predicted);
        throw new ShardingError(`stage ${index} (${shard.name}) gave ${predicted.length} outputs, a shard gives one`);
      }
      y = predicted;
      outputShape = [...y.shape];
      bytes = encodeActivation({ shape: y.shape, data: (await y.data()) as Float32Array });
    } catch (err) {
      if (err instanceof ShardingError) throw err;
      throw new ShardingError(`stage ${index} (${shard.name}) failed on an input of shape ${JSON.stringify(received.shape)}: ${(err as Error).message}`, { cause: err });
    } finally {
      tf.dispose([x, ...(y === undefined ? [] : [y])]);
    }
    stages.push({ index, inputHash, outputHash: activationHash(bytes), outputShape, outputBytes: bytes.byteLength });
  }
  const last = decodeActivation(bytes);
  return { output: tf.tensor(last.data, last.shape, "float32"), stages };
}
