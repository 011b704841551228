import { DatasetIntegrityError } from "./DatasetError.js";

/**
 * AES-256-GCM encryption of a canonical dataset with a fresh random key and nonce per dataset,
 * through WebCrypto (`globalThis.crypto.subtle`: OpenSSL with AES-NI in Node, the browser's own in
 * the dApp). The output is a versioned envelope:
 *
 *   "TSDE" (4) | version uint8 (1) | nonce (12) | ciphertext (= plaintext length) | GCM tag (16)
 *
 * The first five bytes are authenticated as additional data, so a changed version is detected too.
 * A key is used for exactly one dataset, so a random 96-bit nonce never repeats under it.
 */
export const DATASET_CIPHER_MAGIC = new Uint8Array([0x54, 0x53, 0x44, 0x45]);
export const DATASET_CIPHER_VERSION = 1;
export const DATASET_KEY_BYTES = 32;
export const DATASET_NONCE_BYTES = 12;
export const DATASET_TAG_BYTES = 16;
const PREFIX_BYTES = DATASET_CIPHER_MAGIC.length + 1;
const HEADER_BYTES = PREFIX_BYTES + DATASET_NONCE_BYTES;

export interface EncryptedDataset {
  /** The envelope bytes, safe to publish. */
  envelope: Uint8Array;
  /** The AES-256 key: shared only through key envelopes, never stored in the clear. */
  key: Uint8Array;
}

/** A fresh random AES-256 key. */
export function generateDatasetKey(): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(DATASET_KEY_BYTES));
}

/** Size of the envelope of a `plaintextBytes`-long dataset. */
export function envelopeByteLength(plaintextBytes: number): number {
  return HEADER_BYTES + plaintextBytes + DATASET_TAG_BYTES;
}

/**
 * Encrypts `plaintext` under a fresh random key and nonce. There is no way to pass a key in: one
 * key per dataset is what makes a random nonce safe and what lets a key be shared per dataset.
 */
export async function encryptDataset(plaintext: Uint8Array): Promise<EncryptedDataset> {
  const key = generateDatasetKey();
  const nonce = globalThis.crypto.getRandomValues(new Uint8Array(DATASET_NONCE_BYTES));
  const header = new Uint8Array(HEADER_BYTES);
  header.set(DATASET_CIPHER_MAGIC, 0);
  header[DATASET_CIPHER_MAGIC.length] = DATASET_CIPHER_VERSION;
  header.set(nonce, PREFIX_BYTES);
  const sealed = await globalThis.crypto.subtle.encrypt(
    { name: "AES-GCM", iv: nonce, additionalData: header.subarray(0, PREFIX_BYTES), tagLength: DATASET_TAG_BYTES * 8 },
    await importKey(key, "encrypt"),
    unshared(plaintext),
  );
  const envelope = new Uint8Array(HEADER_BYTES + sealed.byteLength);
  envelope.set(header, 0);
  envelope.set(new Uint8Array(sealed), HEADER_BYTES);
  return { envelope, key };
}

/** Decrypts an envelope; throws DatasetIntegrityError if it is malformed or any bit differs from what was sealed. */
export async function decryptDataset(envelope: Uint8Array, key: Uint8Array): Promise<Uint8Array> {
  if (envelope.length < HEADER_BYTES + DATASET_TAG_BYTES) {
    throw new DatasetIntegrityError(`${envelope.length} bytes is too short for an encrypted dataset`);
  }
  for (let i = 0; i < DATASET_CIPHER_MAGIC.length; i++) {
    if (envelope[i] !== DATASET_CIPHER_MAGIC[i])
      throw new DatasetIntegrityError("bad magic: not an encrypted Tessera dataset");
  }
  const version = envelope[DATASET_CIPHER_MAGIC.length];
  if (version !== DATASET_CIPHER_VERSION) {
    throw new DatasetIntegrityError(
      `envelope version ${version} is not supported (expected ${DATASET_CIPHER_VERSION})`,
    );
  }
  const cryptoKey = await importKey(key, "decrypt");
  try {
    const plaintext = await globalThis.crypto.subtle.decrypt(
      {
        name: "AES-GCM",
        iv: unshared(envelope.subarray(PREFIX_BYTES, HEADER_BYTES)),
        additionalData: unshared(envelope.subarray(0, PREFIX_BYTES)),
        tagLength: DATASET_TAG_BYTES * 8,
      },
      cryptoKey,
      unshared(envelope.subarray(HEADER_BYTES)),
    );
    return new Uint8Array(plaintext);
  } catch (error) {
    throw new DatasetIntegrityError("AES-GCM authentication failed: the ciphertext was altered or the key is wrong", {
      cause: error,
    });
  }
}

async function importKey(key: Uint8Array, usage: "encrypt" | "decrypt") {
  if (key.length !== DATASET_KEY_BYTES) {
    throw new DatasetIntegrityError(`a dataset key is ${DATASET_KEY_BYTES} bytes, got ${key.length}`);
  }
  return globalThis.crypto.subtle.importKey("raw", unshared(key), { name: "AES-GCM" }, false, [usage]);
}

/**
 * The bytes as the DOM's WebCrypto types want them (a view of a plain ArrayBuffer). Nothing here is ever backed by a
 * SharedArrayBuffer, which browsers' WebCrypto refuses; the same code runs in Node and in the dApp.
 */
function unshared(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  if (typeof SharedArrayBuffer !== "undefined" && bytes.buffer instanceof SharedArrayBuffer) throw new TypeError("WebCrypto takes no SharedArrayBuffer-backed bytes");
  return bytes as Uint8Array<ArrayBuffer>;
}
