/**
 * Dataset files on disk as samples of a schema (Node only: the parsers themselves take bytes, see
 * worker/src/data/parsers/). A file is parsed by its format (SamplesFile.ts); a directory is an image folder:
 * `<class>/<image>`, one level deep, files and folders whose names start with "." ignored. Every error names the
 * path it is about.
 */
import { readdirSync, readFileSync, statSync, type Stats } from "node:fs";
import { join } from "node:path";
import { DatasetFormatError } from "../../worker/src/data/DatasetError.js";
import { parseImageFolder, type ImageEntry } from "../../worker/src/data/parsers/ImageFolderSamples.js";
import type { SchemaLike } from "../../worker/src/data/parsers/ParserSupport.js";
import { parseSamplesFile, type SamplesFileOptions } from "../../worker/src/data/parsers/SamplesFile.js";
import type { Samples } from "../../worker/src/data/schema/DatasetEncoding.js";

export function readSamplesFile(schema: SchemaLike, path: string, labelsPath?: string, options: SamplesFileOptions = {}): Samples {
  const stats = statPath(path);
  if (stats.isDirectory()) {
    if (labelsPath !== undefined) throw new DatasetFormatError(`${path} is an image folder, whose labels are its class folders: give no labels file`);
    return naming(path, () => parseImageFolder(schema, readImageFolder(path)), true);
  }
  // Named by their paths: NPY and IDX errors say which of the two files they are about ("file data/y.npy: ...").
  const file = { name: path, bytes: readBytes(path), labels: labelsPath === undefined ? undefined : { name: labelsPath, bytes: readBytes(labelsPath) } };
  return naming(path, () => parseSamplesFile(schema, file, options), false);
}

/** The images of a folder of class folders, paths relative to it (`circle/a.png`). */
export function readImageFolder(path: string): ImageEntry[] {
  const entries: ImageEntry[] = [];
  for (const name of list(path)) {
    const classPath = join(path, name);
    if (!statPath(classPath).isDirectory()) throw new DatasetFormatError(`${classPath} is not a class folder: an image folder holds only <class>/<image> files`);
    for (const image of list(classPath)) {
      const imagePath = join(classPath, image);
      if (!statPath(imagePath).isFile()) throw new DatasetFormatError(`${imagePath} is not a file: class folders hold only images, one level deep`);
      entries.push({ path: `${name}/${image}`, bytes: readBytes(imagePath) });
    }
  }
  return entries;
}

function list(path: string): string[] {
  try {
    return readdirSync(path)
      .filter((n) => !n.startsWith("."))
      .sort();
  } catch (err) {
    throw readError(path, err);
  }
}

function statPath(path: string): Stats {
  try {
    return statSync(path);
  } catch (err) {
    throw readError(path, err);
  }
}

function readBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    throw readError(path, err);
  }
}

function readError(path: string, err: unknown): DatasetFormatError {
  const code = (err as NodeJS.ErrnoException).code;
  return new DatasetFormatError(code === "ENOENT" ? `${path} does not exist` : `cannot read ${path}: ${(err as Error).message}`, { cause: err });
}

/**
 * Runs a parser, putting the path before the location of any format error it throws ("data/iris.csv, line 5: ..."),
 * unless the location names a file by its path already (`file <path>`; image folders' files are relative).
 */
function naming<T>(path: string, parse: () => T, relativeFiles: boolean): T {
  try {
    return parse();
  } catch (err) {
    if (!(err instanceof DatasetFormatError)) throw err;
    if ((!relativeFiles && err.location?.startsWith("file ")) || (err.location === undefined && err.message.includes(path))) throw err;
    const message = err.location === undefined ? err.message : err.message.slice(err.location.length + 2);
    throw new DatasetFormatError(message, { location: err.location === undefined ? path : `${path}, ${err.location}`, cause: err });
  }
}
