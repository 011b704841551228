import type { DataRegistry } from "../../../typechain-types/index.js";
import { NotYetError, UnrecoverableError } from "../errors.js";
import { decryptDataset } from "../data/DatasetCipher.js";
import { NotAuthorizedError } from "../data/DatasetError.js";
import { commitmentOf, decodeDataset, toDigitSet } from "../data/DatasetFormat.js";
import { openEnvelope, parseKeyEnvelopeDocument } from "../data/KeyEnvelopes.js";
import { locateDataset } from "../data/KeySharing.js";
import { getJson, type ContentStore } from "../ipfs/ContentStore.js";
import { MNIST_PIXELS, type DigitSet } from "../ml/MnistDataset.js";
import type { PartitionSlice } from "./Partition.js";

export interface PartitionDataOptions {
  readonly registry: DataRegistry;
  readonly store: ContentStore;
  /** The worker's encryption private key (TESSERA_ENCRYPTION_KEY). */
  readonly encryptionPrivateKey: string;
  /** Where to look for the datasets' events (the deployment block). */
  readonly fromBlock?: number;
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

export async function loadPartition(slices: readonly PartitionSlice[], o: PartitionDataOptions): Promise<DigitSet> {
  const parts: DigitSet[] = [];
  for (const slice of slices) {
    if (slice.end <= slice.start) continue;
    const [{ datasetCid, envelopesCid }, onChain] = await Promise.all([
      locateDataset(o.registry, slice.datasetId, o.fromBlock),
      o.registry.datasetOf(slice.datasetId),
    ]);
    if (envelopesCid === undefined) throw new NotYetError(`dataset ${slice.datasetId} has no key envelopes yet`, KEY_WAIT_MS, { code: "KEY_NOT_SHARED" });
    let key: Uint8Array;
    try {
      key = openEnvelope(parseKeyEnvelopeDocument(await getJson(o.store, envelopesCid)), o.encryptionPrivateKey);
    } catch (err) {
      if (err instanceof NotAuthorizedError) {
        throw new NotYetError(`dataset ${slice.datasetId}: its owner has not shared the key with this worker yet (envelopes ${envelopesCid})`, KEY_WAIT_MS, {
          code: "KEY_NOT_SHARED",
          cause: err,
        });
      }
      throw err;
    }
    const plaintext = await decryptDataset(await o.store.get(datasetCid), key);
    if (commitmentOf(plaintext).toLowerCase() !== onChain.commitment.toLowerCase()) {
      throw new UnrecoverableError(`dataset ${slice.datasetId}: decrypted bytes do not match the on-chain commitment`);
    }
    const decoded = decodeDataset(plaintext);
    if (slice.end > decoded.count) {
      throw new UnrecoverableError(`dataset ${slice.datasetId} has ${decoded.count} samples, the partition wants up to ${slice.end}`);
    }
    parts.push(
      toDigitSet({
        count: slice.end - slice.start,
        pixels: decoded.pixels.subarray(slice.start * MNIST_PIXELS, slice.end * MNIST_PIXELS),
        labels: decoded.labels.subarray(slice.start, slice.end),
      }),
    );
  }
  return concatDigits(parts);
}

function concatDigits(parts: readonly DigitSet[]): DigitSet {
  const count = parts.reduce((sum, p) => sum + p.count, 0);
  const images = new Float32Array(count * MNIST_PIXELS);
  const labels = new Uint8Array(count);
  let offset = 0;
  for (const p of parts) {
    images.set(p.images.subarray(0, p.count * MNIST_PIXELS), offset * MNIST_PIXELS);
    labels.set(p.labels.subarray(0, p.count), offset);
    offset += p.count;
  }
  return { images, labels, count };
}
