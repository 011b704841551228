import { DatasetFormatError } from "../DatasetError.js";
import type { Samples } from "../schema/DatasetEncoding.js";
import { decodeImage, ImageDecodingError, ImageSizeError, type DecodedImage } from "./ImageDecoding.js";
import { requireFormat, type SchemaLike } from "./ParserSupport.js";
import { SampleBuilder } from "./SampleBuilder.js";

/** One file of an image folder: its path inside the folder, `<class name>/<image>.png|.jpg|.jpeg`. */
export interface ImageEntry {
  readonly path: string;
  readonly bytes: Uint8Array;
}

const IMAGE_EXTENSION = /\.(png|jpe?g)$/i;

/**
 * An image folder of samples of `schema` (uint8 features of shape [height, width, channels], class labels): one
 * folder per class, named as the class, holding PNG or JPEG images of exactly the schema's size (never resized).
 * Grey images give 1 channel (and 3 or 4, as R = G = B), colour ones 3; an image with alpha gives 3 (or 1) only
 * if it is fully opaque; a colour image gives 1 channel only if R = G = B everywhere. Entries are read in path
 * order (code-unit order), so the same folder always gives the same samples and the same commitment. Files and
 * folders whose names start with "." are skipped. Errors name the file ("file circle/a.png").
 */
export function parseImageFolder(schema: SchemaLike, entries: readonly ImageEntry[]): Samples {
  const { document } = schema;
  requireFormat(document, "image-folder");
  const { label } = document;
  const [height, width, channels] = document.features.shape;
  if (label.kind !== "class" || document.features.dtype !== "uint8" || document.features.shape.length !== 3) {
    throw new DatasetFormatError(`the schema ${document.name} does not describe labelled images`);
  }
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    throw new DatasetFormatError(`the schema's images have ${channels} channels, and image files give 1 (grey), 3 (RGB) or 4 (RGBA)`);
  }
  const images = entries
    .map((e) => ({ path: e.path.replace(/\\/g, "/").replace(/^(\.\/)+/, ""), bytes: e.bytes }))
    .filter((e) => !e.path.split("/").some((part) => part.startsWith(".")))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const unknown = new Set<string>();
  for (let i = 0; i < images.length; i++) {
    const { path } = images[i];
    const parts = path.split("/");
    if (parts.length !== 2 || parts[0] === "" || parts[1] === "") {
      throw new DatasetFormatError("expected <class name>/<image>: each image in the folder of its class", { location: `file ${path}` });
    }
    if (!IMAGE_EXTENSION.test(path)) throw new DatasetFormatError("is not a .png, .jpg or .jpeg image", { location: `file ${path}` });
    if (i > 0 && images[i - 1].path === path) throw new DatasetFormatError("the folder lists this file twice", { location: `file ${path}` });
    if (!label.classes.includes(parts[0])) unknown.add(parts[0]);
  }
  if (unknown.size > 0) {
    const names = [...unknown].map((n) => JSON.stringify(n));
    const classes = label.classes.map((c) => JSON.stringify(c)).join(", ");
    throw new DatasetFormatError(`${names.length === 1 ? "folder" : "folders"} ${names.join(", ")} ${names.length === 1 ? "is not a class" : "are not classes"} of ${document.name} (${classes})`);
  }
  if (images.length === 0) throw new DatasetFormatError("the image folder has no images");
  const builder = new SampleBuilder(document, { capacity: images.length, pixelScale: "byte", integerSource: true });
  for (const { path, bytes } of images) {
    const location = `file ${path}`;
    let image: DecodedImage;
    try {
      image = decodeImage(bytes, { width, height });
    } catch (error) {
      if (error instanceof ImageSizeError) {
        throw new DatasetFormatError(`the image is ${error.width}×${error.height} pixels, and the schema's images are ${width}×${height} (width×height): resize it first`, {
          location,
          cause: error,
        });
      }
      if (error instanceof ImageDecodingError) throw new DatasetFormatError(`the file ${error.message}`, { location, cause: error });
      throw error;
    }
    const pixels = toChannels(image, channels, location);
    builder.push(location, label.classes.indexOf(path.slice(0, path.indexOf("/"))), (j) => pixels[j]);
  }
  return builder.finish();
}

/** RGBA as the schema's channels, refusing to drop transparency or colour. */
function toChannels(image: DecodedImage, channels: number, location: string): Uint8Array {
  const { data, width } = image;
  const pixels = image.width * image.height;
  if (channels === 4) return data.subarray(0, pixels * 4);
  const at = (p: number) => `(${p % width}, ${Math.floor(p / width)})`;
  const out = new Uint8Array(pixels * channels);
  for (let p = 0; p < pixels; p++) {
    const [r, g, b, a] = [data[4 * p], data[4 * p + 1], data[4 * p + 2], data[4 * p + 3]];
    if (a !== 255) {
      throw new DatasetFormatError(
        `the image has transparent pixels (pixel ${at(p)} has alpha ${a}), and the schema's images have no alpha channel: flatten it onto a background first`,
        { location },
      );
    }
    if (channels === 3) {
      out[3 * p] = r;
      out[3 * p + 1] = g;
      out[3 * p + 2] = b;
    } else if (r === g && g === b) out[p] = r;
    else {
      throw new DatasetFormatError(`the image has colour (pixel ${at(p)} is rgb(${r}, ${g}, ${b})), and the schema's images are grey (1 channel): convert it to grey first`, {
        location,
      });
    }
  }
  return out;
}
