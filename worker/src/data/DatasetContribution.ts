import { hexlify } from "ethers";
import { addJson, type ContentStore } from "../ipfs/ContentStore.js";
import { encryptDataset } from "./DatasetCipher.js";
import { parseDatasetFile, type ParseDatasetOptions } from "./DatasetFileParser.js";
import { DatasetSchema, commitmentOf, encodeDataset, type LabelledImages } from "./DatasetFormat.js";
import { sealKeyEnvelopes, type KeyRecipient } from "./KeyEnvelopes.js";

export type DatasetSource = { file: Uint8Array | string; parse?: ParseDatasetOptions } | { samples: LabelledImages };

export interface ContributeDatasetOptions {
  /** Where the ciphertext and the key envelopes go; it never receives a plaintext byte. */
  store: ContentStore;
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
  schemaId: number;
  envelopesCid: string;
  /** Present only with `keepKey`; never published. */
  keyHex?: string;
}

/**
 * The contributor's client flow: parse the file, encode it canonically, commit to it, encrypt it
 * under a fresh key, store the ciphertext, seal the key for each recipient and store those
 * envelopes. Only the ciphertext and the envelope document reach `store`.
 */
export async function contributeDataset(options: ContributeDatasetOptions): Promise<DatasetContribution> {
  const samples =
    "samples" in options.source ? options.source.samples : parseDatasetFile(options.source.file, options.source.parse);
  const canonical = encodeDataset(samples);
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
      schemaId: DatasetSchema.Mnist784Labels10.id,
      envelopesCid,
      ...(options.keepKey === true ? { keyHex: hexlify(key) } : {}),
    };
  } finally {
    key.fill(0);
  }
}
