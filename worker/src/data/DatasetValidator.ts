import { getAddress } from "ethers";
import { getJson, type ContentStore } from "../ipfs/ContentStore.js";
import { decryptDataset } from "./DatasetCipher.js";
import { DatasetFormatError, DatasetIntegrityError, KeyEnvelopeError } from "./DatasetError.js";
import {
  MNIST_PIXELS,
  commitmentOf,
  decodeDataset,
  sampleHashes,
  toDigitSet,
  type LabelledImages,
} from "./DatasetFormat.js";
import { openEnvelope, parseKeyEnvelopeDocument } from "./KeyEnvelopes.js";
import type { ReferenceClassifier } from "./ReferenceClassifier.js";

/** Why a dataset was accepted or rejected; the number is what a validator reports on chain. */
export enum ValidationReason {
  Ok = 0,
  /** Bad header, length, shape or a label outside 0..9. */
  Schema = 1,
  /** The decoded sample count differs from the claimed one. */
  SampleCount = 2,
  /** Too many samples repeat already-accepted ones (or each other). */
  Duplicates = 3,
  /** The reference classifier agrees with too few labels. */
  LabelNoise = 4,
  /** The ciphertext (or this validator's key envelope) fails to decrypt or authenticate. */
  Integrity = 5,
  /** The decrypted bytes do not hash to the on-chain commitment. */
  CommitmentMismatch = 6,
}

export interface ValidationVerdict {
  accept: boolean;
  reasonCode: ValidationReason;
  details: string;
  /** Per-sample hashes of an accepted dataset, to add to the accepted set. */
  sampleHashes?: string[];
  duplicateFraction?: number;
  labelAgreement?: number;
}

/** What the contributor put on chain about the dataset. */
export interface DatasetClaim {
  commitment: string;
  sampleCount: number;
  /** The on-chain contributor; `validateStored` rejects key envelopes sealed by anyone else (a copied contribution). */
  contributor?: string;
}

export interface DatasetValidatorOptions {
  reference: ReferenceClassifier;
  /** Reject above this fraction of duplicate samples (default 0.05). */
  maxDuplicateFraction?: number;
  /** Reject below this fraction of labels the reference agrees with (default 0.6). */
  minLabelAgreement?: number;
  /** At most this many samples, evenly spread, go through the reference classifier (default 2,000). */
  labelCheckSamples?: number;
}

export interface ValidateEncryptedInput {
  encrypted: Uint8Array;
  key: Uint8Array;
  claim: DatasetClaim;
  /** Hashes (`sampleHashes`) of every sample of the datasets accepted so far. */
  acceptedSampleHashes: ReadonlySet<string>;
}

export interface ValidateStoredInput {
  store: ContentStore;
  datasetCid: string;
  envelopesCid: string;
  /** This validator's encryption private key (the one whose public key it registered). */
  encryptionPrivateKey: string | Uint8Array;
  claim: DatasetClaim;
  acceptedSampleHashes: ReadonlySet<string>;
}

/**
 * Checks a contributed dataset on its decrypted content, in order: integrity (5), commitment (6),
 * schema (1), sample count (2), duplicates (3), label noise (4). The first failing check decides.
 * A validator keeps one instance: the reference classifier is loaded once and reused.
 */
export class DatasetValidator {
  readonly #reference: ReferenceClassifier;
  readonly #maxDuplicateFraction: number;
  readonly #minLabelAgreement: number;
  readonly #labelCheckSamples: number;

  constructor(options: DatasetValidatorOptions) {
    this.#reference = options.reference;
    this.#maxDuplicateFraction = options.maxDuplicateFraction ?? 0.05;
    this.#minLabelAgreement = options.minLabelAgreement ?? 0.6;
    this.#labelCheckSamples = options.labelCheckSamples ?? 2_000;
  }

  /**
   * Fetches the ciphertext and this validator's key envelope from `store` and validates. Throws
   * (rather than rejecting the dataset) when the fault is not the contributor's: content not
   * found, or NotAuthorizedError when the dataset was not shared with this validator.
   */
  async validateStored(input: ValidateStoredInput): Promise<ValidationVerdict> {
    const document = parseKeyEnvelopeDocument(await getJson(input.store, input.envelopesCid));
    let key: Uint8Array;
    try {
      key = openEnvelope(document, input.encryptionPrivateKey);
    } catch (error) {
      if (error instanceof KeyEnvelopeError)
        return reject(ValidationReason.Integrity, `key envelope: ${error.message}`);
      throw error;
    }
    const contributor = input.claim.contributor;
    if (contributor !== undefined && getAddress(document.contributor) !== getAddress(contributor)) {
      key.fill(0);
      return reject(
        ValidationReason.CommitmentMismatch,
        `the key was sealed by ${document.contributor}, the dataset was contributed by ${contributor}: a copied contribution`,
      );
    }
    const encrypted = await input.store.get(input.datasetCid);
    return this.validate({ encrypted, key, claim: input.claim, acceptedSampleHashes: input.acceptedSampleHashes });
  }

  async validate(input: ValidateEncryptedInput): Promise<ValidationVerdict> {
    let plaintext: Uint8Array;
    try {
      plaintext = await decryptDataset(input.encrypted, input.key);
    } catch (error) {
      if (error instanceof DatasetIntegrityError) return reject(ValidationReason.Integrity, error.message);
      throw error;
    }

    const commitment = commitmentOf(plaintext);
    if (commitment !== input.claim.commitment.toLowerCase()) {
      return reject(
        ValidationReason.CommitmentMismatch,
        `the data hashes to ${commitment}, the claim commits to ${input.claim.commitment}`,
      );
    }

    let dataset: LabelledImages;
    try {
      dataset = decodeDataset(plaintext);
    } catch (error) {
      if (error instanceof DatasetFormatError) return reject(ValidationReason.Schema, error.message);
      throw error;
    }
    if (dataset.count === 0) return reject(ValidationReason.Schema, "the dataset has no samples");

    if (dataset.count !== input.claim.sampleCount) {
      return reject(
        ValidationReason.SampleCount,
        `${dataset.count} samples, but ${input.claim.sampleCount} were claimed`,
      );
    }

    const hashes = sampleHashes(dataset);
    const seen = new Set<string>();
    let duplicates = 0;
    for (const hash of hashes) {
      if (input.acceptedSampleHashes.has(hash) || seen.has(hash)) duplicates++;
      seen.add(hash);
    }
    const duplicateFraction = duplicates / dataset.count;
    if (duplicateFraction > this.#maxDuplicateFraction) {
      return {
        ...reject(
          ValidationReason.Duplicates,
          `${duplicates} of ${dataset.count} samples (${percent(
            duplicateFraction,
          )}) duplicate accepted data or each other; at most ${percent(this.#maxDuplicateFraction)} allowed`,
        ),
        duplicateFraction,
      };
    }

    const labelAgreement = await this.#labelAgreement(dataset);
    if (labelAgreement < this.#minLabelAgreement) {
      return {
        ...reject(
          ValidationReason.LabelNoise,
          `the reference classifier agrees with ${percent(labelAgreement)} of labels; at least ${percent(
            this.#minLabelAgreement,
          )} needed`,
        ),
        duplicateFraction,
        labelAgreement,
      };
    }

    return {
      accept: true,
      reasonCode: ValidationReason.Ok,
      details: `${dataset.count} samples, ${percent(duplicateFraction)} duplicates, ${percent(
        labelAgreement,
      )} label agreement`,
      sampleHashes: hashes,
      duplicateFraction,
      labelAgreement,
    };
  }

  async #labelAgreement(dataset: LabelledImages): Promise<number> {
    const checked = Math.min(dataset.count, this.#labelCheckSamples);
    const stride = dataset.count / checked;
    const pixels = new Uint8Array(checked * MNIST_PIXELS);
    const labels = new Uint8Array(checked);
    for (let i = 0; i < checked; i++) {
      const source = Math.floor(i * stride);
      pixels.set(dataset.pixels.subarray(source * MNIST_PIXELS, (source + 1) * MNIST_PIXELS), i * MNIST_PIXELS);
      labels[i] = dataset.labels[source];
    }
    const predictions = await this.#reference.predict(toDigitSet({ count: checked, pixels, labels }));
    let agreed = 0;
    for (let i = 0; i < checked; i++) if (predictions[i] === labels[i]) agreed++;
    return agreed / checked;
  }
}

function reject(reasonCode: ValidationReason, details: string): ValidationVerdict {
  return { accept: false, reasonCode, details };
}

function percent(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
}
