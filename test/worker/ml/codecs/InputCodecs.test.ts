import { expect } from "chai";
import { InferenceEncodingError, ModelManifestError } from "../../../../worker/src/ml/ModelError.js";
import { inputCodecOf, inputCodecSchema, type InputCodecSpec } from "../../../../worker/src/ml/codecs/InputCodec.js";
import type { TensorSpec } from "../../../../worker/src/ml/codecs/Signature.js";

const input = (shape: Array<number | null>, dtype: "float32" | "int32" = "float32"): TensorSpec => ({ name: "x", dtype, shape: [null, ...shape] });
const spec = (value: object): InputCodecSpec => inputCodecSchema.parse(value);
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

describe("Input codecs", () => {
  describe("float32-tensor", () => {
    const codec = inputCodecOf(spec({ name: "float32-tensor" }), input([2, 2]));

    it("writes little-endian float32, row-major, and reads it back exactly", () => {
      expect(codec.byteLength).to.equal(16);
      expect(codec.exampleShape).to.deep.equal([2, 2]);
      const bytes = codec.encode([1, -2, 0.5, 3.25]);
      expect(hex(bytes)).to.equal("0000803f000000c00000003f00005040");
      expect(Array.from(codec.decode(bytes))).to.deep.equal([1, -2, 0.5, 3.25]);
      expect(Array.from(codec.decode(codec.encode([0.1, 0, 0, 0])))[0]).to.equal(Math.fround(0.1));
    });

    it("refuses wrong lengths, NaN and infinities, and int32 or variable-shape inputs", () => {
      expect(() => codec.decode(new Uint8Array(15))).to.throw(InferenceEncodingError, "input has 15 bytes, the model takes 16 (float32-tensor, shape [2,2], 4 byte(s) per value)");
      expect(() => codec.encode([1, 2, 3])).to.throw(InferenceEncodingError, "float32-tensor: got 3 values, the model takes 4");
      expect(() => codec.encode([1, Number.NaN, 0, 0])).to.throw(InferenceEncodingError, "value 1 is NaN, not a finite float32");
      expect(() => codec.encode([1, 0, 1e39, 0])).to.throw(InferenceEncodingError, "value 2 is 1e+39, not a finite float32");
      const nanBytes = Uint8Array.from(Buffer.from("0000c07f000000000000000000000000", "hex"));
      expect(() => codec.decode(nanBytes)).to.throw(InferenceEncodingError, "value 0 is NaN");
      expect(() => inputCodecOf(spec({ name: "float32-tensor" }), input([4], "int32"))).to.throw(ModelManifestError, "float32-tensor feeds float32 inputs, but input x is int32 (use int32-tokens)");
      expect(() => inputCodecOf(spec({ name: "float32-tensor" }), input([null, 3]))).to.throw(ModelManifestError, "float32-tensor needs a fixed shape, but x has shape [null,null,3]");
    });
  });

  describe("int32-tokens", () => {
    it("writes little-endian int32 ids padded to the model's length", () => {
      const codec = inputCodecOf(spec({ name: "int32-tokens", vocabSize: 300 }), input([4], "int32"));
      expect(codec.byteLength).to.equal(16);
      expect(codec.dtype).to.equal("int32");
      const bytes = codec.encode([7, 258]);
      expect(hex(bytes)).to.equal("07000000020100000000000000000000");
      expect(Array.from(codec.decode(bytes))).to.deep.equal([7, 258, 0, 0]);
    });

    it("takes its length from the codec when the model's sequence length is variable, and pads with padId", () => {
      const codec = inputCodecOf(spec({ name: "int32-tokens", length: 3, padId: 1 }), input([null]));
      expect(codec.exampleShape).to.deep.equal([3]);
      expect(codec.dtype).to.equal("float32"); // a Keras embedding's float32 input keeps its dtype
      expect(Array.from(codec.decode(codec.encode([5])))).to.deep.equal([5, 1, 1]);
    });

    it("refuses long sequences, ids outside the vocabulary, and lengths that do not fit the model", () => {
      const codec = inputCodecOf(spec({ name: "int32-tokens", vocabSize: 10 }), input([2], "int32"));
      expect(() => codec.encode([1, 2, 3])).to.throw(InferenceEncodingError, "int32-tokens: got 3 tokens, the model takes at most 2");
      expect(() => codec.encode([1, 10])).to.throw(InferenceEncodingError, "token 1 is 10, not an id in 0..9");
      expect(() => codec.encode([-1])).to.throw(InferenceEncodingError, "token 0 is -1, not an id in 0..9");
      expect(() => codec.encode([1.5])).to.throw(InferenceEncodingError, "token 0 is 1.5");
      expect(() => codec.decode(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]))).to.throw(InferenceEncodingError, "token 0 is -1, not an id in 0..9");
      expect(() => codec.decode(new Uint8Array(4))).to.throw(InferenceEncodingError, "input has 4 bytes, the model takes 8");
      expect(() => inputCodecOf(spec({ name: "int32-tokens" }), input([null]))).to.throw(ModelManifestError, 'give int32-tokens a "length" to pad to');
      expect(() => inputCodecOf(spec({ name: "int32-tokens", length: 5 }), input([4]))).to.throw(ModelManifestError, "int32-tokens length 5 differs from input x's sequence length 4");
      expect(() => inputCodecOf(spec({ name: "int32-tokens" }), input([4, 2]))).to.throw(ModelManifestError, "int32-tokens feeds a sequence of shape [batch, length]");
      expect(() => inputCodecOf(spec({ name: "int32-tokens", padId: 10, vocabSize: 10 }), input([4]))).to.throw(ModelManifestError, "padId 10 is not below vocabSize 10");
    });
  });

  describe("uint8-image", () => {
    it("scales by the manifest's per-channel mean and std, channels last", () => {
      const codec = inputCodecOf(spec({ name: "uint8-image", scale: 1 / 255, mean: [0.5, 0, 0], std: [0.5, 1, 0.25] }), input([1, 2, 3]));
      expect(codec.byteLength).to.equal(6);
      const bytes = codec.encode([255, 51, 0, 0, 255, 255]);
      expect(Array.from(bytes)).to.deep.equal([255, 51, 0, 0, 255, 255]);
      expect(Array.from(codec.decode(bytes))).to.deep.equal([1, Math.fround(0.2), 0, -1, 1, 4]);
    });

    it("is the old uint8-pixels with its defaults: byte / 255, exactly as float32", () => {
      const codec = inputCodecOf(spec({ name: "uint8-image" }), input([256]));
      const all = Uint8Array.from({ length: 256 }, (_, i) => i);
      expect(Array.from(codec.decode(all))).to.deep.equal(Array.from(all, (b) => Math.fround(b / 255)));
    });

    it("refuses values that are not bytes, wrong lengths, and scalings that do not fit the channels", () => {
      const codec = inputCodecOf(spec({ name: "uint8-image" }), input([28, 28, 1]));
      expect(() => codec.decode(new Uint8Array(783))).to.throw(InferenceEncodingError, "input has 783 bytes, the model takes 784 (uint8-image, shape [28,28,1], 1 byte(s) per value)");
      const pixels = new Array(784).fill(0);
      pixels[3] = 256;
      expect(() => codec.encode(pixels)).to.throw(InferenceEncodingError, "pixel 3 is 256, not a byte (an integer in 0..255)");
      expect(() => inputCodecOf(spec({ name: "uint8-image", mean: [0, 0] }), input([4, 4, 3]))).to.throw(ModelManifestError, "uint8-image mean has 2 values, the image (shape [4,4,3]) has 3 channel(s)");
      expect(() => inputCodecOf(spec({ name: "uint8-image" }), input([4], "int32"))).to.throw(ModelManifestError, "uint8-image feeds float32 inputs");
      expect(inputCodecSchema.safeParse({ name: "uint8-image", std: [0] }).success).to.equal(false);
      expect(inputCodecSchema.safeParse({ name: "uint8-pixels" }).success).to.equal(false);
    });
  });
});
