/**
 * Inputs a person has, as request bytes: a JSON file of values (`--input x.json`) or an image file
 * (`--image digit.png`, PNG or JPEG), checked against the model version's input codec and encoded
 * by it, so the bytes are exactly those the worker decodes. Every mismatch is one sentence naming
 * the file and what the model takes, before anything is sent.
 *
 * Images: decoded by pngjs / jpeg-js to RGBA, never resized (a size that differs from the model's
 * is an error that names both). A model with one channel gets the luma of each pixel,
 * round(0.299 R + 0.587 G + 0.114 B) (ITU-R BT.601, as most image libraries' greyscale), three
 * channels get R, G, B; alpha is dropped.
 */
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { decodeImage, ImageDecodingError, ImageSizeError, type DecodedImage } from "../../worker/src/data/parsers/ImageDecoding.js";
import type { InputCodec } from "../../worker/src/ml/codecs/InputCodec.js";
import { InferenceEncodingError } from "../../worker/src/ml/ModelError.js";
import type { WordTokenizer } from "../../worker/src/ml/Tokenizer.js";

/** A request input read from a file, encoded by the version's codec. */
export interface EncodedInputFile {
  readonly bytes: Uint8Array;
  /** What was read, for the task's printout: "x.json: 4 values" or "digit.png: 28×28 image, grey". */
  readonly description: string;
}

/** A file that cannot become this model's input; the message is the sentence a person reads. */
export class InputFileError extends Error {
  override readonly name = "InputFileError";
}

const shapeText = (shape: readonly number[]) => (shape.length === 0 ? "a scalar" : shape.join("×"));

function readBytes(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputFileError(code === "ENOENT" ? `${path} does not exist` : `cannot read ${path}: ${(err as Error).message}`);
  }
}

/** Flattens nested arrays (row-major), checking that every row at one depth has the same length. */
function flatten(value: unknown, file: string): { values: number[]; shape: number[] } {
  const shape: number[] = [];
  const values: number[] = [];
  const walk = (v: unknown, depth: number, path: string): void => {
    if (Array.isArray(v)) {
      if (shape.length === depth) shape.push(v.length);
      else if (shape[depth] !== v.length || shape.length === depth) {
        throw new InputFileError(`${file}: ${path} has ${v.length} entries where its neighbours have ${shape[depth]} (a ragged array)`);
      }
      v.forEach((x, i) => walk(x, depth + 1, `${path}[${i}]`));
      return;
    }
    if (depth < shape.length) throw new InputFileError(`${file}: ${path} is a number where an array of ${shape[depth]} was expected (a ragged array)`);
    if (typeof v !== "number") throw new InputFileError(`${file}: ${path} is ${JSON.stringify(v)}, not a number`);
    values.push(v);
  };
  walk(value, 0, "input");
  return { values, shape };
}

/**
 * A JSON file holding the example's values: a (possibly nested) array of numbers, row-major, or an
 * object `{ "values": [...] }`. A nested array's shape must be the model's example shape; a flat
 * one must hold as many values.
 */
export function readValuesFile(path: string, codec: InputCodec): EncodedInputFile {
  const file = basename(path);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readBytes(path).toString("utf8"));
  } catch (err) {
    if (err instanceof InputFileError) throw err;
    throw new InputFileError(`${file} is not JSON: ${(err as Error).message}`);
  }
  if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) && "values" in parsed) parsed = (parsed as { values: unknown }).values;
  if (!Array.isArray(parsed)) throw new InputFileError(`${file} must hold an array of numbers (or {"values": [...]}), not ${typeof parsed}`);
  const { values, shape } = flatten(parsed, file);
  const expected = codec.exampleShape.reduce((a, b) => a * b, 1);
  const nestedFits = shape.length === codec.exampleShape.length && shape.every((n, i) => n === codec.exampleShape[i]);
  // Token ids may be fewer than the sequence length: the codec pads them.
  const countFits = codec.spec.name === "int32-tokens" ? values.length >= 1 && values.length <= expected : values.length === expected;
  if (!countFits || (shape.length > 1 && !nestedFits)) {
    throw new InputFileError(
      `${file} holds ${shape.length > 1 ? `a ${shapeText(shape)} array` : `${values.length} values`}; the model takes ${shapeText(codec.exampleShape)} (${expected} values, ${codec.spec.name})`,
    );
  }
  try {
    return { bytes: codec.encode(values), description: `${file}: ${values.length} values (${codec.spec.name})` };
  } catch (err) {
    if (err instanceof InferenceEncodingError) throw new InputFileError(`${file}: ${err.message}`);
    throw err;
  }
}

/** Reads and decodes an image file (shared with dataset image folders: worker/src/data/parsers/ImageDecoding.ts). */
function decodeImageFile(path: string, want: { width: number; height: number }): DecodedImage {
  const bytes = readBytes(path);
  const file = basename(path);
  try {
    return decodeImage(bytes, want);
  } catch (err) {
    if (err instanceof ImageSizeError) throw sizeMismatch(file, err.width, err.height, want);
    if (err instanceof ImageDecodingError) throw new InputFileError(`${file} ${err.message}`);
    throw err;
  }
}

function sizeMismatch(file: string, width: number, height: number, want: { width: number; height: number }): InputFileError {
  return new InputFileError(`${file} is ${width}×${height} pixels; the model takes ${want.width}×${want.height} (width×height) images: resize it first`);
}

/** The model's image size from a uint8-image codec: [H, W, C], or [H, W] grey, or a flat [N] (a square grey image). */
function imageShapeOf(codec: InputCodec): { height: number; width: number; channels: number } {
  const s = codec.exampleShape;
  if (s.length === 3) return { height: s[0], width: s[1], channels: s[2] };
  if (s.length === 2) return { height: s[0], width: s[1], channels: 1 };
  const side = Math.round(Math.sqrt(s[0] ?? 0));
  if (s.length === 1 && side * side === s[0]) return { height: side, width: side, channels: 1 };
  throw new InputFileError(`the model's input (${shapeText(s)}) is not an image: send its values with --input instead`);
}

/** An image file as a uint8-image model's input bytes (no resizing: the size must be the model's). */
export function readImageFile(path: string, codec: InputCodec): EncodedInputFile {
  const file = basename(path);
  if (codec.spec.name !== "uint8-image") {
    throw new InputFileError(`the model takes ${codec.spec.name} input, not an image: send its values with --input instead`);
  }
  const want = imageShapeOf(codec);
  if (want.channels !== 1 && want.channels !== 3) throw new InputFileError(`the model's images have ${want.channels} channels; image files give 1 (grey) or 3 (RGB)`);
  const img = decodeImageFile(path, want);
  if (img.width !== want.width || img.height !== want.height) throw sizeMismatch(file, img.width, img.height, want);
  const pixels = img.width * img.height;
  const out = new Uint8Array(pixels * want.channels);
  for (let p = 0; p < pixels; p++) {
    const r = img.data[4 * p];
    const g = img.data[4 * p + 1];
    const b = img.data[4 * p + 2];
    if (want.channels === 1) out[p] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
    else out.set([r, g, b], 3 * p);
  }
  return {
    bytes: codec.encode(out),
    description: `${file}: ${img.format} ${img.width}×${img.height}, ${want.channels === 1 ? "grey (luma)" : "RGB"}`,
  };
}

/** A text as a text model's input: its tokenizer's ids (see worker/src/ml/Tokenizer.ts), padded by the int32-tokens codec. */
export function encodeText(text: string, codec: InputCodec, tokenizer: WordTokenizer | undefined): EncodedInputFile {
  if (codec.spec.name !== "int32-tokens") throw new InputFileError(`the model takes ${codec.spec.name} input, not text`);
  if (tokenizer === undefined) throw new InputFileError("the model's manifest names no tokenizer: send its token ids with --input instead");
  try {
    const ids = tokenizer.encode(text, codec.exampleShape[0]);
    const unknown = ids.filter((id) => id === tokenizer.spec.unknownId).length;
    return { bytes: codec.encode(ids), description: `text: ${ids.length} tokens${unknown > 0 ? ` (${unknown} unknown)` : ""}` };
  } catch (err) {
    if (err instanceof InferenceEncodingError) throw new InputFileError(`--text: ${err.message}`);
    throw err;
  }
}
