import { z } from "zod";
import { BinaryProbabilityOutput, ClassIndexOutput, TopKOutput } from "./ClassOutputs.js";
import type { TensorSpec } from "./Signature.js";
import { Float32TensorOutput } from "./TensorOutput.js";

/**
 * Output codecs: how one example's output tensor becomes the answer bytes a worker posts on
 * chain, quantised by the rule in Quantisation.ts so that honest workers agree byte for byte.
 * Byte layouts (docs/models.md):
 *
 * - `class-index`: the chosen class, 1 byte when the model has at most 256 classes, else a
 *   little-endian uint16 (at most 65,536 classes).
 * - `top-k`: k entries of 4 bytes, best first: class (uint16 LE), probability (uint16 LE, p × 65535).
 * - `binary-probability`: the probability of a [batch, 1] sigmoid output, uint16 LE (p × 65535).
 * - `float32-tensor`: the example's output values, row-major, little-endian float32, each rounded to
 *   `significantBits` significant bits.
 */
const significantBits = z.number().int().min(1).max(24);

export const classIndexOutputSchema = z.object({
  name: z.literal("class-index"),
  /** The scores (logits or probabilities) are rounded to this many significant bits before the argmax. */
  scoreBits: significantBits.default(16),
});
export const topKOutputSchema = z.object({ name: z.literal("top-k"), k: z.number().int().positive() });
export const binaryProbabilityOutputSchema = z.object({ name: z.literal("binary-probability") });
/** 12 significant bits by default: a relative step of 2^-12 (0.024 %), coarse enough that backends agree on ~99 % of answers. */
export const float32TensorOutputSchema = z.object({ name: z.literal("float32-tensor"), significantBits: significantBits.default(12) });

export const outputCodecSchema = z.discriminatedUnion("name", [
  classIndexOutputSchema,
  topKOutputSchema,
  binaryProbabilityOutputSchema,
  float32TensorOutputSchema,
]);

export type OutputCodecSpec = z.infer<typeof outputCodecSchema>;
export type OutputCodecName = OutputCodecSpec["name"];
export const OUTPUT_CODECS: readonly OutputCodecName[] = ["class-index", "top-k", "binary-probability", "float32-tensor"];

/** What the legacy `outputEncoding: "uint8-class"` means: the argmax class in one byte. */
export const UINT8_CLASS: OutputCodecSpec = { name: "class-index", scoreBits: 16 };

/** An answer as a client reads it. */
export type DecodedOutput =
  | { readonly codec: "class-index"; readonly classIndex: number }
  | { readonly codec: "top-k"; readonly top: ReadonlyArray<{ readonly classIndex: number; readonly probability: number }> }
  | { readonly codec: "binary-probability"; readonly probability: number }
  | { readonly codec: "float32-tensor"; readonly values: Float32Array };

/** One codec bound to one model output. */
export interface OutputCodec {
  readonly spec: OutputCodecSpec;
  /** One example's output shape (no batch dimension). */
  readonly exampleShape: readonly number[];
  /** Bytes of one answer. */
  readonly byteLength: number;
  /** One example's output values (as the model computed them) to the answer bytes; throws InferenceEncodingError. */
  encode(values: ArrayLike<number>): Uint8Array;
  /** Answer bytes back to what they say; throws InferenceEncodingError if they cannot be an answer of this codec. */
  decode(bytes: Uint8Array): DecodedOutput;
}

/** Binds `spec` to the model output it will encode; a codec that cannot encode it is a ModelManifestError. */
export function outputCodecOf(spec: OutputCodecSpec, output: TensorSpec): OutputCodec {
  switch (spec.name) {
    case "class-index":
      return new ClassIndexOutput(spec, output);
    case "top-k":
      return new TopKOutput(spec, output);
    case "binary-probability":
      return new BinaryProbabilityOutput(spec, output);
    case "float32-tensor":
      return new Float32TensorOutput(spec, output);
  }
}
