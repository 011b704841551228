import { InferenceEncodingError } from "../ModelError.js";
import { float32Bytes, readFloat32s } from "./LittleEndian.js";
import type { DecodedOutput, OutputCodec, OutputCodecSpec } from "./OutputCodec.js";
import { roundToSignificantBits } from "./Quantisation.js";
import { elementCount, fixedExampleShape, type TensorSpec } from "./Signature.js";

/** `float32-tensor` (regression): every output value rounded to `significantBits`, little-endian float32. */
export class Float32TensorOutput implements OutputCodec {
  readonly exampleShape: readonly number[];
  readonly byteLength: number;

  constructor(
    readonly spec: Extract<OutputCodecSpec, { name: "float32-tensor" }>,
    output: TensorSpec,
  ) {
    this.exampleShape = fixedExampleShape(output, "float32-tensor");
    this.byteLength = elementCount(this.exampleShape) * 4;
  }

  encode(values: ArrayLike<number>): Uint8Array {
    const expected = this.byteLength / 4;
    if (values.length !== expected) throw new InferenceEncodingError(`float32-tensor: the model gave ${values.length} values per example, the manifest says ${expected}`);
    return float32Bytes(Array.from(values, (v, i) => roundToSignificantBits(v, this.spec.significantBits, `output value ${i}`)));
  }

  decode(bytes: Uint8Array): DecodedOutput {
    if (bytes.length !== this.byteLength) throw new InferenceEncodingError(`a float32-tensor answer is ${this.byteLength} bytes, got ${bytes.length}`);
    const values = readFloat32s(bytes);
    values.forEach((v, i) => {
      if (!Number.isFinite(v)) throw new InferenceEncodingError(`answer value ${i} is ${v}, not a finite float32`);
      if (roundToSignificantBits(v, this.spec.significantBits) !== v) {
        throw new InferenceEncodingError(`answer value ${i} (${v}) has more than ${this.spec.significantBits} significant bits: the codec did not write it`);
      }
    });
    return { codec: "float32-tensor", values };
  }
}
