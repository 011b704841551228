import type { DataRegistry } from "../../../typechain-types/index.js";
import { NotYetError, UnrecoverableError } from "../errors.js";
import { decryptDataset } from "../data/DatasetCipher.js";
import { NotAuthorizedError } from "../data/DatasetError.js";
import { commitmentOf, concatSamples, decodeSamples, readDatasetHeader, selectSamples, type Samples } from "../data/schema/DatasetEncoding.js";
import type { SchemaDocument } from "../data/schema/SchemaDocument.js";
import { SchemaResolver } from "../data/schema/SchemaResolver.js";
import { openEnvelope, parseKeyEnvelopeDocument } from "../data/KeyEnvelopes.js";
import { locateDataset } from "../data/KeyRecipients.js";
import { getJson, type ContentStore } from "../ipfs/ContentStore.js";
import type { DatasetKeyring } from "../data/DatasetKeyring.js";
import type { PartitionSlice } from "./Partition.js";

export interface PartitionDataOptions {
  readonly registry: DataRegistry;
  readonly store: ContentStore;
  /** The worker's encryption private key (TESSERA_ENCRYPTION_KEY). */
  readonly encryptionPrivateKey: string;
  /** Where to look for the datasets' events (the deployment block). */
  readonly fromBlock?: number;
  /** Schemas of the datasets (default: built in, or fetched from `store`). */
  readonly schemas?: SchemaResolver;
  /**
   * The keys this worker opened before (DatasetKeyring.ts): each key opened is kept there, and used when the current
   * envelopes no longer list the worker (a contributor republished without it after it read its partition).
   */
  readonly keyring?: DatasetKeyring;
}

/** A partition's samples, all of one schema. */
export interface PartitionSamples {
  readonly schemaId: string;
  readonly document: SchemaDocument;
  readonly samples: Samples;
}

/**
 * Decrypts the datasets of a worker's partition and returns its samples, in slice order. The key
 * of each dataset comes from the worker's own envelope, which the dataset's owner adds once the
 * worker has enrolled (`data share`): until then this throws a NotYetError, and the queue runs the
 * job again every `KEY_WAIT_MS` without using up its attempts, until the key comes or the commit
 * phase closes (the processor then skips the round). The plaintext is checked against the on-chain
 * commitment before use.
 */
/** How long a trainer waits before looking again for a dataset key its owner has not shared yet. */
export const KEY_WAIT_MS = 10_000;

export async function loadPartition(slices: readonly PartitionSlice[], o: PartitionDataOptions): Promise<PartitionSamples> {
  const schemas = o.schemas ?? new SchemaResolver(o.store);
  const parts: Samples[] = [];
  let schema: { id: string; document: SchemaDocument } | undefined;
  for (const slice of slices) {
    if (slice.end <= slice.start) continue;
    const [{ datasetCid, envelopesCid }, onChain] = await Promise.all([
      locateDataset(o.registry, slice.datasetId, o.fromBlock),
      o.registry.datasetOf(slice.datasetId),
    ]);
    const key = await datasetKey(slice.datasetId, envelopesCid, onChain.commitment, o);
    let plaintext: Uint8Array;
    try {
      plaintext = await decryptDataset(await o.store.get(datasetCid), key);
    } finally {
      key.fill(0);
    }
    if (commitmentOf(plaintext).toLowerCase() !== onChain.commitment.toLowerCase()) {
      throw new UnrecoverableError(`dataset ${slice.datasetId}: decrypted bytes do not match the on-chain commitment`);
    }
    const sliceSchema = await schemas.byId(readDatasetHeader(plaintext).schemaId);
    if (schema !== undefined && sliceSchema.id !== schema.id) {
      throw new UnrecoverableError(`dataset ${slice.datasetId} is of schema ${sliceSchema.document.name}, the partition's first of ${schema.document.name}`);
    }
    schema = sliceSchema;
    const decoded = decodeSamples(sliceSchema, plaintext);
    if (slice.end > decoded.count) {
      throw new UnrecoverableError(`dataset ${slice.datasetId} has ${decoded.count} samples, the partition wants up to ${slice.end}`);
    }
    parts.push(selectSamples(sliceSchema.document, decoded, Array.from({ length: slice.end - slice.start }, (_, i) => slice.start + i)));
  }
  if (schema === undefined) throw new UnrecoverableError("the partition holds no samples");
  return { schemaId: schema.id, document: schema.document, samples: concatSamples(schema.document, parts) };
}

/**
 * The dataset's key: opened from this worker's entry of the current envelopes (and kept in the keyring), or, when the
 * current envelopes do not list it, the one it kept; else a NotYetError (the owner has not shared it yet).
 */
async function datasetKey(datasetId: bigint, envelopesCid: string | undefined, commitment: string, o: PartitionDataOptions): Promise<Uint8Array> {
  const kept = async () => o.keyring?.get(datasetId, commitment);
  if (envelopesCid === undefined) {
    const key = await kept();
    if (key !== undefined) return key;
    throw new NotYetError(`dataset ${datasetId} has no key envelopes yet`, KEY_WAIT_MS, { code: "KEY_NOT_SHARED" });
  }
  try {
    const key = openEnvelope(parseKeyEnvelopeDocument(await getJson(o.store, envelopesCid)), o.encryptionPrivateKey);
    // Best effort: a keyring that cannot be written (a read-only directory) must not stop the training it guards.
    await o.keyring?.put(datasetId, commitment, key).catch(() => undefined);
    return key;
  } catch (err) {
    if (!(err instanceof NotAuthorizedError)) throw err;
    const key = await kept();
    if (key !== undefined) return key;
    throw new NotYetError(`dataset ${datasetId}: its owner has not shared the key with this worker yet (envelopes ${envelopesCid})`, KEY_WAIT_MS, {
      code: "KEY_NOT_SHARED",
      cause: err,
    });
  }
}
