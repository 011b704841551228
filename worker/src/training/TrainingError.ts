/** Base error of federated training; `code` is a stable machine-readable tag. */
export class TrainingError extends Error {
  override readonly name: string = "TrainingError";
  readonly code: string;

  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code ?? "TRAINING_ERROR";
  }
}

/**
 * A client update cannot be aggregated: wrong length, non-finite values, an invalid sample count,
 * a duplicate key. The same input fails the same way on every worker, so it is never retried.
 */
export class InvalidUpdateError extends TrainingError {
  override readonly name = "InvalidUpdateError";

  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { code: "TRAINING_INVALID_UPDATE", cause: options.cause });
  }
}

/** Flat weights do not fit the model they are loaded into (length or shapes differ). */
export class WeightsShapeError extends TrainingError {
  override readonly name = "WeightsShapeError";

  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { code: "TRAINING_WEIGHTS_SHAPE", cause: options.cause });
  }
}
