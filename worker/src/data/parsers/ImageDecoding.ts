// `buffer` is Node's own module in Node and the npm polyfill in bundles: pngjs reads Buffers only.
import { Buffer } from "buffer";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";

/**
 * PNG and JPEG files decoded to RGBA by pngjs and jpeg-js, for dataset image folders and inference requests.
 * The size is read from the file's header (PNG IHDR, JPEG SOF) and checked before anything is decoded: a small
 * file can claim a huge size, and decoding allocates 4 bytes a pixel. Never resizes. Takes bytes, imports nothing
 * Node-only.
 *
 * Errors are ImageDecodingError, whose message is a predicate for the caller to put the file's name before:
 * "is neither a PNG nor a JPEG image", "could not be decoded: ...", "is 17×16 pixels, not 16×16".
 */
export type ImageFormat = "PNG" | "JPEG";

export interface ImageHeader {
  readonly format: ImageFormat;
  readonly width: number;
  readonly height: number;
  /** Whether the image stores colour (PNG colour or palette types, JPEG with 3 components); undefined when unknown. */
  readonly colour: boolean | undefined;
}

export interface DecodedImage {
  readonly format: ImageFormat;
  readonly width: number;
  readonly height: number;
  /** RGBA, row-major, 4 bytes a pixel (grey images have R = G = B; images without alpha have A = 255). */
  readonly data: Uint8Array;
  /** Whether the image stores colour channels (false: a grey image). */
  readonly colour: boolean;
}

export class ImageDecodingError extends Error {
  override readonly name: string = "ImageDecodingError";
}

/** The image's size is not the one asked for (found from its header, before decoding). */
export class ImageSizeError extends ImageDecodingError {
  override readonly name = "ImageSizeError";

  constructor(
    readonly width: number,
    readonly height: number,
    readonly expected: { readonly width: number; readonly height: number },
  ) {
    super(`is ${width}×${height} pixels, not ${expected.width}×${expected.height}`);
  }
}

/** Largest image decoded (pixels). */
export const MAX_IMAGE_PIXELS = 16_000_000;

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47];
const JPEG_MAGIC = [0xff, 0xd8, 0xff];
const startsWith = (bytes: Uint8Array, magic: number[]) => magic.every((b, i) => bytes[i] === b);

export function imageFormatOf(bytes: Uint8Array): ImageFormat | undefined {
  return startsWith(bytes, PNG_MAGIC) ? "PNG" : startsWith(bytes, JPEG_MAGIC) ? "JPEG" : undefined;
}

/** The size (and colour) a PNG or JPEG declares, read from its header; undefined when the header is not found. */
export function readImageHeader(bytes: Uint8Array): ImageHeader | undefined {
  const format = imageFormatOf(bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (format === "PNG") {
    // The IHDR chunk is always first: width, height, bit depth, colour type (bit 1: colour, set for palettes too).
    if (bytes.length < 26) return undefined;
    return { format, width: view.getUint32(16, false), height: view.getUint32(20, false), colour: (bytes[25] & 2) !== 0 };
  }
  if (format === "JPEG") {
    let offset = 2;
    while (offset + 4 <= bytes.length) {
      if (bytes[offset] !== 0xff) return undefined;
      const marker = bytes[offset + 1];
      if (marker === 0xff) {
        offset++;
        continue;
      }
      if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
        offset += 2;
        continue;
      }
      if (marker === 0xd9 || marker === 0xda) return undefined;
      const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
      if (isFrame) {
        if (offset + 10 > bytes.length) return undefined;
        return { format, height: view.getUint16(offset + 5, false), width: view.getUint16(offset + 7, false), colour: bytes[offset + 9] !== 1 };
      }
      offset += 2 + view.getUint16(offset + 2, false);
    }
  }
  return undefined;
}

/** Decodes a PNG or JPEG to RGBA, refusing (before decoding) a size other than `expected` or above MAX_IMAGE_PIXELS. */
export function decodeImage(bytes: Uint8Array, expected?: { width: number; height: number }): DecodedImage {
  const format = imageFormatOf(bytes);
  if (format === undefined) throw new ImageDecodingError("is neither a PNG nor a JPEG image");
  const header = readImageHeader(bytes);
  if (header !== undefined) checkSize(header.width, header.height, expected);
  let image: DecodedImage;
  try {
    if (format === "PNG") {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      image = { format, width: png.width, height: png.height, data: png.data, colour: png.color };
    } else {
      const jpg = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 256, maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6 });
      image = { format, width: jpg.width, height: jpg.height, data: jpg.data, colour: header?.colour ?? true };
    }
  } catch (error) {
    throw new ImageDecodingError(`could not be decoded: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  checkSize(image.width, image.height, expected);
  return image;
}

function checkSize(width: number, height: number, expected: { width: number; height: number } | undefined): void {
  if (expected !== undefined && (width !== expected.width || height !== expected.height)) throw new ImageSizeError(width, height, expected);
  if (width * height > MAX_IMAGE_PIXELS) throw new ImageDecodingError(`is ${width}×${height} pixels, more than the ${MAX_IMAGE_PIXELS.toLocaleString("en")} decoded`);
}
