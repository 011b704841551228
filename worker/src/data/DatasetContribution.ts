import { hexlify } from "ethers";
import { addJson, type ContentStore } from "../ipfs/ContentStore.js";
import { encryptDataset } from "./DatasetCipher.js";
import { parseDatasetFile, type ParseDatasetOptions } from "./DatasetFileParser.js";
import { commitmentOf, encodeDataset, type LabelledImages } from "./DatasetFormat.js";
import { MNIST_SCHEMA } from "./schema/BuiltinSchemas.js";
import { encodeSamples, type SchemaRef, type Samples } from "./schema/DatasetEncoding.js";
import { sealKeyEnvelopes, type KeyRecipient } from "./KeyEnvelopes.js";

/** MNIST digits from a file or in memory, or the samples of any schema. */
export type DatasetSource =
  | { file: Uint8Array | string; parse?: ParseDatasetOptions }
  | { samples: LabelledImages }
  | { schema: SchemaRef; samples: Samples };

export interface ContributeDatasetOptions {
  /** Where the ciphertext and the key envelopes go; it never receives a plaintext byte. */
  store: Pick<ContentStore, "add">;
  source: DatasetSource;
  /** The workers allowed to validate (and later train on) the dataset, with their registered encryption keys. */
  recipients: readonly KeyRecipient[];
  /** The account that will send `contribute`: the key envelopes are bound to it, so a copied contribution fails validation. */
  contributor: string;
  /** Return the AES key (hex) so that the contributor can keep it locally. Off by default. */
  keepKey?: boolean;
}

/** What the contributor submits on chain (`commitment`, `datasetCid`, `envelopesCid`, `sampleCount`, `schemaId`). */
export interface DatasetContribution {
  datasetCid: string;
  /** sha256 of the canonical plaintext, 0x-bytes32. */
  commitment: string;
  sampleCount: number;
  /** The schema's on-chain id (0x-bytes32). */
  schemaId: string;
  envelopesCid: string;
  /** Present only with `keepKey`; never published. */
  keyHex?: string;
}

/**
 * The contributor's client flow: parse the file (or take the samples of a schema), encode it canonically, commit to it, encrypt it
 * under a fresh key, store the ciphertext, seal the key for each recipient and store those
 * envelopes. Only the ciphertext and the envelope document reach `store`.
 */
export async function contributeDataset(options: ContributeDatasetOptions): Promise<DatasetContribution> {
  const { source } = options;
  const schemaId = "schema" in source ? source.schema.id : MNIST_SCHEMA.id;
  const samples = "samples" in source ? source.samples : parseDatasetFile(source.file, source.parse);
  const canonical = "schema" in source ? encodeSamples(source.schema, source.samples) : encodeDataset(samples as LabelledImages);
  const commitment = commitmentOf(canonical);
  const { envelope, key } = await encryptDataset(canonical);
  canonical.fill(0);
  try {
    const document = sealKeyEnvelopes(key, commitment, options.recipients, options.contributor);
    const datasetCid = await options.store.add(envelope);
    const envelopesCid = await addJson(options.store, document);
    return {
      datasetCid,
      commitment,
      sampleCount: samples.count,
      schemaId,
      envelopesCid,
      ...(options.keepKey === true ? { keyHex: hexlify(key) } : {}),
    };
  } finally {
    key.fill(0);
  }
}
