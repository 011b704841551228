import { expect } from "chai";
import { parseIdxSamples, readIdx } from "../../../../worker/src/data/parsers/IdxSamples.js";
import { builtinSchema, MNIST_SCHEMA } from "../../../../worker/src/data/schema/BuiltinSchemas.js";
import { parseSchemaDocument } from "../../../../worker/src/data/schema/SchemaDocument.js";
import { expectFormatError } from "./formatError.js";

const COLOUR = builtinSchema("colour-16x16x3/shapes-4")!;
const SIZES = { 0x08: 1, 0x09: 1, 0x0b: 2, 0x0c: 4, 0x0d: 4, 0x0e: 8 } as const;

/** An IDX file written by hand: 0, 0, type, dims; each dim a big-endian uint32; the values big-endian. */
function idx(type: keyof typeof SIZES, dims: number[], values: ArrayLike<number>): Uint8Array {
  const size = SIZES[type];
  const bytes = new Uint8Array(4 + 4 * dims.length + values.length * size);
  const view = new DataView(bytes.buffer);
  bytes[2] = type;
  bytes[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  const start = 4 + 4 * dims.length;
  for (let i = 0; i < values.length; i++) {
    const o = start + i * size;
    if (type === 0x08) view.setUint8(o, values[i]);
    else if (type === 0x09) view.setInt8(o, values[i]);
    else if (type === 0x0b) view.setInt16(o, values[i], false);
    else if (type === 0x0c) view.setInt32(o, values[i], false);
    else if (type === 0x0d) view.setFloat32(o, values[i], false);
    else view.setFloat64(o, values[i], false);
  }
  return bytes;
}

const valuesOf = (bytes: Uint8Array) => Array.from(readIdx(bytes, "f").values as ArrayLike<number>);

describe("parsers/IdxSamples", () => {
  const pixels = Uint8Array.from({ length: 4 * 784 }, (_, i) => (i * 13 + (i >> 7)) % 256);
  const images = idx(0x08, [4, 28, 28], pixels);
  const labels = idx(0x08, [4], [7, 2, 1, 0]);

  it("reads MNIST's train-images-idx3-ubyte / train-labels-idx1-ubyte layout to the exact bytes", () => {
    expect(Array.from(images.subarray(0, 16))).to.deep.equal([0, 0, 8, 3, 0, 0, 0, 4, 0, 0, 0, 28, 0, 0, 0, 28]);
    const samples = parseIdxSamples(MNIST_SCHEMA, images, labels);
    expect(samples.count).to.equal(4);
    expect(Array.from(samples.features)).to.deep.equal(Array.from(pixels));
    expect(Array.from(samples.labels)).to.deep.equal([7, 2, 1, 0]);
    // A [N, 28, 28, 1] file, and one of 0..1 floats (as double), give the same samples.
    expect(parseIdxSamples(MNIST_SCHEMA, idx(0x08, [4, 28, 28, 1], pixels), labels)).to.deep.equal(samples);
    expect(parseIdxSamples(MNIST_SCHEMA, idx(0x0e, [4, 784], Float64Array.from(pixels, (p) => p / 255)), labels)).to.deep.equal(samples);
  });

  it("reads every IDX type code, big-endian", () => {
    const values = [-3, 0, 1, 100, -128, 127];
    expect(valuesOf(idx(0x09, [6], values))).to.deep.equal(values);
    expect(valuesOf(idx(0x0b, [2, 3], [-30000, 0, 1, 2, 300, 32767]))).to.deep.equal([-30000, 0, 1, 2, 300, 32767]);
    expect(valuesOf(idx(0x0c, [3], [-2_000_000_000, 5, 2_000_000_000]))).to.deep.equal([-2_000_000_000, 5, 2_000_000_000]);
    expect(valuesOf(idx(0x0d, [2], [0.5, -1.25]))).to.deep.equal([0.5, -1.25]);
    const read = readIdx(idx(0x0e, [1, 2], [0.1, 1e300]), "f");
    expect(read.shape).to.deep.equal([1, 2]);
    expect(Array.from(read.values as ArrayLike<number>)).to.deep.equal([0.1, 1e300]);
    expect(read.integer).to.equal(false);

    const schema = {
      document: parseSchemaDocument({
        kind: "tessera.dataset-schema/1",
        name: "signals-3/kind-2",
        features: { dtype: "int32", shape: [3] },
        label: { kind: "class", classes: ["a", "b"] },
        formats: ["idx"],
      }),
    };
    const samples = parseIdxSamples(schema, idx(0x0b, [2, 3], [-30000, 0, 1, 2, 300, 32767]), idx(0x0c, [2], [1, 0]));
    expect(samples.features).to.be.instanceOf(Int32Array);
    expect(Array.from(samples.features)).to.deep.equal([-30000, 0, 1, 2, 300, 32767]);
    expect(Array.from(samples.labels)).to.deep.equal([1, 0]);
  });

  it("reads colour images [N, 16, 16, 3]", () => {
    const rgb = Uint8Array.from({ length: 2 * 768 }, (_, i) => (i * 7) % 256);
    const samples = parseIdxSamples(COLOUR, idx(0x08, [2, 16, 16, 3], rgb), idx(0x08, [2], [3, 1]));
    expect(Array.from(samples.features)).to.deep.equal(Array.from(rgb));
    expect(Array.from(samples.labels)).to.deep.equal([3, 1]);
  });

  it("names the file and the sample of each problem, at its exact edge", () => {
    const names = { fileNames: { images: "t10k-images-idx3-ubyte", labels: "t10k-labels-idx1-ubyte" } };
    expect(parseIdxSamples(MNIST_SCHEMA, images, idx(0x08, [4], [9, 9, 9, 9])).labels[3]).to.equal(9);
    expectFormatError(() => parseIdxSamples(MNIST_SCHEMA, images, idx(0x08, [4], [7, 2, 10, 0]), names), /^sample 2: label 10 is not an integer in 0\.\.9 or a class name \("0", "1", .*"9"\), in file t10k-labels-idx1-ubyte$/);
    expectFormatError(() => parseIdxSamples(MNIST_SCHEMA, idx(0x0c, [1, 784], Array.from({ length: 784 }, (_, i) => (i === 300 ? 256 : 255))), idx(0x08, [1], [1])), /^sample 0: pixel 300 is 256, expected a number in 0\.\.255$/);
    expectFormatError(() => parseIdxSamples(MNIST_SCHEMA, images.subarray(0, images.length - 1), labels, names), /^file t10k-images-idx3-ubyte: the file has 3151 bytes, and its header \(ubyte values of dimensions \[4, 28, 28\]\) needs 3152$/);
    expectFormatError(() => parseIdxSamples(MNIST_SCHEMA, idx(0x08, [4, 28, 27], pixels.subarray(0, 4 * 28 * 27)), labels), /^images file: the array has shape \[4, 28, 27\], and the samples of mnist-784\/labels-10 need \[N, 28, 28, 1\], \[N, 28, 28\] or \[N, 784\]$/);
    expectFormatError(() => parseIdxSamples(MNIST_SCHEMA, images, idx(0x08, [3], [1, 2, 3])), /^labels file: 3 labels for the 4 samples of images file$/);
    const badType = images.slice();
    badType[2] = 0x0a;
    expectFormatError(() => parseIdxSamples(MNIST_SCHEMA, badType, labels), /^images file: IDX type code 0x0a is unknown/);
    expectFormatError(() => parseIdxSamples(MNIST_SCHEMA, new TextEncoder().encode("P5 28 28"), labels), /^images file: not an IDX file/);
    expectFormatError(() => parseIdxSamples(MNIST_SCHEMA, Uint8Array.from([0, 0, 8, 3, 0, 0, 0, 4]), labels), /^images file: the IDX header is cut short \(3 dimensions need 16 bytes\)$/);
  });

  it("refuses a format the schema does not list, in one sentence", () => {
    expectFormatError(() => parseIdxSamples(builtinSchema("iris-4/species-3")!, images, labels), /^the schema iris-4\/species-3 does not take IDX files: it takes CSV, JSON, JSONL and NPY$/);
  });
});
