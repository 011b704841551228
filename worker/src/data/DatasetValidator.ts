import { getAddress } from "ethers";
import { getJson, type ContentStore } from "../ipfs/ContentStore.js";
import { ModelCache } from "../ml/ModelCache.js";
import { mnistReference, publishedReference, UNDECIDED, type LabelReference, type ReferenceProvider } from "./checks/LabelReference.js";
import { decryptDataset } from "./DatasetCipher.js";
import { DatasetFormatError, DatasetIntegrityError, KeyEnvelopeError } from "./DatasetError.js";
import { openEnvelope, parseKeyEnvelopeDocument } from "./KeyEnvelopes.js";
import type { ReferenceClassifier } from "./ReferenceClassifier.js";
import { canonicalByteLength, commitmentOf, decodeSamples, readDatasetHeader, sampleHashes, selectSamples, type Samples } from "./schema/DatasetEncoding.js";
import { SchemaError, SchemaUnavailableError, type SchemaDocument } from "./schema/SchemaDocument.js";
import { SchemaResolver, type ResolvedSchema } from "./schema/SchemaResolver.js";

/**
 * Limits of the protocol that no schema can loosen and no operator setting changes, so that every validator applies
 * the same: at most this share of duplicate samples (a schema may ask for less), and at most this many samples and
 * canonical bytes per dataset (checked from the on-chain claim before anything is fetched).
 */
export const MAX_DUPLICATE_FRACTION = 0.05;
export const MAX_DATASET_SAMPLES = 500_000;
export const MAX_DATASET_BYTES = 256 * 1024 * 1024;
/** AES-256-GCM envelope bytes around the plaintext (header, nonce, tag): generous. */
const CIPHER_OVERHEAD_BYTES = 1_024;

/** Why a dataset was accepted or rejected; the number is what a validator reports on chain. */
export enum ValidationReason {
  Ok = 0,
  /** The data does not fit its schema: header, length, a value out of range, a label that is no class, class balance. */
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
  /** The on-chain schema id: the data's header must name the same schema. */
  schemaId?: string;
  /** The on-chain contributor; `validateStored` rejects key envelopes sealed by anyone else (a copied contribution). */
  contributor?: string;
}

export interface DatasetValidatorOptions {
  /** The built-in MNIST reference classifier (`tessera:mnist-2nn`), for schemas that name it. */
  reference?: ReferenceClassifier;
  /** Published reference classifiers (by manifest CID), for schemas that name one (default: loaded from `store`). */
  references?: ReferenceProvider;
  /** Where schemas that are not built in, and published reference classifiers, are fetched from. */
  store?: ContentStore;
  /** Schemas (default: a resolver over `store`, or the built-in schemas only). */
  schemas?: SchemaResolver;
  /** Overrides every schema's duplicate limit and the protocol's cap (benchmarks and tests only: validators that differ split votes). */
  maxDuplicateFraction?: number;
  /** Overrides every schema's reference agreement threshold. */
  minLabelAgreement?: number;
  /** Overrides every schema's number of samples checked against the reference. */
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
 * Checks a contributed dataset on its decrypted content against the schema its header names (which must be the one
 * on chain), in order: integrity (5), commitment (6), schema (1: header, length, every value in range, labels, class
 * balance), sample count (2), duplicates (3), label noise (4, only for schemas that name a reference classifier).
 * The first failing check decides. A validator keeps one instance: references are loaded once and reused.
 */
export class DatasetValidator {
  readonly #o: DatasetValidatorOptions;
  readonly #schemas: SchemaResolver;
  readonly #references: ReferenceProvider | undefined;

  constructor(options: DatasetValidatorOptions) {
    this.#o = options;
    this.#schemas = options.schemas ?? new SchemaResolver(options.store);
    const models = options.store === undefined ? undefined : new ModelCache(options.store, { capacity: 2 });
    this.#references = options.references ?? (models === undefined ? undefined : async (spec) => publishedReference(models, spec));
  }

  /** The sample hashes of canonical plaintext of any schema (for datasets accepted without this validator's vote). */
  async sampleHashesOf(plaintext: Uint8Array): Promise<string[]> {
    const schema = await this.#schemas.byId(readDatasetHeader(plaintext).schemaId);
    return sampleHashes(schema.document, decodeSamples(schema, plaintext));
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
    // The size the chain declares is checked before anything is fetched: a dataset over the protocol's limits is
    // rejected without downloading or decrypting it.
    const tooBig = await this.#oversized(input.claim);
    if (tooBig !== undefined) {
      key.fill(0);
      return reject(ValidationReason.Schema, tooBig);
    }
    const encrypted = await input.store.get(input.datasetCid);
    return this.validate({ encrypted, key, claim: input.claim, acceptedSampleHashes: input.acceptedSampleHashes });
  }

  /** Why the claimed dataset is over the protocol's limits (its declared count, times its schema's record size), if it is. */
  async #oversized(claim: DatasetClaim): Promise<string | undefined> {
    if (claim.sampleCount > MAX_DATASET_SAMPLES) return `${claim.sampleCount} samples declared, over the protocol's limit of ${MAX_DATASET_SAMPLES} per dataset`;
    if (claim.schemaId === undefined) return undefined;
    let schema: ResolvedSchema;
    try {
      schema = await this.#schemas.byId(claim.schemaId);
    } catch (error) {
      if (error instanceof SchemaError && !(error instanceof SchemaUnavailableError)) return undefined; // decided (reason 1) once decoded
      throw error;
    }
    const bytes = canonicalByteLength(schema.document, claim.sampleCount);
    return bytes > MAX_DATASET_BYTES ? `${claim.sampleCount} samples of ${schema.document.name} make ${bytes} bytes, over the protocol's ${MAX_DATASET_BYTES}-byte limit` : undefined;
  }

  async validate(input: ValidateEncryptedInput): Promise<ValidationVerdict> {
    if (input.claim.sampleCount > MAX_DATASET_SAMPLES || input.encrypted.length > MAX_DATASET_BYTES + CIPHER_OVERHEAD_BYTES) {
      return reject(ValidationReason.Schema, `over the protocol's limits (${MAX_DATASET_SAMPLES} samples, ${MAX_DATASET_BYTES} bytes per dataset)`);
    }
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

    let schema: ResolvedSchema;
    let samples: Samples;
    try {
      const header = readDatasetHeader(plaintext);
      if (input.claim.schemaId !== undefined && header.schemaId !== input.claim.schemaId.toLowerCase()) {
        return reject(ValidationReason.Schema, `the data is of schema ${header.schemaId}, the dataset declares ${input.claim.schemaId}`);
      }
      schema = await this.#schemas.byId(header.schemaId);
      samples = decodeSamples(schema, plaintext);
    } catch (error) {
      if (error instanceof DatasetFormatError) return reject(ValidationReason.Schema, error.message);
      // A schema this validator cannot read now is nobody's fault: abstain (the job retries). One that is not a schema is the contributor's.
      if (error instanceof SchemaError && !(error instanceof SchemaUnavailableError)) return reject(ValidationReason.Schema, error.message);
      throw error;
    }
    const { document } = schema;
    if (samples.count === 0) return reject(ValidationReason.Schema, "the dataset has no samples");

    if (samples.count !== input.claim.sampleCount) {
      return reject(ValidationReason.SampleCount, `${samples.count} samples, but ${input.claim.sampleCount} were claimed`);
    }

    const balance = classBalance(document, samples);
    if (balance !== undefined && balance.fraction < document.checks.minClassFraction) {
      return reject(
        ValidationReason.Schema,
        `class ${JSON.stringify(balance.className)} holds ${percent(balance.fraction)} of the samples; ${document.name} needs at least ${percent(document.checks.minClassFraction)} per class`,
      );
    }

    const hashes = sampleHashes(document, samples);
    const seen = new Set<string>();
    let duplicates = 0;
    for (const hash of hashes) {
      if (input.acceptedSampleHashes.has(hash) || seen.has(hash)) duplicates++;
      seen.add(hash);
    }
    const duplicateFraction = duplicates / samples.count;
    // A schema may be stricter than the protocol, never looser: anyone can publish a schema.
    const maxDuplicateFraction = this.#o.maxDuplicateFraction ?? Math.min(document.checks.maxDuplicateFraction, MAX_DUPLICATE_FRACTION);
    if (duplicateFraction > maxDuplicateFraction) {
      return {
        ...reject(
          ValidationReason.Duplicates,
          `${duplicates} of ${samples.count} samples (${percent(duplicateFraction)}) duplicate accepted data or each other; at most ${percent(maxDuplicateFraction)} allowed`,
        ),
        duplicateFraction,
      };
    }

    const spec = document.checks.reference;
    let labelAgreement: number | undefined;
    if (spec !== undefined) {
      const minAgreement = this.#o.minLabelAgreement ?? spec.minAgreement;
      labelAgreement = await this.#labelAgreement(document, samples, await this.#reference(spec, document), this.#o.labelCheckSamples ?? spec.samples);
      if (labelAgreement < minAgreement) {
        return {
          ...reject(ValidationReason.LabelNoise, `the reference classifier agrees with ${percent(labelAgreement)} of labels; at least ${percent(minAgreement)} needed`),
          duplicateFraction,
          labelAgreement,
        };
      }
    }

    return {
      accept: true,
      reasonCode: ValidationReason.Ok,
      details: `${samples.count} samples of ${document.name}, ${percent(duplicateFraction)} duplicates, ${
        labelAgreement === undefined ? "no reference classifier (structural checks only)" : `${percent(labelAgreement)} label agreement`
      }`,
      sampleHashes: hashes,
      duplicateFraction,
      ...(labelAgreement === undefined ? {} : { labelAgreement }),
    };
  }

  async #reference(spec: NonNullable<SchemaDocument["checks"]["reference"]>, document: SchemaDocument): Promise<LabelReference> {
    if (spec.model === "tessera:mnist-2nn") {
      if (this.#o.reference === undefined) throw new Error("this validator has no MNIST reference classifier (tessera:mnist-2nn)");
      return mnistReference(this.#o.reference);
    }
    if (spec.model.startsWith("tessera:")) throw new SchemaError(`reference ${spec.model} is not a built-in reference`);
    if (this.#references === undefined) throw new Error(`this validator cannot load published reference classifiers (${spec.model}): it has no IPFS store`);
    return this.#references(spec, document);
  }

  async #labelAgreement(document: SchemaDocument, samples: Samples, reference: LabelReference, limit: number): Promise<number> {
    const checked = Math.min(samples.count, limit);
    const stride = samples.count / checked;
    const picked = selectSamples(document, samples, Array.from({ length: checked }, (_, i) => Math.floor(i * stride)));
    const predictions = await reference.predictClasses(document, picked);
    // Samples the reference cannot call (too close to a decision boundary for every backend to agree) do not count.
    let agreed = 0;
    let decided = 0;
    for (let i = 0; i < checked; i++) {
      if (predictions[i] === UNDECIDED) continue;
      decided++;
      if (predictions[i] === picked.labels[i]) agreed++;
    }
    return decided === 0 ? 0 : agreed / decided;
  }
}

/** The least represented class and its share of the samples (class schemas only). */
function classBalance(document: SchemaDocument, samples: Samples): { className: string; fraction: number } | undefined {
  if (document.label.kind !== "class" || samples.count === 0) return undefined;
  const counts = new Array<number>(document.label.classes.length).fill(0);
  for (let i = 0; i < samples.count; i++) counts[samples.labels[i]]++;
  let least = 0;
  for (let c = 1; c < counts.length; c++) if (counts[c] < counts[least]) least = c;
  return { className: document.label.classes[least], fraction: counts[least] / samples.count };
}

function reject(reasonCode: ValidationReason, details: string): ValidationVerdict {
  return { accept: false, reasonCode, details };
}

function percent(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
}
