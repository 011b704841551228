import { InferenceEncodingError, ModelManifestError } from "../ModelError.js";
import { checkByteLength, checkValueCount } from "./CodecChecks.js";
import type { InputCodec, InputCodecSpec } from "./InputCodec.js";
import { elementCount, fixedExampleShape, type TensorSpec } from "./Signature.js";

type Spec = Extract<InputCodecSpec, { name: "uint8-image" }>;

/**
 * `uint8-image`: one byte per value, H×W×C row-major with channels last (any shape the model
 * takes; a flat [784] is a 28×28 grey image). Decoded with the model's own scaling:
 * value = (byte × scale − mean[c]) / std[c], c = index mod C, computed in float64 and stored as
 * float32 (the same on every host). C is the last dimension of a rank-3 shape, else 1.
 */
export class Uint8ImageInput implements InputCodec {
  readonly dtype = "float32";
  readonly exampleShape: readonly number[];
  readonly byteLength: number;
  readonly #channels: number;

  constructor(
    readonly spec: Spec,
    input: TensorSpec,
  ) {
    if (input.dtype !== "float32") {
      throw new ModelManifestError(`uint8-image feeds float32 inputs, but input ${input.name} is ${input.dtype}`);
    }
    this.exampleShape = fixedExampleShape(input, "uint8-image");
    this.byteLength = elementCount(this.exampleShape);
    this.#channels = this.exampleShape.length >= 3 ? this.exampleShape[this.exampleShape.length - 1] : 1;
    for (const [what, values] of [["mean", spec.mean], ["std", spec.std]] as const) {
      if (values.length !== 1 && values.length !== this.#channels) {
        throw new ModelManifestError(
          `uint8-image ${what} has ${values.length} values, the image (shape ${JSON.stringify(this.exampleShape)}) has ${this.#channels} channel(s)`,
        );
      }
    }
  }

  /** Pixel bytes (integers 0..255) as the request's bytes. */
  encode(values: ArrayLike<number>): Uint8Array {
    checkValueCount(values, this.byteLength, "uint8-image");
    const bytes = new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (!Number.isInteger(v) || v < 0 || v > 255) throw new InferenceEncodingError(`pixel ${i} is ${v}, not a byte (an integer in 0..255)`);
      bytes[i] = v;
    }
    return bytes;
  }

  decode(bytes: Uint8Array): Float32Array {
    checkByteLength(bytes, this, 1);
    const { scale, mean, std } = this.spec;
    const values = new Float32Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) {
      const c = i % this.#channels;
      values[i] = (bytes[i] * scale - mean[mean.length === 1 ? 0 : c]) / std[std.length === 1 ? 0 : c];
    }
    return values;
  }
}
