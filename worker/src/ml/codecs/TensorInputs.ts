import { InferenceEncodingError, ModelManifestError } from "../ModelError.js";
import { checkByteLength, checkValueCount } from "./CodecChecks.js";
import type { InputCodec, InputCodecSpec } from "./InputCodec.js";
import { float32Bytes, int32Bytes, readFloat32s, readInt32s } from "./LittleEndian.js";
import { elementCount, exampleShape, fixedExampleShape, type TensorSpec } from "./Signature.js";

/** `float32-tensor`: the example's values, row-major, little-endian float32; NaN and ±Infinity are refused. */
export class Float32TensorInput implements InputCodec {
  readonly dtype = "float32";
  readonly exampleShape: readonly number[];
  readonly byteLength: number;

  constructor(
    readonly spec: Extract<InputCodecSpec, { name: "float32-tensor" }>,
    input: TensorSpec,
  ) {
    if (input.dtype !== "float32") {
      throw new ModelManifestError(`float32-tensor feeds float32 inputs, but input ${input.name} is ${input.dtype} (use int32-tokens)`);
    }
    this.exampleShape = fixedExampleShape(input, "float32-tensor");
    this.byteLength = elementCount(this.exampleShape) * 4;
  }

  encode(values: ArrayLike<number>): Uint8Array {
    checkValueCount(values, this.byteLength / 4, "float32-tensor");
    checkFinite(values);
    return float32Bytes(values);
  }

  decode(bytes: Uint8Array): Float32Array {
    checkByteLength(bytes, this, 4);
    const values = readFloat32s(bytes);
    checkFinite(values);
    return values;
  }
}

function checkFinite(values: ArrayLike<number>): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(Math.fround(values[i]))) throw new InferenceEncodingError(`value ${i} is ${values[i]}, not a finite float32`);
  }
}

/**
 * `int32-tokens`: `length` token ids, little-endian int32. Clients pad shorter sequences with
 * `padId` (encode does); an id must be non-negative and, when the manifest gives `vocabSize`,
 * below it. The model's sequence length is `length` (required when its shape leaves it variable).
 */
export class Int32TokensInput implements InputCodec {
  readonly dtype: "float32" | "int32";
  readonly exampleShape: readonly number[];
  readonly byteLength: number;

  constructor(
    readonly spec: Extract<InputCodecSpec, { name: "int32-tokens" }>,
    input: TensorSpec,
  ) {
    const shape = exampleShape(input);
    if (shape.length !== 1) {
      throw new ModelManifestError(`int32-tokens feeds a sequence of shape [batch, length], but input ${input.name} has shape ${JSON.stringify(input.shape)}`);
    }
    const declared = shape[0];
    if (declared === null && spec.length === undefined) {
      throw new ModelManifestError(`input ${input.name} takes sequences of any length: give int32-tokens a "length" to pad to`);
    }
    if (declared !== null && spec.length !== undefined && spec.length !== declared) {
      throw new ModelManifestError(`int32-tokens length ${spec.length} differs from input ${input.name}'s sequence length ${declared}`);
    }
    if (spec.vocabSize !== undefined && spec.padId >= spec.vocabSize) {
      throw new ModelManifestError(`int32-tokens padId ${spec.padId} is not below vocabSize ${spec.vocabSize}`);
    }
    // Keras embeddings often take float32 inputs holding integer ids: the tensor keeps the model's dtype.
    this.dtype = input.dtype;
    const length = spec.length ?? (declared as number);
    this.exampleShape = [length];
    this.byteLength = length * 4;
  }

  /** Token ids, padded with `padId` to the model's length. */
  encode(values: ArrayLike<number>): Uint8Array {
    const length = this.exampleShape[0];
    if (values.length > length) throw new InferenceEncodingError(`int32-tokens: got ${values.length} tokens, the model takes at most ${length}`);
    const ids = Array.from({ length }, (_, i) => (i < values.length ? values[i] : this.spec.padId));
    this.#checkIds(ids);
    return int32Bytes(ids);
  }

  decode(bytes: Uint8Array): Int32Array {
    checkByteLength(bytes, this, 4);
    const ids = readInt32s(bytes);
    this.#checkIds(ids);
    return ids;
  }

  #checkIds(ids: ArrayLike<number>): void {
    const limit = this.spec.vocabSize ?? 2 ** 31;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= limit) {
        throw new InferenceEncodingError(`token ${i} is ${id}, not an id in 0..${limit - 1}`);
      }
    }
  }
}
