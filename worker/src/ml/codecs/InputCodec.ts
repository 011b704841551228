import { z } from "zod";
import { Uint8ImageInput } from "./ImageInput.js";
import type { TensorSpec } from "./Signature.js";
import { Float32TensorInput, Int32TokensInput } from "./TensorInputs.js";

/**
 * Input codecs: how the bytes of a request (inline or behind a CID) become one example of the
 * model's input tensor. The manifest names one with its parameters; clients encode with it and
 * workers decode with it, so both compute from the same values. Byte layouts (docs/models.md):
 *
 * - `float32-tensor`: the example's values, row-major, 4 bytes each, little-endian float32.
 * - `int32-tokens`: `length` token ids, 4 bytes each, little-endian int32, padded with `padId`.
 * - `uint8-image`: H×W×C bytes, row-major, channels last; value = (byte × scale − mean[c]) / std[c].
 */
export const float32TensorInputSchema = z.object({ name: z.literal("float32-tensor") });

export const int32TokensInputSchema = z.object({
  name: z.literal("int32-tokens"),
  /** Tokens per example; required when the model's sequence length is variable, else equal to it. */
  length: z.number().int().positive().optional(),
  /** The id shorter sequences are padded with. */
  padId: z.number().int().nonnegative().default(0),
  /** Ids must be below this, when given (the embedding's input dimension). */
  vocabSize: z.number().int().positive().optional(),
});

export const uint8ImageInputSchema = z.object({
  name: z.literal("uint8-image"),
  scale: z.number().positive().default(1 / 255),
  /** Per channel, or one value for all channels. */
  mean: z.array(z.number()).min(1).default([0]),
  std: z.array(z.number().positive()).min(1).default([1]),
});

export const inputCodecSchema = z.discriminatedUnion("name", [float32TensorInputSchema, int32TokensInputSchema, uint8ImageInputSchema]);

export type InputCodecSpec = z.infer<typeof inputCodecSchema>;
export type InputCodecName = InputCodecSpec["name"];
export const INPUT_CODECS: readonly InputCodecName[] = ["float32-tensor", "int32-tokens", "uint8-image"];

/** What the legacy `inputEncoding: "uint8-pixels"` means: a grey image scaled to [0, 1]. */
export const UINT8_PIXELS: InputCodecSpec = { name: "uint8-image", scale: 1 / 255, mean: [0], std: [1] };

/** One codec bound to one model input: it knows the example's shape and byte length. */
export interface InputCodec {
  readonly spec: InputCodecSpec;
  /** The dtype of the tensor the model is fed. */
  readonly dtype: "float32" | "int32";
  /** One example's shape as the model reads it (no batch dimension). */
  readonly exampleShape: readonly number[];
  /** Bytes of one encoded example. */
  readonly byteLength: number;
  /** A client's values (pixel bytes, token ids, floats) to request bytes; throws InferenceEncodingError. */
  encode(values: ArrayLike<number>): Uint8Array;
  /** Request bytes to the example's values; throws InferenceEncodingError naming what is wrong. */
  decode(bytes: Uint8Array): Float32Array | Int32Array;
}

/** Binds `spec` to the model input it will feed; a codec that cannot feed it is a ModelManifestError. */
export function inputCodecOf(spec: InputCodecSpec, input: TensorSpec): InputCodec {
  switch (spec.name) {
    case "float32-tensor":
      return new Float32TensorInput(spec, input);
    case "int32-tokens":
      return new Int32TokensInput(spec, input);
    case "uint8-image":
      return new Uint8ImageInput(spec, input);
  }
}
