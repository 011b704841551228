import { expect } from "chai";
import { keccak256 } from "ethers";
import { selectBackend } from "../../../../worker/src/ml/backend.js";
import { activationHash, decodeActivation, encodeActivation } from "../../../../worker/src/ml/sharding/Activations.js";
import { ActivationFormatError, ShardingError } from "../../../../worker/src/ml/sharding/ShardingError.js";
import { thrown } from "./fixtures.js";

const bitsOf = (values: Float32Array) => Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length));

describe("Activations: the wire format between shard hosts", () => {
  it("lays out the header and the little-endian float32 values as documented", () => {
    const bytes = encodeActivation({ shape: [2, 3], data: [1, 2, 3, 4, 5, -0.5] });
    expect(bytes.length).to.equal(8 + 2 * 4 + 6 * 4);
    expect(Array.from(bytes.subarray(0, 16))).to.deep.equal([0x54, 0x41, 0x43, 0x54, 1, 1, 2, 0, 2, 0, 0, 0, 3, 0, 0, 0]);
    expect(Array.from(bytes.subarray(16, 20))).to.deep.equal([0x00, 0x00, 0x80, 0x3f]); // 1.0f
    expect(Array.from(bytes.subarray(36, 40))).to.deep.equal([0x00, 0x00, 0x00, 0xbf]); // -0.5f
  });

  it("round-trips exactly, bit for bit (NaN, -0, infinities, subnormals included)", () => {
    const data = Float32Array.from([0, -0, 1.5, -3.25, NaN, Infinity, -Infinity, 1e-45, 3.4028234663852886e38, Math.fround(Math.PI), 7, 8]);
    const weird = new Uint32Array(data.buffer);
    weird[11] = 0x7fc0_1234; // a NaN with a payload
    for (const shape of [[12], [3, 4], [1, 2, 3, 2], [2, 1, 1, 1, 1, 1, 1, 6]]) {
      const decoded = decodeActivation(encodeActivation({ shape, data }));
      expect(decoded.shape).to.deep.equal(shape);
      expect(bitsOf(decoded.data)).to.deep.equal(bitsOf(data));
      expect(Object.is(decoded.data[1], -0)).to.equal(true);
    }
  });

  it("encodes a float32 tensor like its shape and values, and decodes from a view into a larger buffer", async () => {
    const { tf } = await selectBackend();
    const tensor = tf.randomNormal([3, 4, 5], 0, 1, "float32", 3);
    const bytes = encodeActivation(tensor);
    const values = tensor.dataSync() as Float32Array;
    expect(bytes).to.deep.equal(encodeActivation({ shape: [3, 4, 5], data: values }));
    const padded = new Uint8Array(bytes.length + 7);
    padded.set(bytes, 3);
    const decoded = decodeActivation(padded.subarray(3, 3 + bytes.length));
    expect(decoded.shape).to.deep.equal([3, 4, 5]);
    expect(bitsOf(decoded.data)).to.deep.equal(bitsOf(values));
    const ints = tf.tensor([1, 2], [2], "int32");
    expect(thrown(() => encodeActivation(ints)).message).to.equal("activations are float32, got a tensor of dtype int32");
    tf.dispose([tensor, ints]);
  });

  it("refuses every malformed input with an ActivationFormatError saying what is wrong", () => {
    const good = encodeActivation({ shape: [2, 3], data: [1, 2, 3, 4, 5, 6] });
    const patched = (offset: number, value: number) => {
      const copy = Uint8Array.from(good);
      copy[offset] = value;
      return copy;
    };
    const withDims = (dims: number[]) => {
      const bytes = new Uint8Array(8 + 4 * dims.length);
      bytes.set([0x54, 0x41, 0x43, 0x54, 1, 1, dims.length, 0]);
      const view = new DataView(bytes.buffer);
      dims.forEach((d, i) => view.setUint32(8 + 4 * i, d, true));
      return bytes;
    };
    const cases: Array<[Uint8Array, string]> = [
      [new Uint8Array(0), "activation truncated: 0 bytes, the header alone takes 8"],
      [good.subarray(0, 5), "activation truncated: 5 bytes, the header alone takes 8"],
      [patched(0, 0x7b), 'not an activation: magic is 0x7b414354, expected 0x54414354 ("TACT")'],
      [patched(4, 2), "activation format version 2 is not supported (only 1)"],
      [patched(5, 2), "activation dtype code 2 is unknown (1 = float32)"],
      [patched(6, 0), "activation rank 0 is out of range 1..8"],
      [patched(6, 200), "activation rank 200 is out of range 1..8"],
      [patched(7, 1), "activation header byte 7 is 1, must be 0"],
      [good.subarray(0, 12), "activation truncated: 12 bytes, a rank-2 header takes 16"],
      [patched(6, 3), "activation shape [2,3,1065353216] holds more than 268435456 values"],
      [patched(6, 1), "activation of shape [2] takes 20 bytes, got 40 (20 trailing bytes)"],
      [good.subarray(0, good.length - 1), "activation of shape [2,3] takes 40 bytes, got 39 (truncated)"],
      [Uint8Array.from([...good, 0, 0, 0, 0]), "activation of shape [2,3] takes 40 bytes, got 44 (4 trailing bytes)"],
      [withDims([2, 0, 3]), "activation dim 1 is 0, must be an integer in 1..4294967295"],
      [withDims([65_536, 65_536]), "activation shape [65536,65536] holds more than 268435456 values"],
      [withDims([0xffff_ffff]), "activation shape [4294967295] holds more than 268435456 values"],
    ];
    for (const [bytes, message] of cases) {
      const error = thrown(() => decodeActivation(bytes));
      expect(error, message).to.be.instanceOf(ActivationFormatError);
      expect(error).to.be.instanceOf(ShardingError);
      expect(error.message).to.equal(message);
    }
  });

  it("refuses to encode values that do not fill their shape, or a shape the format cannot carry", () => {
    const cases: Array<[{ shape: number[]; data: number[] }, string]> = [
      [{ shape: [2, 3], data: [1, 2, 3] }, "shape [2,3] holds 6 values, got 3"],
      [{ shape: [], data: [1] }, "activation rank 0 is out of range 1..8"],
      [{ shape: [1, 1, 1, 1, 1, 1, 1, 1, 1], data: [1] }, "activation rank 9 is out of range 1..8"],
      [{ shape: [2, 1.5], data: [1, 2, 3] }, "activation dim 1 is 1.5, must be an integer in 1..4294967295"],
      [{ shape: [-1], data: [] }, "activation dim 0 is -1, must be an integer in 1..4294967295"],
    ];
    for (const [activation, message] of cases) {
      const error = thrown(() => encodeActivation(activation));
      expect(error).to.be.instanceOf(ActivationFormatError);
      expect(error.message).to.equal(message);
    }
  });

  it("hashes the wire bytes with keccak256, as ethers does", () => {
    const bytes = encodeActivation({ shape: [1, 4], data: [0.25, 0.5, 0.75, 1] });
    const hash = activationHash(bytes);
    expect(hash).to.match(/^0x[0-9a-f]{64}$/);
    expect(hash).to.equal(keccak256(bytes));
    const other = encodeActivation({ shape: [1, 4], data: [0.25, 0.5, 0.75, Math.fround(1 + 2 ** -23)] });
    expect(activationHash(other)).to.not.equal(hash);
    expect(activationHash(other)).to.equal(keccak256(other));
    // The same values in another shape are other bytes, hence another hash.
    expect(activationHash(encodeActivation({ shape: [2, 2], data: [0.25, 0.5, 0.75, 1] }))).to.not.equal(hash);
  });
});
