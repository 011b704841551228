import { VoidSigner, getAddress, type Signer } from "ethers";
import type { DataRegistry, TrainingJobs, WorkerRegistry } from "../../typechain-types/index.js";
import { NotAuthorizedError } from "../../worker/src/data/DatasetError.js";
import { openEnvelope, parseKeyEnvelopeDocument, sealKeyEnvelopes, type EncryptionKeyPair, type KeyEnvelopeDocument } from "../../worker/src/data/KeyEnvelopes.js";
import {
  canShare,
  checkDatasetKey,
  checkEnvelopeDocument,
  jobKeyRecipients,
  locateDataset,
  planKeyShare,
  type DatasetLocation,
  type JobWorker,
} from "../../worker/src/data/KeyRecipients.js";
import { DATASET_STATUS_NAMES, cidToBytes } from "../../worker/src/data/OnChainDataset.js";
import { explainError } from "./ErrorSentences.js";
import { JOB_STATUS_NAMES } from "./TrainingJobView.js";
import { addAndReadBack } from "./IpfsUpload.js";
import { fetchContent } from "./ModelCatalog.js";

/** The largest dataset ciphertext the page reads back to check a key before resealing it (the app server's upload limit). */
const MAX_DATASET_BYTES = 64 * 2 ** 20;

/** The phases in which a contributor shares its key with a job's workers: enrolment complete, rounds running. */
export const SHARING_PHASES: ReadonlySet<string> = new Set(["Committing", "Revealing", "Voting"]);

/** Key-envelope documents by CID and the commitment they were checked against: content-addressed, so read once per page. */
export type EnvelopeDocuments = Map<string, KeyEnvelopeDocument>;

/** Who of a job's workers can read one of its datasets, and who waits for the contributor's key. */
export interface DatasetKeyStatus {
  readonly datasetId: bigint;
  readonly contributor: string;
  /** Enrolled, active workers of the partitions that read the dataset, who can open its current envelopes. */
  readonly canRead: JobWorker[];
  /** Enrolled, active workers of those partitions with an encryption key who cannot yet: they wait for the contributor. */
  readonly waiting: JobWorker[];
  /** Enrolled workers of those partitions without a usable encryption key: nobody can share with them. */
  readonly withoutKey: (JobWorker & { readonly reason: string })[];
  /** Partitions that read the dataset and have no worker yet. */
  readonly unfilled: number[];
  /** Why who can read it could not be told (its envelopes unreadable, a gateway down), or undefined. */
  readonly unreadable?: string;
}

interface Contracts {
  readonly trainingJobs: TrainingJobs;
  readonly workerRegistry: WorkerRegistry;
  readonly dataRegistry: DataRegistry;
}

async function currentDocument(gateway: string, location: DatasetLocation, cache?: EnvelopeDocuments): Promise<KeyEnvelopeDocument | undefined> {
  const cid = location.envelopesCid;
  if (cid === undefined) return undefined;
  const cacheKey = `${cid}|${location.commitment}`;
  const cached = cache?.get(cacheKey);
  if (cached !== undefined) return cached;
  const bytes = await fetchContent(gateway, cid, `the key envelopes of dataset ${location.datasetId}`);
  let document: KeyEnvelopeDocument;
  try {
    document = checkEnvelopeDocument(parseKeyEnvelopeDocument(JSON.parse(new TextDecoder().decode(bytes))), location);
  } catch (err) {
    throw new Error(`The key envelopes ${cid} of dataset ${location.datasetId} are not a valid document: ${(err as Error).message}`, { cause: err });
  }
  cache?.set(cacheKey, document);
  return document;
}

/**
 * For each dataset of job `jobId`: which of the job's workers that train on it can read it now (their key is in its
 * current envelopes, read through `gateway`), and which wait for its contributor to share the key, as the workers
 * themselves would find (KeyRecipients.jobKeyRecipients and planKeyShare, the tasks' own rules).
 */
export async function jobKeyStatus(c: Contracts, jobId: bigint, o: { gateway: string; fromBlock: number; documents?: EnvelopeDocuments }): Promise<DatasetKeyStatus[]> {
  const [ids] = await c.trainingJobs.datasetsOf(jobId);
  return Promise.all(
    ids.map(async (datasetId): Promise<DatasetKeyStatus> => {
      const [readers, location] = await Promise.all([
        jobKeyRecipients({ trainingJobs: c.trainingJobs, workerRegistry: c.workerRegistry, jobId, datasetId }),
        locateDataset(c.dataRegistry, datasetId, o.fromBlock),
      ]);
      let document: KeyEnvelopeDocument | undefined;
      try {
        document = await currentDocument(o.gateway, location, o.documents);
      } catch (err) {
        // Anyone contributing can publish an unreadable document for its own dataset: said on its line, the rest read.
        const none: JobWorker[] = [];
        return { datasetId, contributor: location.contributor, canRead: none, waiting: none, withoutKey: readers.withoutKey, unfilled: readers.unfilled, unreadable: (err as Error).message };
      }
      const plan = planKeyShare(document, readers.recipients);
      const missing = new Set(plan.added.map((r) => getAddress(r.address)));
      const worker = (r: JobWorker): JobWorker => ({ address: r.address, partitionIndex: r.partitionIndex });
      return {
        datasetId,
        contributor: location.contributor,
        canRead: readers.recipients.filter((r) => !missing.has(getAddress(r.address))).map(worker),
        waiting: readers.recipients.filter((r) => missing.has(getAddress(r.address))).map(worker),
        withoutKey: readers.withoutKey,
        unfilled: readers.unfilled,
      };
    }),
  );
}

export interface ShareWithJobOptions extends Contracts {
  /** The contributor's wallet: it sends `publishKeyEnvelopes`. */
  readonly signer: Signer;
  /** The contributor's page key (PageEncryptionKey.ts), the one the dataset's key was sealed for at contribution. */
  readonly pageKey: EncryptionKeyPair;
  readonly jobId: bigint;
  readonly datasetId: bigint;
  readonly gateway: string;
  readonly ipfsApi: string;
  readonly fromBlock: number;
  readonly onStep?: (step: "opening" | "checking" | "uploading" | "sending", detail?: string) => void;
}

/**
 * The contributor shares its dataset's key with the workers of a training job that train on it and cannot read it
 * yet, from a page, as `data share` does from the tasks: the key opened from the envelope sealed for the contributor's
 * page key, checked by decrypting the dataset's ciphertext to its on-chain commitment, resealed for everyone who could
 * read it plus those workers, the document uploaded and read back, the registry's answer asked by a static call
 * (a refusal is its sentence, and nothing is sent), then `publishKeyEnvelopes`. Only the envelopes leave the page.
 */
export async function shareKeyWithJob(o: ShareWithJobOptions): Promise<{ envelopesCid: string; added: string[]; txHash: string }> {
  const step = o.onStep ?? (() => undefined);
  const account = getAddress(await o.signer.getAddress());
  const dataset = await o.dataRegistry.datasetOf(o.datasetId);
  if (getAddress(dataset.contributor) !== account) throw new Error(`Dataset ${o.datasetId} was contributed by ${dataset.contributor}: only its contributor can share its key.`);
  if (!canShare(dataset.status)) throw new Error(`Dataset ${o.datasetId} is ${DATASET_STATUS_NAMES[Number(dataset.status)]}: only a Pending or Accepted dataset's key can be shared.`);
  // Only once the job's workers are all enrolled and training: a job still enrolling may be cancelled by its requester
  // with no royalty owed, its workers keeping the key.
  const status = JOB_STATUS_NAMES[Number((await o.trainingJobs.jobOf(o.jobId)).status)];
  if (!SHARING_PHASES.has(status)) {
    throw new Error(
      status === "Enrolling"
        ? `Job ${o.jobId} is still enrolling: its requester could still cancel it owing no royalty. Share the key once its workers are all enrolled and training starts.`
        : `Job ${o.jobId} is ${status}: its workers train no more, there is nothing to share the key for.`,
    );
  }
  const [readers, location] = await Promise.all([
    jobKeyRecipients({ trainingJobs: o.trainingJobs, workerRegistry: o.workerRegistry, jobId: o.jobId, datasetId: o.datasetId }),
    locateDataset(o.dataRegistry, o.datasetId, o.fromBlock),
  ]);
  const document = await currentDocument(o.gateway, location);
  if (document === undefined) throw new Error(`Dataset ${o.datasetId} has no key envelopes: its key was sealed for nobody, so it cannot be shared.`);
  const plan = planKeyShare(document, readers.recipients);
  if (plan.added.length === 0) {
    if (readers.withoutKey.length > 0) {
      throw new Error(`No worker of job ${o.jobId} can be given dataset ${o.datasetId}'s key now: ${readers.withoutKey.map((w) => `${w.address}: ${w.reason}`).join("; ")}.`);
    }
    throw new Error(`Every enrolled worker of job ${o.jobId} that trains on dataset ${o.datasetId} can read it already.`);
  }

  step("opening", `dataset ${o.datasetId}`);
  let key: Uint8Array;
  try {
    key = openEnvelope(document, o.pageKey.privateKey);
  } catch (err) {
    if (err instanceof NotAuthorizedError) {
      throw new Error(
        `Dataset ${o.datasetId}'s key was not sealed for this wallet's page key: it was contributed from the tasks (share it with \`npx hardhat data share --dataset ${o.datasetId} --job ${o.jobId}\`), or this wallet signs the same message differently each time.`,
        { cause: err },
      );
    }
    throw err;
  }
  try {
    step("checking", `dataset ${o.datasetId}`);
    // The key must open the data itself: a wrong one resealed would lock out every reader, the validators included.
    const ciphertext = await fetchContent(o.gateway, location.datasetCid, `dataset ${o.datasetId}`, { unchecked: true, maxBytes: MAX_DATASET_BYTES });
    await checkDatasetKey(ciphertext, key, location);
    const sealed = sealKeyEnvelopes(key, location.commitment, plan.sealFor, location.contributor);
    step("uploading", `the key envelopes for ${plan.added.length} more workers`);
    const bytes = new TextEncoder().encode(JSON.stringify(sealed));
    const envelopesCid = await addAndReadBack(o.ipfsApi, o.gateway, bytes, "envelopes.json", "the key envelopes");
    // Another share (another tab, `data share`) published meanwhile: this document would drop the readers it added.
    const now = await locateDataset(o.dataRegistry, o.datasetId, o.fromBlock);
    if (now.envelopesCid !== location.envelopesCid) throw new Error(`Dataset ${o.datasetId}'s key envelopes changed while this page resealed them (${now.envelopesCid}): nothing was sent; share again.`);
    const args = [o.datasetId, cidToBytes(envelopesCid)] as const;
    try {
      await o.dataRegistry.connect(new VoidSigner(account, o.signer.provider)).publishKeyEnvelopes.staticCall(...args);
    } catch (err) {
      throw new Error(explainError(err, [o.dataRegistry.interface]), { cause: err });
    }
    step("sending");
    const tx = await o.dataRegistry.connect(o.signer).publishKeyEnvelopes(...args);
    await tx.wait();
    return { envelopesCid, added: plan.added.map((r) => r.address), txHash: tx.hash };
  } finally {
    key.fill(0);
  }
}
