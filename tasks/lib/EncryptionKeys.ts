import { encryptionPublicKeyOf } from "../../worker/src/data/KeyEnvelopes.js";
import { taskError } from "./TaskError.js";

export const ENCRYPTION_KEY_ENV = "TESSERA_ENCRYPTION_KEY";

export interface EnvEncryptionKey {
  privateKey: string;
  /** Compressed, 33 bytes, 0x-hex. */
  publicKey: string;
}

const FRESH_KEY_HINT = "a fresh one: node -e \"console.log('0x'+require('crypto').randomBytes(32).toString('hex'))\"";

/**
 * The secp256k1 encryption key in TESSERA_ENCRYPTION_KEY (environment only: it is a secret, and a
 * command line ends up in shell histories), or undefined when unset. A set but malformed value is
 * an error: silently ignoring it would lose the contributor's own envelope.
 */
export function encryptionKeyFromEnv(): EnvEncryptionKey | undefined {
  const key = process.env[ENCRYPTION_KEY_ENV]?.trim();
  if (key === undefined || key === "") return undefined;
  if (!/^(0x)?[0-9a-fA-F]{64}$/.test(key)) throw taskError(`${ENCRYPTION_KEY_ENV} must be a 32-byte hex secp256k1 private key`);
  const privateKey = key.startsWith("0x") ? key : `0x${key}`;
  try {
    return { privateKey, publicKey: encryptionPublicKeyOf(privateKey) };
  } catch (err) {
    throw taskError(`${ENCRYPTION_KEY_ENV} is not a valid secp256k1 private key`, err);
  }
}

/** As `encryptionKeyFromEnv`, but required: `why` says what needs it. */
export function requireEncryptionKeyFromEnv(why: string): EnvEncryptionKey {
  const key = encryptionKeyFromEnv();
  if (key === undefined) throw taskError(`${why} needs ${ENCRYPTION_KEY_ENV} (32-byte hex, separate from the signing key); ${FRESH_KEY_HINT}`);
  return key;
}
