import { InferenceEncodingError, ModelManifestError } from "../ModelError.js";
import { readUint16s, uint16Bytes } from "./LittleEndian.js";
import type { DecodedOutput, OutputCodec, OutputCodecSpec } from "./OutputCodec.js";
import { dequantiseProbability, quantisedArgMax, quantiseProbability } from "./Quantisation.js";
import { fixedExampleShape, type TensorSpec } from "./Signature.js";

const MAX_CLASSES = 65_536;

/** The number of classes of a [batch, C] output. */
function classCount(output: TensorSpec, codec: string): number {
  const shape = fixedExampleShape(output, codec);
  if (shape.length !== 1 || shape[0] < 2 || shape[0] > MAX_CLASSES) {
    throw new ModelManifestError(`${codec} reads a [batch, classes] output with 2..${MAX_CLASSES} classes, but output ${output.name} has shape ${JSON.stringify(output.shape)}`);
  }
  return shape[0];
}

function checkCount(values: ArrayLike<number>, expected: number, codec: string): void {
  if (values.length !== expected) throw new InferenceEncodingError(`${codec}: the model gave ${values.length} values per example, the manifest says ${expected}`);
}

function checkAnswerLength(bytes: Uint8Array, expected: number, codec: string): void {
  if (bytes.length !== expected) throw new InferenceEncodingError(`a ${codec} answer is ${expected} bytes, got ${bytes.length}`);
}

/** `class-index`: the argmax after rounding the scores (lowest index on ties); 1 byte up to 256 classes, else uint16 LE. */
export class ClassIndexOutput implements OutputCodec {
  readonly exampleShape: readonly number[];
  readonly byteLength: number;
  readonly #classes: number;

  constructor(
    readonly spec: Extract<OutputCodecSpec, { name: "class-index" }>,
    output: TensorSpec,
  ) {
    this.#classes = classCount(output, "class-index");
    this.exampleShape = [this.#classes];
    this.byteLength = this.#classes <= 256 ? 1 : 2;
  }

  encode(values: ArrayLike<number>): Uint8Array {
    checkCount(values, this.#classes, "class-index");
    const best = quantisedArgMax(values, this.spec.scoreBits);
    return this.byteLength === 1 ? Uint8Array.of(best) : uint16Bytes([best]);
  }

  decode(bytes: Uint8Array): DecodedOutput {
    checkAnswerLength(bytes, this.byteLength, "class-index");
    const classIndex = this.byteLength === 1 ? bytes[0] : readUint16s(bytes)[0];
    if (classIndex >= this.#classes) throw new InferenceEncodingError(`class ${classIndex} is out of range: the model has ${this.#classes} classes`);
    return { codec: "class-index", classIndex };
  }
}

/**
 * `top-k`: the k most probable classes, best first, as (class uint16 LE, probability uint16 LE)
 * pairs; ranked by the quantised probability, ties by the lowest class.
 */
export class TopKOutput implements OutputCodec {
  readonly exampleShape: readonly number[];
  readonly byteLength: number;
  readonly #classes: number;

  constructor(
    readonly spec: Extract<OutputCodecSpec, { name: "top-k" }>,
    output: TensorSpec,
  ) {
    this.#classes = classCount(output, "top-k");
    if (spec.k > this.#classes) throw new ModelManifestError(`top-k k = ${spec.k} is more than the model's ${this.#classes} classes`);
    this.exampleShape = [this.#classes];
    this.byteLength = spec.k * 4;
  }

  encode(values: ArrayLike<number>): Uint8Array {
    checkCount(values, this.#classes, "top-k");
    const quantised = Array.from(values, (p, i) => ({ classIndex: i, q: quantiseProbability(p, `probability of class ${i}`) }));
    quantised.sort((a, b) => b.q - a.q || a.classIndex - b.classIndex);
    return uint16Bytes(quantised.slice(0, this.spec.k).flatMap((e) => [e.classIndex, e.q]));
  }

  decode(bytes: Uint8Array): DecodedOutput {
    checkAnswerLength(bytes, this.byteLength, "top-k");
    const words = readUint16s(bytes);
    const top = Array.from({ length: this.spec.k }, (_, i) => ({ classIndex: words[2 * i], q: words[2 * i + 1] }));
    const seen = new Set<number>();
    top.forEach((e, i) => {
      if (e.classIndex >= this.#classes) throw new InferenceEncodingError(`top-k entry ${i} names class ${e.classIndex}: the model has ${this.#classes} classes`);
      if (seen.has(e.classIndex)) throw new InferenceEncodingError(`top-k entry ${i} repeats class ${e.classIndex}`);
      seen.add(e.classIndex);
      const previous = top[i - 1];
      if (previous !== undefined && (e.q > previous.q || (e.q === previous.q && e.classIndex < previous.classIndex))) {
        throw new InferenceEncodingError(`top-k entry ${i} is out of order (best first, ties by the lowest class)`);
      }
    });
    return { codec: "top-k", top: top.map((e) => ({ classIndex: e.classIndex, probability: dequantiseProbability(e.q) })) };
  }
}

/** `binary-probability`: the one value of a [batch, 1] sigmoid output as uint16 LE, p × 65535. */
export class BinaryProbabilityOutput implements OutputCodec {
  readonly exampleShape: readonly number[] = [1];
  readonly byteLength = 2;

  constructor(
    readonly spec: Extract<OutputCodecSpec, { name: "binary-probability" }>,
    output: TensorSpec,
  ) {
    const shape = fixedExampleShape(output, "binary-probability");
    if (shape.length !== 1 || shape[0] !== 1) {
      throw new ModelManifestError(`binary-probability reads a [batch, 1] output, but output ${output.name} has shape ${JSON.stringify(output.shape)}`);
    }
  }

  encode(values: ArrayLike<number>): Uint8Array {
    checkCount(values, 1, "binary-probability");
    return uint16Bytes([quantiseProbability(values[0])]);
  }

  decode(bytes: Uint8Array): DecodedOutput {
    checkAnswerLength(bytes, 2, "binary-probability");
    return { codec: "binary-probability", probability: dequantiseProbability(readUint16s(bytes)[0]) };
  }
}
