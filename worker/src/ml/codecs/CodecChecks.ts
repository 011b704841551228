import { InferenceEncodingError } from "../ModelError.js";
import type { InputCodec } from "./InputCodec.js";

/** The length check every input codec makes first. */
export function checkByteLength(bytes: Uint8Array, codec: InputCodec, bytesPerValue: number): void {
  if (bytes.length !== codec.byteLength) {
    throw new InferenceEncodingError(
      `input has ${bytes.length} bytes, the model takes ${codec.byteLength} (${codec.spec.name}, shape ${JSON.stringify(codec.exampleShape)}, ${bytesPerValue} byte(s) per value)`,
    );
  }
}

/** The value-count check of `encode`. */
export function checkValueCount(values: ArrayLike<number>, expected: number, what: string): void {
  if (values.length !== expected) {
    throw new InferenceEncodingError(`${what}: got ${values.length} values, the model takes ${expected}`);
  }
}
