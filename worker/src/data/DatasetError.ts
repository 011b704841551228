/** Base error of the dataset privacy and validation library; `code` is a stable machine-readable tag. */
export class DatasetError extends Error {
  override readonly name: string = "DatasetError";
  readonly code: string;

  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code ?? "DATASET_ERROR";
  }
}

/**
 * A contributor's file or a canonical dataset does not fit the schema. `location` names where
 * (`line 5`, `sample 3`, `header`) so that the contributor can fix the file.
 */
export class DatasetFormatError extends DatasetError {
  override readonly name = "DatasetFormatError";
  readonly location: string | undefined;

  constructor(message: string, options: { location?: string; cause?: unknown } = {}) {
    super(options.location === undefined ? message : `${options.location}: ${message}`, {
      code: "DATASET_FORMAT",
      cause: options.cause,
    });
    this.location = options.location;
  }
}

/** Encrypted dataset bytes are not a valid envelope or fail AES-GCM authentication (tampered, truncated, wrong key). */
export class DatasetIntegrityError extends DatasetError {
  override readonly name = "DatasetIntegrityError";

  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { code: "DATASET_INTEGRITY", cause: options.cause });
  }
}

/** The key-envelope document has no entry for this worker's encryption key: the contributor did not share the dataset with it. */
export class NotAuthorizedError extends DatasetError {
  override readonly name = "NotAuthorizedError";
  readonly publicKey: string;

  constructor(publicKey: string) {
    super(`encryption key ${publicKey} is not among the recipients of this dataset's key`, { code: "NOT_AUTHORIZED" });
    this.publicKey = publicKey;
  }
}

/** A key-envelope document is malformed, or this worker's entry in it does not decrypt. */
export class KeyEnvelopeError extends DatasetError {
  override readonly name = "KeyEnvelopeError";

  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { code: "KEY_ENVELOPE", cause: options.cause });
  }
}
