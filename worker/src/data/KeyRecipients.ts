import { PublicKey } from "eciesjs";
import { getAddress, getBytes, hexlify } from "ethers";
import type { DataRegistry, TrainingJobs, WorkerRegistry } from "../../../typechain-types/index.js";
import { ContractRevertError, type DecodedRevert } from "../errors.js";
import { partitionsReading, type JobDataset } from "../training/Partition.js";
import { decryptDataset } from "./DatasetCipher.js";
import { DatasetError } from "./DatasetError.js";
import { commitmentOf } from "./DatasetFormat.js";
import type { KeyEnvelopeDocument, KeyRecipient } from "./KeyEnvelopes.js";
import { DATASET_STATUS_NAMES, DatasetStatus, cidFromBytes } from "./OnChainDataset.js";

/**
 * Who may read a dataset, and who should: where its ciphertext and current key envelopes are (from the registry's
 * events), the workers of a training job that train on it, and which of them a contributor's reshare would add. What
 * the tasks (KeySharing.ts, over a content store) and the page (client DatasetKeyShares.ts, over a gateway and a
 * wallet) share; nothing here reads IPFS or sends a transaction.
 *
 * The registry does not store the envelopes' CID: the current one is that of the dataset's last
 * `KeyEnvelopesPublished` event, else the one given at `DatasetContributed`.
 */

/** A dataset's key could not be shared or recovered; `revert` names the registry's custom error when it refused. */
export class KeySharingError extends DatasetError {
  override readonly name = "KeySharingError";
  readonly revert: DecodedRevert | null;

  constructor(message: string, options: { revert?: DecodedRevert | null; cause?: unknown } = {}) {
    super(message, { code: "KEY_SHARING", cause: options.cause });
    this.revert = options.revert ?? null;
  }
}

/** Where a dataset's data and key envelopes are, from its events. */
export interface DatasetLocation {
  readonly datasetId: bigint;
  readonly contributor: string;
  readonly commitment: string;
  /** CID of the encrypted dataset. */
  readonly datasetCid: string;
  /** CID of the current key-envelope document, or undefined if none was ever published. */
  readonly envelopesCid: string | undefined;
}

/** The dataset's record, its ciphertext CID and its current key-envelope CID (last published wins). */
export async function locateDataset(registry: DataRegistry, datasetId: bigint, fromBlock = 0): Promise<DatasetLocation> {
  const count = await registry.datasetCount();
  if (datasetId < 1n || datasetId > count) throw new KeySharingError(`unknown dataset ${datasetId} (${count} contributed so far)`);
  const [dataset, contributed, published] = await Promise.all([
    registry.datasetOf(datasetId),
    registry.queryFilter(registry.filters.DatasetContributed(datasetId), fromBlock),
    registry.queryFilter(registry.filters.KeyEnvelopesPublished(datasetId), fromBlock),
  ]);
  if (contributed.length === 0) {
    throw new KeySharingError(`no DatasetContributed event for dataset ${datasetId} from block ${fromBlock} on`);
  }
  const last = published.length > 0 ? published[published.length - 1].args.keyEnvelopesCid : contributed[0].args.keyEnvelopesCid;
  return {
    datasetId,
    contributor: dataset.contributor,
    commitment: dataset.commitment.toLowerCase(),
    datasetCid: cidFromBytes(contributed[0].args.cid),
    envelopesCid: last === "0x" ? undefined : cidFromBytes(last),
  };
}

/** Who a reshare of a dataset's key would seal for, from its current envelopes and the recipients asked for. */
export interface KeySharePlan {
  /** Every entry of the new document: the current ones (resealed), then the added ones. */
  readonly sealFor: KeyRecipient[];
  /** Every recipient address of the new document. */
  readonly recipients: string[];
  /** The recipients new to the document. */
  readonly added: KeyRecipient[];
  /** Recipients skipped: their public key is already in the document under another address. */
  readonly skipped: { address: string; reason: string }[];
}

/**
 * Which of `recipients` a reshare adds to the `current` document (undefined: none published). Recipients are
 * deduplicated by address (case-insensitive, first wins); an address already listed with the same public key is not
 * new, one listed with another key (a rotated key) gets an entry for the new key too, and a public key already listed
 * under another address is skipped (its holder can open it already). A recipient's key that is not a compressed
 * secp256k1 point is a KeySharingError.
 */
export function planKeyShare(current: KeyEnvelopeDocument | undefined, recipients: readonly KeyRecipient[]): KeySharePlan {
  const existing = current?.envelopes ?? [];
  const listed = new Set(existing.map((e) => `${e.recipient.toLowerCase()}|${e.publicKey.toLowerCase()}`));
  const keyHolders = new Map(existing.map((e) => [e.publicKey.toLowerCase(), e.recipient]));
  const seen = new Set<string>();
  const added: KeyRecipient[] = [];
  const skipped: { address: string; reason: string }[] = [];
  for (const r of recipients) {
    const address = getAddress(r.address);
    if (seen.has(address.toLowerCase())) continue;
    seen.add(address.toLowerCase());
    const publicKey = normalizedKey(r.publicKey, address);
    if (listed.has(`${address.toLowerCase()}|${publicKey}`)) continue;
    const holder = keyHolders.get(publicKey);
    if (holder !== undefined) {
      skipped.push({ address, reason: `its encryption key ${publicKey} is already listed for ${holder}` });
      continue;
    }
    keyHolders.set(publicKey, address);
    added.push({ address, publicKey });
  }
  const sealFor = [...existing.map((e) => ({ address: e.recipient, publicKey: e.publicKey })), ...added];
  return { sealFor, recipients: [...new Set(sealFor.map((r) => getAddress(r.address)))], added, skipped };
}

/** The document read at the dataset's current envelopes CID must be for the dataset's on-chain commitment. */
export function checkEnvelopeDocument(document: KeyEnvelopeDocument, location: DatasetLocation): KeyEnvelopeDocument {
  if (document.datasetCommitment.toLowerCase() !== location.commitment) {
    throw new KeySharingError(
      `the key envelopes ${location.envelopesCid} of dataset ${location.datasetId} are for commitment ${document.datasetCommitment}, the dataset's is ${location.commitment}`,
    );
  }
  return document;
}

/**
 * The key must decrypt the dataset's ciphertext to the committed plaintext: a wrong key resealed would replace every
 * recipient's working envelope with one that opens to garbage.
 */
export async function checkDatasetKey(ciphertext: Uint8Array, key: Uint8Array, location: DatasetLocation): Promise<void> {
  let plaintext: Uint8Array;
  try {
    plaintext = await decryptDataset(ciphertext, key);
  } catch (err) {
    throw new KeySharingError(`the key given does not decrypt dataset ${location.datasetId} (${location.datasetCid}): ${(err as Error).message}`, { cause: err });
  }
  const commitment = commitmentOf(plaintext);
  plaintext.fill(0);
  if (commitment.toLowerCase() !== location.commitment) {
    throw new KeySharingError(`dataset ${location.datasetId} decrypts to commitment ${commitment}, the registry holds ${location.commitment}`);
  }
}

/** The registry's refusal of `publishKeyEnvelopes` as a KeySharingError naming its custom error and why. */
export function keyShareRefusal(err: ContractRevertError, location: DatasetLocation): KeySharingError {
  const revert = err.revert;
  let why = "";
  if (revert?.name === "DataRegistryNotContributor") why = `: only its contributor ${location.contributor} can share dataset ${location.datasetId}'s key`;
  else if (revert?.name === "DataRegistryDatasetClosed") {
    why = `: dataset ${location.datasetId} is ${DATASET_STATUS_NAMES[Number(revert.args[1])] ?? "closed"}; only a Pending or Accepted dataset's key can be shared`;
  }
  const name = revert === null ? err.message : `publishKeyEnvelopes reverts with ${revert.name}(${revert.args.map(String).join(", ")})`;
  return new KeySharingError(`${name}${why}`, { revert, cause: err });
}

function normalizedKey(publicKey: string, address: string): string {
  const key = validEncryptionKey(publicKey);
  if (key === undefined) throw new KeySharingError(`recipient ${address}: ${publicKey} is not a compressed secp256k1 public key`);
  return key;
}

/** The 33-byte compressed key as lower-case 0x-hex if it is a point of secp256k1, else undefined. */
export function validEncryptionKey(publicKey: string | Uint8Array): string | undefined {
  try {
    const bytes = typeof publicKey === "string" ? getBytes(publicKey.startsWith("0x") ? publicKey : `0x${publicKey}`) : publicKey;
    if (bytes.length !== 33) return undefined;
    return hexlify(PublicKey.fromHex(hexlify(bytes).slice(2)).toBytes(true));
  } catch {
    return undefined;
  }
}

/** A worker of a job, as seen by the key sharing. */
export interface JobWorker {
  readonly address: string;
  /** Its partition index (enrollment order, from 0). */
  readonly partitionIndex: number;
}

export interface JobKeyRecipients {
  readonly jobId: bigint;
  readonly datasetId: bigint;
  /** Partition indexes that train on the dataset (Partition.ts), enrolled or not. */
  readonly partitions: number[];
  /** Enrolled, active workers of those partitions with a registered encryption key: share with these. */
  readonly recipients: (KeyRecipient & JobWorker)[];
  /** Enrolled, active workers of those partitions whose registered encryption key is missing or not a secp256k1 point. */
  readonly withoutKey: (JobWorker & { readonly reason: string })[];
  /** Workers of those partitions dropped from the job (missed a deadline): not shared with. */
  readonly dropped: JobWorker[];
  /** Partitions that read the dataset but have no worker yet (enrollment still open). */
  readonly unfilled: number[];
}

export interface JobKeyRecipientsOptions {
  readonly trainingJobs: TrainingJobs;
  readonly workerRegistry: WorkerRegistry;
  readonly jobId: bigint;
  readonly datasetId: bigint;
  /**
   * Not needed: the workers and their partition indexes are read from the contract's views
   * (`workersOf`, `participantOf`), which agree with the `WorkerEnrolled` events. Accepted for
   * callers that scan events from a deployment's start block.
   */
  readonly fromBlock?: number;
}

/**
 * The workers of job `jobId` that train on dataset `datasetId` and whom its contributor should
 * share the key with: the enrolled, not dropped workers whose partition (Partition.ts over the
 * job's datasets and samples used, K = workersPerRound) reads the dataset, each with the
 * encryption public key it registered in the WorkerRegistry. A worker without a usable key is
 * listed in `withoutKey`, not silently left out.
 */
export async function jobKeyRecipients(options: JobKeyRecipientsOptions): Promise<JobKeyRecipients> {
  const { trainingJobs, workerRegistry, jobId, datasetId } = options;
  const count = await trainingJobs.jobCount();
  if (jobId < 1n || jobId > count) throw new KeySharingError(`unknown training job ${jobId} (${count} created so far)`);
  const job = await trainingJobs.jobOf(jobId);
  const [ids, samples] = await trainingJobs.datasetsOf(jobId);
  const datasets: JobDataset[] = ids.map((id, i) => ({ datasetId: id, samples: Number(samples[i]) }));
  if (!datasets.some((d) => d.datasetId === datasetId)) {
    throw new KeySharingError(`dataset ${datasetId} is not a dataset of training job ${jobId} (its datasets: ${ids.join(", ")})`);
  }
  const k = Number(job.workersPerRound);
  const partitions = partitionsReading(datasets, k, datasetId);
  const workers = await trainingJobs.workersOf(jobId);
  const recipients: (KeyRecipient & JobWorker)[] = [];
  const withoutKey: (JobWorker & { reason: string })[] = [];
  const dropped: JobWorker[] = [];
  const filled = new Set<number>();
  for (const address of workers) {
    const p = await trainingJobs.participantOf(jobId, address);
    const partitionIndex = Number(p.index) - 1;
    if (!partitions.includes(partitionIndex)) continue;
    filled.add(partitionIndex);
    const worker = { address: getAddress(address), partitionIndex };
    if (p.dropped) {
      dropped.push(worker);
      continue;
    }
    const info = await workerRegistry.workerOf(address);
    const raw = getBytes(info.encryptionPublicKey);
    const publicKey = raw.length === 0 ? undefined : validEncryptionKey(raw);
    if (publicKey === undefined) {
      withoutKey.push({
        ...worker,
        reason: raw.length === 0 ? "no encryption key registered" : `registered encryption key ${hexlify(raw)} is not a secp256k1 point`,
      });
    } else {
      recipients.push({ ...worker, publicKey });
    }
  }
  return { jobId, datasetId, partitions, recipients, withoutKey, dropped, unfilled: partitions.filter((p) => !filled.has(p)) };
}

/** Whether `status` (a DataRegistry DatasetStatus) still lets the contributor publish key envelopes. */
export function canShare(status: number | bigint): boolean {
  const s = Number(status);
  return s === DatasetStatus.Pending || s === DatasetStatus.Accepted;
}
