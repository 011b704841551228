import { PrivateKey, PublicKey, decrypt, encrypt } from "eciesjs";
import { getAddress, getBytes, hexlify, isAddress, isHexString } from "ethers";
import { z } from "zod";
import { DATASET_KEY_BYTES } from "./DatasetCipher.js";
import { KeyEnvelopeError, NotAuthorizedError } from "./DatasetError.js";

/**
 * Shares a dataset's AES key with the workers allowed to read it, and no one else: one ECIES
 * (secp256k1, eciesjs) ciphertext per worker, under the encryption public key it registered in
 * WorkerRegistry. The document is public (stored on IPFS, its CID on chain); only the listed
 * workers can open their entry.
 *
 * Each sealed payload is `key (32 bytes) || datasetCommitment (32 bytes) || contributor (20 bytes)`:
 * an entry copied into the document of another dataset does not open there, and the document
 * names, under every seal, the account that made it. Someone who copies a pending contribution
 * (CID, commitment, envelopes) and gets it mined under its own address cannot re-seal the key
 * (it cannot open any envelope), so validators see a contribution whose key was sealed by
 * someone else and reject it (REASON_COMMITMENT_MISMATCH): the copier loses its bond.
 */
export const KEY_ENVELOPES_VERSION = 2;
const ADDRESS_BYTES = 20;
const PAYLOAD_BYTES = DATASET_KEY_BYTES + 32 + ADDRESS_BYTES;

export interface KeyRecipient {
  /** The worker's account (the WorkerRegistry key). */
  address: string;
  /** Its registered 33-byte compressed secp256k1 encryption key, hex. */
  publicKey: string;
}

export interface KeyEnvelope {
  recipient: string;
  publicKey: string;
  ciphertext: string;
}

export interface KeyEnvelopeDocument {
  version: typeof KEY_ENVELOPES_VERSION;
  datasetCommitment: string;
  /** The contributor that sealed the key (checksummed); bound into every envelope. */
  contributor: string;
  envelopes: KeyEnvelope[];
}

/** A worker's encryption keypair, separate from its signing key; hex, 0x-prefixed. */
export interface EncryptionKeyPair {
  privateKey: string;
  /** Compressed (33 bytes), the form WorkerRegistry accepts. */
  publicKey: string;
}

const hex = (bytes: number) =>
  z.string().refine((value) => isHexString(value, bytes), `expected 0x-prefixed hex of ${bytes} bytes`);

const documentSchema = z.object({
  version: z.literal(KEY_ENVELOPES_VERSION),
  datasetCommitment: hex(32),
  contributor: z.string().refine((value) => isAddress(value), "expected an address"),
  envelopes: z.array(
    z.object({
      recipient: z.string().refine((value) => isAddress(value), "expected an address"),
      publicKey: hex(33),
      ciphertext: z.string().refine((value) => isHexString(value) && value.length > 2, "expected 0x-prefixed hex"),
    }),
  ),
});

/** A fresh random encryption keypair for a worker to register (never derived from its signing key). */
export function generateEncryptionKey(): EncryptionKeyPair {
  const key = new PrivateKey();
  return { privateKey: hexlify(key.secret), publicKey: hexlify(key.publicKey.toBytes(true)) };
}

/** The compressed public key (0x-hex, 33 bytes) of an encryption private key. */
export function encryptionPublicKeyOf(privateKey: string | Uint8Array): string {
  return hexlify(toPrivateKey(privateKey).publicKey.toBytes(true));
}

/** Seals `datasetKey` for every recipient, bound to the dataset and its contributor; the result is what goes to IPFS. */
export function sealKeyEnvelopes(
  datasetKey: Uint8Array,
  datasetCommitment: string,
  recipients: readonly KeyRecipient[],
  contributor: string,
): KeyEnvelopeDocument {
  if (datasetKey.length !== DATASET_KEY_BYTES)
    throw new KeyEnvelopeError(`a dataset key is ${DATASET_KEY_BYTES} bytes, got ${datasetKey.length}`);
  if (!isHexString(datasetCommitment, 32))
    throw new KeyEnvelopeError(`dataset commitment ${datasetCommitment} is not bytes32 hex`);
  if (recipients.length === 0)
    throw new KeyEnvelopeError("at least one recipient is needed, or no one can validate the dataset");
  if (!isAddress(contributor)) throw new KeyEnvelopeError(`contributor ${contributor} is not an address`);
  const payload = new Uint8Array(PAYLOAD_BYTES);
  payload.set(datasetKey, 0);
  payload.set(getBytes(datasetCommitment), DATASET_KEY_BYTES);
  payload.set(getBytes(getAddress(contributor)), DATASET_KEY_BYTES + 32);
  const seen = new Set<string>();
  const envelopes = recipients.map(({ address, publicKey }) => {
    const normalizedKey = normalizePublicKey(publicKey);
    if (seen.has(normalizedKey)) throw new KeyEnvelopeError(`public key ${normalizedKey} is listed twice`);
    seen.add(normalizedKey);
    if (!isAddress(address)) throw new KeyEnvelopeError(`recipient ${address} is not an address`);
    return {
      recipient: getAddress(address),
      publicKey: normalizedKey,
      ciphertext: hexlify(encrypt(getBytes(normalizedKey), payload)),
    };
  });
  payload.fill(0);
  return {
    version: KEY_ENVELOPES_VERSION,
    datasetCommitment: datasetCommitment.toLowerCase(),
    contributor: getAddress(contributor),
    envelopes,
  };
}

/** Validates a document read from IPFS; throws KeyEnvelopeError naming the first problem. */
export function parseKeyEnvelopeDocument(value: unknown): KeyEnvelopeDocument {
  const parsed = documentSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new KeyEnvelopeError(`not a key-envelope document: ${issue.path.join(".") || "(root)"}: ${issue.message}`);
  }
  return parsed.data as KeyEnvelopeDocument;
}

/**
 * Opens this worker's entry with its encryption private key and returns the dataset key. Throws
 * NotAuthorizedError if the document has no entry for the key's public key, KeyEnvelopeError if
 * the entry does not decrypt, or was sealed for another dataset or by another contributor than
 * the document names (compare `document.contributor` with the on-chain contributor).
 */
export function openEnvelope(document: KeyEnvelopeDocument, myPrivateKey: string | Uint8Array): Uint8Array {
  const doc = parseKeyEnvelopeDocument(document);
  const key = toPrivateKey(myPrivateKey);
  const myPublicKey = hexlify(key.publicKey.toBytes(true));
  const entry = doc.envelopes.find((e) => e.publicKey.toLowerCase() === myPublicKey);
  if (entry === undefined) throw new NotAuthorizedError(myPublicKey);
  let payload: Uint8Array;
  try {
    payload = decrypt(key.secret, getBytes(entry.ciphertext));
  } catch (error) {
    throw new KeyEnvelopeError(`the envelope for ${entry.recipient} does not decrypt with this key`, { cause: error });
  }
  if (payload.length !== PAYLOAD_BYTES) {
    throw new KeyEnvelopeError(`the envelope for ${entry.recipient} holds ${payload.length} bytes, expected ${PAYLOAD_BYTES}`);
  }
  if (hexlify(payload.subarray(DATASET_KEY_BYTES, DATASET_KEY_BYTES + 32)) !== doc.datasetCommitment.toLowerCase()) {
    throw new KeyEnvelopeError(`the envelope for ${entry.recipient} was sealed for another dataset`);
  }
  if (getAddress(hexlify(payload.subarray(DATASET_KEY_BYTES + 32))) !== getAddress(doc.contributor)) {
    throw new KeyEnvelopeError(`the envelope for ${entry.recipient} was sealed by another contributor than ${doc.contributor}`);
  }
  return Uint8Array.from(payload.subarray(0, DATASET_KEY_BYTES));
}

/** A compressed secp256k1 public key as 0x + 66 lowercase hex digits; KeyEnvelopeError if it is not a point on the curve. */
export function normalizePublicKey(publicKey: string): string {
  const withPrefix = publicKey.startsWith("0x") ? publicKey : `0x${publicKey}`;
  if (!isHexString(withPrefix, 33))
    throw new KeyEnvelopeError(`public key ${publicKey} is not 33-byte compressed secp256k1 hex`);
  try {
    return hexlify(PublicKey.fromHex(withPrefix.slice(2)).toBytes(true));
  } catch (error) {
    throw new KeyEnvelopeError(`public key ${publicKey} is not a point on secp256k1`, { cause: error });
  }
}

function toPrivateKey(privateKey: string | Uint8Array): PrivateKey {
  try {
    return typeof privateKey === "string"
      ? PrivateKey.fromHex(privateKey.replace(/^0x/, ""))
      : new PrivateKey(privateKey);
  } catch (error) {
    throw new KeyEnvelopeError("not a secp256k1 private key", { cause: error });
  }
}
