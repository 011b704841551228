import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { decrypt, encrypt, PrivateKey } from "eciesjs";
import { getBytes, hexlify } from "ethers";
import { DATASET_KEY_BYTES } from "./DatasetCipher.js";

/**
 * The dataset keys a worker was given, kept for as long as it trains on them. A contributor can publish a new
 * key-envelope document without a worker after the worker read its partition; a worker restarted then could not open
 * its data again and would miss a commit it is slashed for. A worker keeps each key it opened, sealed under its own
 * encryption key (ECIES, as the envelopes are), and falls back to it when the current envelopes no longer list it.
 */
export interface DatasetKeyring {
  /** The key kept for `datasetId` with on-chain `commitment`, or undefined. */
  get(datasetId: bigint, commitment: string): Promise<Uint8Array | undefined>;
  /** Keeps `key` for `datasetId` with `commitment`. */
  put(datasetId: bigint, commitment: string, key: Uint8Array): Promise<void>;
}

/**
 * A keyring in a directory (the worker's data directory's `dataset-keys/`): one file per dataset and commitment, the
 * key sealed for the worker's own encryption public key, written atomically with mode 0600. A file that does not open
 * (another worker's key, damaged) is a miss, never an error: the envelopes stay the source of truth.
 */
export class FileDatasetKeyring implements DatasetKeyring {
  readonly #key: PrivateKey;

  constructor(
    readonly dir: string,
    encryptionPrivateKey: string | Uint8Array,
  ) {
    this.#key = typeof encryptionPrivateKey === "string" ? PrivateKey.fromHex(encryptionPrivateKey.replace(/^0x/, "")) : new PrivateKey(encryptionPrivateKey);
  }

  #file(datasetId: bigint, commitment: string): string {
    return join(this.dir, `${datasetId}-${commitment.toLowerCase().replace(/^0x/, "")}.sealed`);
  }

  async get(datasetId: bigint, commitment: string): Promise<Uint8Array | undefined> {
    let sealed: string;
    try {
      sealed = (await readFile(this.#file(datasetId, commitment), "utf8")).trim();
    } catch {
      return undefined;
    }
    try {
      const key = decrypt(this.#key.secret, getBytes(sealed));
      return key.length === DATASET_KEY_BYTES ? Uint8Array.from(key) : undefined;
    } catch {
      return undefined;
    }
  }

  async put(datasetId: bigint, commitment: string, key: Uint8Array): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const file = this.#file(datasetId, commitment);
    const temporary = `${file}.${process.pid}.tmp`;
    await writeFile(temporary, hexlify(encrypt(this.#key.publicKey.toBytes(true), key)), { mode: 0o600 });
    await rename(temporary, file);
  }
}
