/**
 * Base error of the content-addressed storage layer. Callers branch on `retryable`: a node that
 * cannot be reached may answer later, content that fails verification never will.
 */
export class ContentStoreError extends Error {
  override readonly name: string = "ContentStoreError";
  readonly retryable: boolean;

  constructor(message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, { cause: options.cause });
    this.retryable = options.retryable ?? false;
  }
}

/** The bytes read for a CID do not hash to that CID: the local copy is corrupted or was tampered with. */
export class ContentIntegrityError extends ContentStoreError {
  override readonly name = "ContentIntegrityError";
  readonly cid: string;
  readonly detail: string;

  constructor(cid: string, detail: string) {
    super(`content ${cid} failed verification: ${detail}`);
    this.cid = cid;
    this.detail = detail;
  }
}

/** The store does not hold the CID (and, for the embedded store, cannot fetch it from anywhere). */
export class ContentNotFoundError extends ContentStoreError {
  override readonly name = "ContentNotFoundError";
  readonly cid: string;

  constructor(cid: string, options: { cause?: unknown } = {}) {
    super(`content ${cid} is not in the store`, options);
    this.cid = cid;
  }
}

/** The IPFS node (Kubo RPC API) could not be reached or answered with an error. */
export class ContentStoreUnavailableError extends ContentStoreError {
  override readonly name = "ContentStoreUnavailableError";

  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, retryable: true });
  }
}
