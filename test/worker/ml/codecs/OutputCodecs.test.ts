import { expect } from "chai";
import { InferenceEncodingError, ModelManifestError } from "../../../../worker/src/ml/ModelError.js";
import { outputCodecOf, outputCodecSchema, type OutputCodecSpec } from "../../../../worker/src/ml/codecs/OutputCodec.js";
import type { TensorSpec } from "../../../../worker/src/ml/codecs/Signature.js";

const output = (shape: Array<number | null>): TensorSpec => ({ name: "y", dtype: "float32", shape: [null, ...shape] });
const spec = (value: object): OutputCodecSpec => outputCodecSchema.parse(value);
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

describe("Output codecs", () => {
  it("class-index: one byte up to 256 classes, uint16 LE beyond; ties after rounding go to the lowest index", () => {
    const ten = outputCodecOf(spec({ name: "class-index" }), output([10]));
    expect(ten.byteLength).to.equal(1);
    const scores = [0.01, 0.02, 0.03, 0.04, 0.4, 0.4 + 2 ** -22, 0.05, 0.02, 0.02, 0.01];
    expect(Array.from(ten.encode(scores))).to.deep.equal([4]); // 0.4 and 0.4 + 2^-22 tie at 16 bits
    expect(ten.decode(Uint8Array.of(9))).to.deep.equal({ codec: "class-index", classIndex: 9 });
    expect(Array.from(outputCodecOf(spec({ name: "class-index", scoreBits: 24 }), output([10])).encode(scores))).to.deep.equal([5]);
    const big = outputCodecOf(spec({ name: "class-index" }), output([300]));
    const logits = new Array(300).fill(-1);
    logits[258] = 2;
    expect(hex(big.encode(logits))).to.equal("0201");
    expect(big.decode(Uint8Array.of(0x2b, 0x01))).to.deep.equal({ codec: "class-index", classIndex: 299 });
  });

  it("class-index refuses answers out of range or of the wrong length, and outputs that are not [batch, classes]", () => {
    const ten = outputCodecOf(spec({ name: "class-index" }), output([10]));
    expect(() => ten.decode(Uint8Array.of(10))).to.throw(InferenceEncodingError, "class 10 is out of range: the model has 10 classes");
    expect(() => ten.decode(Uint8Array.of(1, 2))).to.throw(InferenceEncodingError, "a class-index answer is 1 bytes, got 2");
    expect(() => ten.encode([0.5, 0.5])).to.throw(InferenceEncodingError, "class-index: the model gave 2 values per example, the manifest says 10");
    expect(() => ten.encode([0.1, Number.NaN, 0, 0, 0, 0, 0, 0, 0, 0])).to.throw(InferenceEncodingError, "score 1 is NaN");
    expect(() => outputCodecOf(spec({ name: "class-index" }), output([1]))).to.throw(ModelManifestError, "class-index reads a [batch, classes] output with 2..65536 classes, but output y has shape [null,1]");
    expect(() => outputCodecOf(spec({ name: "class-index" }), output([2, 5]))).to.throw(ModelManifestError, "class-index reads a [batch, classes] output");
  });

  it("top-k: k (class uint16, p × 65535 uint16) pairs, best first, ties by the lowest class", () => {
    const codec = outputCodecOf(spec({ name: "top-k", k: 3 }), output([4]));
    expect(codec.byteLength).to.equal(12);
    const bytes = codec.encode([0.1, 0.35, 0.2, 0.35]);
    // class 1 and class 3 tie at 0.35 (22937.25 -> 22937): class 1 first; then class 2 at 0.2 (13107).
    expect(hex(bytes)).to.equal("0100995903009959" + "02003333");
    const decoded = codec.decode(bytes);
    expect(decoded).to.deep.equal({
      codec: "top-k",
      top: [
        { classIndex: 1, probability: 22_937 / 65_535 },
        { classIndex: 3, probability: 22_937 / 65_535 },
        { classIndex: 2, probability: 13_107 / 65_535 },
      ],
    });
  });

  it("top-k refuses non-probabilities, k beyond the classes, and answers that are not canonical", () => {
    const codec = outputCodecOf(spec({ name: "top-k", k: 2 }), output([3]));
    expect(() => codec.encode([0.5, 1.2, 0])).to.throw(InferenceEncodingError, "probability of class 1 1.2 is outside [0, 1]: the model's output is not a probability");
    expect(() => outputCodecOf(spec({ name: "top-k", k: 4 }), output([3]))).to.throw(ModelManifestError, "top-k k = 4 is more than the model's 3 classes");
    const words = (...w: number[]) => new Uint8Array(new Uint16Array(w).buffer);
    expect(() => codec.decode(words(3, 100, 0, 50))).to.throw(InferenceEncodingError, "top-k entry 0 names class 3: the model has 3 classes");
    expect(() => codec.decode(words(1, 100, 1, 50))).to.throw(InferenceEncodingError, "top-k entry 1 repeats class 1");
    expect(() => codec.decode(words(1, 50, 0, 100))).to.throw(InferenceEncodingError, "top-k entry 1 is out of order");
    expect(() => codec.decode(words(1, 50, 0, 50))).to.throw(InferenceEncodingError, "top-k entry 1 is out of order");
    expect(() => codec.decode(new Uint8Array(7))).to.throw(InferenceEncodingError, "a top-k answer is 8 bytes, got 7");
    expect(codec.decode(words(0, 50, 1, 50))).to.deep.equal({ codec: "top-k", top: [{ classIndex: 0, probability: 50 / 65_535 }, { classIndex: 1, probability: 50 / 65_535 }] });
  });

  it("binary-probability: uint16 LE p × 65535 of a [batch, 1] output", () => {
    const codec = outputCodecOf(spec({ name: "binary-probability" }), output([1]));
    expect(hex(codec.encode([1]))).to.equal("ffff");
    expect(hex(codec.encode([0.5]))).to.equal("0080");
    expect(codec.decode(Uint8Array.of(0xff, 0xff))).to.deep.equal({ codec: "binary-probability", probability: 1 });
    expect(() => codec.encode([Number.NaN])).to.throw(InferenceEncodingError, "probability is NaN");
    expect(() => codec.encode([0.2, 0.8])).to.throw(InferenceEncodingError, "binary-probability: the model gave 2 values per example, the manifest says 1");
    expect(() => codec.decode(Uint8Array.of(1))).to.throw(InferenceEncodingError, "a binary-probability answer is 2 bytes, got 1");
    expect(() => outputCodecOf(spec({ name: "binary-probability" }), output([2]))).to.throw(ModelManifestError, "binary-probability reads a [batch, 1] output, but output y has shape [null,2]");
  });

  it("float32-tensor: values rounded to the significant bits, little-endian float32", () => {
    const codec = outputCodecOf(spec({ name: "float32-tensor", significantBits: 8 }), output([3]));
    expect(codec.byteLength).to.equal(12);
    const bytes = codec.encode([1 + 2 ** -8 + 2 ** -12, -0.1, 1000]);
    const values = (codec.decode(bytes) as { values: Float32Array }).values;
    expect(Array.from(values)).to.deep.equal([1 + 2 ** -7, -0.10009765625, 1000]);
    expect(hex(bytes.subarray(0, 4))).to.equal("0000813f");
    expect(outputCodecOf(spec({ name: "float32-tensor" }), output([3])).spec).to.deep.equal({ name: "float32-tensor", significantBits: 12 });
  });

  it("float32-tensor refuses NaN, wrong lengths, and answers with more bits than the rule leaves", () => {
    const codec = outputCodecOf(spec({ name: "float32-tensor", significantBits: 8 }), output([1]));
    expect(() => codec.encode([Number.NaN])).to.throw(InferenceEncodingError, "output value 0 is NaN");
    expect(() => codec.encode([1, 2])).to.throw(InferenceEncodingError, "float32-tensor: the model gave 2 values per example, the manifest says 1");
    const exact = new Uint8Array(new Float32Array([1 + 2 ** -12]).buffer);
    expect(() => codec.decode(exact)).to.throw(InferenceEncodingError, "has more than 8 significant bits: the codec did not write it");
    expect(() => codec.decode(new Uint8Array(new Float32Array([Infinity]).buffer))).to.throw(InferenceEncodingError, "answer value 0 is Infinity, not a finite float32");
    expect(() => codec.decode(new Uint8Array(3))).to.throw(InferenceEncodingError, "a float32-tensor answer is 4 bytes, got 3");
    expect(() => outputCodecOf(spec({ name: "float32-tensor" }), output([null]))).to.throw(ModelManifestError, "float32-tensor needs a fixed shape");
    expect(outputCodecSchema.safeParse({ name: "float32-tensor", significantBits: 25 }).success).to.equal(false);
  });
});
