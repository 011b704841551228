import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { NotAuthorizedError } from "../../worker/src/data/DatasetError.js";
import { KeySharingError, canShare, jobKeyRecipients } from "../../worker/src/data/KeyRecipients.js";
import { openOwnDatasetKey, shareDatasetKey } from "../../worker/src/data/KeySharing.js";
import { DATASET_STATUS_NAMES } from "../../worker/src/data/OnChainDataset.js";
import { TxSender } from "../../worker/src/chain/TxSender.js";
import { describeStore, openContentStore } from "../lib/ContentStores.js";
import { dataRegistryOf } from "../lib/DataRegistries.js";
import { ENCRYPTION_KEY_ENV, requireEncryptionKeyFromEnv } from "../lib/EncryptionKeys.js";
import { parseId } from "../lib/Ids.js";
import { printFields } from "../lib/Printer.js";
import { PROTOCOL_INTERFACES, Session } from "../lib/Session.js";
import { taskError } from "../lib/TaskError.js";
import { JOB_STATUS_NAMES, checkJobExists, trainingJobsOf } from "../lib/Training.js";

interface ShareArgs {
  deployment: string;
  dataDir: string;
  account: string;
  dataset: string | undefined;
  job: string | undefined;
}

/** What became of one worker of the job that trains on the dataset. */
export interface ShareRow {
  worker: string;
  partitionIndex: number;
  outcome: "added" | "already shared" | "no encryption key" | "dropped" | "skipped";
  detail?: string;
}

export interface ShareTaskResult {
  datasetId: bigint;
  jobId: bigint;
  /** Partition indexes of the job that train on the dataset. */
  partitions: number[];
  rows: ShareRow[];
  /** Workers given the key by this run. */
  added: string[];
  /** Everyone who can open the key now. */
  recipients: string[];
  envelopesCid: string;
  txHash?: string;
  /** Partitions that read the dataset but have no worker yet: run the task again once they enrolled. */
  unfilled: number[];
}

/**
 * The contributor shares its dataset's key with the enrolled workers of a training job whose
 * partition trains on it: recovers the key from its own envelope (TESSERA_ENCRYPTION_KEY, as
 * sealed by `data contribute`), reseals it for every current recipient plus those workers, pins
 * the new envelope document and publishes it (`publishKeyEnvelopes`).
 */
export default async function share(args: ShareArgs, hre: HardhatRuntimeEnvironment): Promise<ShareTaskResult> {
  const datasetId = parseId(args.dataset, "--dataset");
  const jobId = parseId(args.job, "--job");
  const ownKey = requireEncryptionKeyFromEnv("data share (the key the dataset's key was sealed for by `data contribute`)");
  const session = await Session.open(hre, args.deployment);
  const registry = await dataRegistryOf(session);
  const jobs = await trainingJobsOf(session);
  const signer = await session.signer(args.account);
  const fromBlock = session.deployment.startBlock;

  const count = await registry.datasetCount();
  if (datasetId > count) throw taskError(`unknown dataset ${datasetId} (${count} contributed so far)`);
  const dataset = await registry.datasetOf(datasetId);
  if (dataset.contributor !== signer.address) {
    throw taskError(`dataset ${datasetId} was contributed by ${dataset.contributor}, not ${signer.address}; only its contributor can share its key (pass its --account)`);
  }
  if (!canShare(dataset.status)) {
    throw taskError(`dataset ${datasetId} is ${DATASET_STATUS_NAMES[Number(dataset.status)]}: only a Pending or Accepted dataset's key can be shared`);
  }
  await checkJobExists(jobs, jobId);
  const jobStatus = JOB_STATUS_NAMES[Number((await jobs.jobOf(jobId)).status)];
  if (jobStatus === "Finalized" || jobStatus === "Cancelled") throw taskError(`job ${jobId} is ${jobStatus}: its workers train no more, there is nothing to share the key for`);
  const readers = await jobKeyRecipients({ trainingJobs: jobs, workerRegistry: session.contracts.workerRegistry, jobId, datasetId, fromBlock }).catch((err: unknown) => {
    if (err instanceof KeySharingError) throw taskError(err.message, err);
    throw err;
  });

  const store = await openContentStore(args.dataDir);
  try {
    let key: Uint8Array;
    try {
      key = (await openOwnDatasetKey({ registry, store, datasetId, encryptionPrivateKey: ownKey.privateKey, fromBlock })).key;
    } catch (err) {
      if (err instanceof NotAuthorizedError) {
        throw taskError(
          `dataset ${datasetId}'s key envelopes hold no entry for the public key ${ownKey.publicKey} of ${ENCRYPTION_KEY_ENV}: the key was not sealed for you (contribute with ${ENCRYPTION_KEY_ENV} set, or use the key you contributed with)`,
          err,
        );
      }
      throw taskError(`cannot recover dataset ${datasetId}'s key: ${(err as Error).message}`, err);
    }
    let result;
    try {
      result = await shareDatasetKey({
        registry: registry.connect(signer),
        store,
        datasetId,
        datasetKey: key,
        recipients: readers.recipients,
        fromBlock,
        txSender: new TxSender({ signer, interfaces: PROTOCOL_INTERFACES, maxAttempts: 3 }),
      });
    } catch (err) {
      if (err instanceof KeySharingError) throw taskError(err.message, err);
      throw err;
    } finally {
      key.fill(0);
    }

    const added = new Set(result.added);
    const skipped = new Map(result.skipped.map((s) => [s.address, s.reason]));
    const rows: ShareRow[] = [
      ...readers.recipients.map((r): ShareRow => {
        if (added.has(r.address)) return { worker: r.address, partitionIndex: r.partitionIndex, outcome: "added" };
        const reason = skipped.get(r.address);
        if (reason !== undefined) return { worker: r.address, partitionIndex: r.partitionIndex, outcome: "skipped", detail: reason };
        return { worker: r.address, partitionIndex: r.partitionIndex, outcome: "already shared" };
      }),
      ...readers.withoutKey.map((w): ShareRow => ({ worker: w.address, partitionIndex: w.partitionIndex, outcome: "no encryption key", detail: w.reason })),
      ...readers.dropped.map((w): ShareRow => ({ worker: w.address, partitionIndex: w.partitionIndex, outcome: "dropped", detail: "dropped from the job" })),
    ].sort((a, b) => a.partitionIndex - b.partitionIndex);

    const title =
      result.txHash === undefined
        ? `Dataset ${datasetId}: nothing new to share for job ${jobId}`
        : `Shared dataset ${datasetId}'s key with ${result.added.length} worker(s) of job ${jobId}`;
    printFields(title, [
      ["partitions", `${readers.partitions.join(", ")} of job ${jobId} train on it`],
      ...rows.map((r) => [`  partition ${r.partitionIndex}`, `${r.worker} ${r.outcome}${r.detail === undefined ? "" : ` (${r.detail})`}`] as const),
      ...(readers.unfilled.length === 0 ? [] : ([["not enrolled yet", `partition(s) ${readers.unfilled.join(", ")}: run data share again once they enroll`]] as const)),
      ["envelopes CID", `${result.envelopesCid} (${result.recipients.length} recipients)`],
      ["transaction", result.txHash ?? "(none: nobody new to share with)"],
      ["store", describeStore(store, args.dataDir)],
    ]);
    return {
      datasetId,
      jobId,
      partitions: readers.partitions,
      rows,
      added: result.added,
      recipients: result.recipients,
      envelopesCid: result.envelopesCid,
      ...(result.txHash === undefined ? {} : { txHash: result.txHash }),
      unfilled: readers.unfilled,
    };
  } finally {
    await store.close();
  }
}
