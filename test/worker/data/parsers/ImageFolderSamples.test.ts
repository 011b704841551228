import { expect } from "chai";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { decodeImage, ImageDecodingError, ImageSizeError, readImageHeader } from "../../../../worker/src/data/parsers/ImageDecoding.js";
import { parseImageFolder, type ImageEntry } from "../../../../worker/src/data/parsers/ImageFolderSamples.js";
import { builtinSchema, MNIST_SCHEMA } from "../../../../worker/src/data/schema/BuiltinSchemas.js";
import { expectFormatError } from "./formatError.js";

const COLOUR = builtinSchema("colour-16x16x3/shapes-4")!;
type Rgba = [number, number, number, number];

/** A PNG whose pixel p is rgba(p), written with the given PNG colour type (0 grey, 2 RGB, 4 grey+alpha, 6 RGBA). */
function png(width: number, height: number, rgba: (p: number) => Rgba, colorType: 0 | 2 | 4 | 6): Uint8Array {
  const image = new PNG({ width, height });
  for (let p = 0; p < width * height; p++) image.data.set(rgba(p), 4 * p);
  return new Uint8Array(PNG.sync.write(image, { colorType }));
}

function jpg(width: number, height: number, rgba: (p: number) => Rgba): Uint8Array {
  const data = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) data.set(rgba(p), 4 * p);
  return new Uint8Array(jpeg.encode({ data, width, height }, 90).data);
}

const colourful = (seed: number) => (p: number): Rgba => [(p * 7 + seed) % 256, (p * 13 + seed) % 256, (p * 29 + seed) % 256, 255];
const grey = (seed: number) => (p: number): Rgba => {
  const v = (p * 5 + seed) % 256;
  return [v, v, v, 255];
};
const rgbOf = (rgba: (p: number) => Rgba, pixels: number) => Array.from({ length: pixels * 3 }, (_, i) => rgba(Math.floor(i / 3))[i % 3]);

describe("parsers/ImageFolderSamples and ImageDecoding", () => {
  it("reads <class>/<image> PNGs and JPEGs in path order, RGB exact, grey as R = G = B, opaque alpha dropped, dot files skipped", () => {
    const photo = jpg(16, 16, colourful(9));
    const entries: ImageEntry[] = [
      { path: "triangle/c.jpg", bytes: photo },
      { path: "square/a.png", bytes: png(16, 16, colourful(1), 6) },
      { path: ".DS_Store", bytes: new Uint8Array([0, 1, 2]) },
      { path: "cross/d.PNG", bytes: png(16, 16, grey(3), 0) },
      { path: "circle/.b.png", bytes: new Uint8Array([1]) },
      { path: "circle/b.png", bytes: png(16, 16, colourful(2), 2) },
    ];
    const samples = parseImageFolder(COLOUR, entries);
    expect(samples.count).to.equal(4);
    expect(Array.from(samples.labels)).to.deep.equal([0, 3, 1, 2]); // circle/b, cross/d, square/a, triangle/c
    const decodedPhoto = jpeg.decode(photo, { useTArray: true, formatAsRGBA: true });
    const expected = [...rgbOf(colourful(2), 256), ...rgbOf(grey(3), 256), ...rgbOf(colourful(1), 256), ...Array.from({ length: 768 }, (_, i) => decodedPhoto.data[4 * Math.floor(i / 3) + (i % 3)])];
    expect(Array.from(samples.features)).to.deep.equal(expected);
    // The same folder listed in another order gives the same samples.
    expect(parseImageFolder(COLOUR, [...entries].reverse())).to.deep.equal(samples);
  });

  it("reads grey digits for [28, 28, 1]: grey PNGs, and colour-type PNGs whose R = G = B everywhere", () => {
    const samples = parseImageFolder(MNIST_SCHEMA, [
      { path: "7/a.png", bytes: png(28, 28, grey(1), 0) },
      { path: "3/b.png", bytes: png(28, 28, grey(2), 6) },
    ]);
    expect(Array.from(samples.labels)).to.deep.equal([3, 7]);
    expect(Array.from(samples.features)).to.deep.equal([...Array.from({ length: 784 }, (_, p) => grey(2)(p)[0]), ...Array.from({ length: 784 }, (_, p) => grey(1)(p)[0])]);
  });

  it("names the file and both sizes, unknown class folders, and what cannot be converted", () => {
    const ok = { path: "circle/ok.png", bytes: png(16, 16, colourful(0), 2) };
    expectFormatError(() => parseImageFolder(COLOUR, [ok, { path: "square/wide.png", bytes: png(17, 16, colourful(0), 2) }]), /^file square\/wide\.png: the image is 17×16 pixels, and the schema's images are 16×16 \(width×height\): resize it first$/);
    expectFormatError(() => parseImageFolder(COLOUR, [ok, { path: "square/tall.jpg", bytes: jpg(16, 15, colourful(0)) }]), /^file square\/tall\.jpg: the image is 16×15 pixels, and the schema's images are 16×16/);
    expectFormatError(
      () => parseImageFolder(COLOUR, [ok, { path: "hamster/x.png", bytes: ok.bytes }, { path: "dog/y.png", bytes: ok.bytes }, { path: "dog/z.png", bytes: ok.bytes }]),
      /^folders "dog", "hamster" are not classes of colour-16x16x3\/shapes-4 \("circle", "square", "triangle", "cross"\)$/,
    );
    const oneTransparent = (p: number): Rgba => (p === 37 ? [1, 2, 3, 254] : colourful(0)(p));
    expectFormatError(() => parseImageFolder(COLOUR, [{ path: "cross/glass.png", bytes: png(16, 16, oneTransparent, 6) }]), /^file cross\/glass\.png: the image has transparent pixels \(pixel \(5, 2\) has alpha 254\), and the schema's images have no alpha channel/);
    const oneTinted = (p: number): Rgba => (p === 28 * 3 + 4 ? [10, 10, 11, 255] : grey(0)(p));
    expectFormatError(() => parseImageFolder(MNIST_SCHEMA, [{ path: "1/tint.png", bytes: png(28, 28, oneTinted, 2) }]), /^file 1\/tint\.png: the image has colour \(pixel \(4, 3\) is rgb\(10, 10, 11\)\), and the schema's images are grey \(1 channel\): convert it to grey first$/);
    expectFormatError(() => parseImageFolder(COLOUR, [ok, { path: "circle/fake.png", bytes: new TextEncoder().encode("not an image") }]), /^file circle\/fake\.png: the file is neither a PNG nor a JPEG image$/);
    expectFormatError(() => parseImageFolder(COLOUR, [{ path: "circle/cut.png", bytes: ok.bytes.subarray(0, 60) }]), /^file circle\/cut\.png: the file could not be decoded: /);
    expectFormatError(() => parseImageFolder(COLOUR, [ok, { path: "circle/notes.txt", bytes: new Uint8Array(1) }]), /^file circle\/notes\.txt: is not a \.png, \.jpg or \.jpeg image$/);
    expectFormatError(() => parseImageFolder(COLOUR, [{ path: "shapes/circle/a.png", bytes: ok.bytes }]), /^file shapes\/circle\/a\.png: expected <class name>\/<image>/);
    expectFormatError(() => parseImageFolder(COLOUR, [{ path: ".git/x.png", bytes: ok.bytes }]), /^the image folder has no images$/);
  });

  it("refuses a format the schema does not list, in one sentence", () => {
    expectFormatError(() => parseImageFolder(builtinSchema("iris-4/species-3")!, []), /^the schema iris-4\/species-3 does not take image-folder files: it takes CSV, JSON, JSONL and NPY$/);
  });

  it("checks the size from the header (PNG IHDR, JPEG SOF) before decoding anything", () => {
    const real = png(16, 16, colourful(0), 2);
    expect(readImageHeader(real)).to.deep.equal({ format: "PNG", width: 16, height: 16, colour: true });
    expect(readImageHeader(png(4, 3, grey(0), 0))).to.deep.equal({ format: "PNG", width: 4, height: 3, colour: false });
    expect(readImageHeader(jpg(9, 5, colourful(0)))).to.deep.equal({ format: "JPEG", width: 9, height: 5, colour: true });
    // A file that claims 5000×5000 pixels: refused from its header, though its data would not even decode.
    const huge = real.slice(0, 40);
    new DataView(huge.buffer).setUint32(16, 5000, false);
    new DataView(huge.buffer).setUint32(20, 5000, false);
    let thrown: unknown;
    try {
      decodeImage(huge, { width: 16, height: 16 });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).to.be.instanceOf(ImageSizeError);
    expect((thrown as ImageSizeError).message).to.equal("is 5000×5000 pixels, not 16×16");
    expect(() => decodeImage(huge)).to.throw(ImageDecodingError, /^is 5000×5000 pixels, more than the 16,000,000 decoded$/);
    const decoded = decodeImage(real, { width: 16, height: 16 });
    expect([decoded.format, decoded.width, decoded.height, decoded.colour, decoded.data.length]).to.deep.equal(["PNG", 16, 16, true, 1024]);
  });
});
