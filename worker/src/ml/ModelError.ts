/** Base error of model publishing and loading. */
export class ModelError extends Error {
  override readonly name: string = "ModelError";

  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
  }
}

/** A manifest is not a valid tfjs-layers manifest of this project. */
export class ModelManifestError extends ModelError {
  override readonly name = "ModelManifestError";
}

/** Weights do not hash to the content hash the manifest (or the chain) commits to. */
export class ModelIntegrityError extends ModelError {
  override readonly name = "ModelIntegrityError";
}

/** Bytes given to the inference codec do not fit the model's input or output format. */
export class InferenceEncodingError extends ModelError {
  override readonly name = "InferenceEncodingError";
}

/** A folder does not hold a tfjs model as tfjs writes it (model.json and its weight files), or its codec choice is invalid. */
export class ModelFolderError extends ModelError {
  override readonly name = "ModelFolderError";
}
