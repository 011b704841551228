import type { Signer } from "ethers";
import type { DataRegistry } from "../../../typechain-types/index.js";
import { TxSender } from "../chain/TxSender.js";
import { ContractRevertError } from "../errors.js";
import { addJson, getJson, type ContentStore } from "../ipfs/ContentStore.js";
import { openEnvelope, parseKeyEnvelopeDocument, sealKeyEnvelopes, type KeyEnvelopeDocument, type KeyRecipient } from "./KeyEnvelopes.js";
import {
  KeySharingError,
  checkDatasetKey,
  checkEnvelopeDocument,
  keyShareRefusal,
  locateDataset,
  planKeyShare,
  type DatasetLocation,
} from "./KeyRecipients.js";
import { cidToBytes } from "./OnChainDataset.js";

/**
 * Sharing a dataset's key after its contribution, from the tasks (over a content store): with the workers of a
 * training job that train on it (`jobKeyRecipients`, KeyRecipients.ts), or with anyone else the contributor chooses.
 * The contributor reseals the key for every recipient of the dataset's current key-envelope document plus the new
 * ones, pins the new document and publishes its CID with `DataRegistry.publishKeyEnvelopes` (contributor only). To do
 * that later than at contribution, the contributor seals the key for itself too (an envelope under its own
 * encryption key, `data contribute` with TESSERA_ENCRYPTION_KEY) and recovers it with `openOwnDatasetKey`. The page
 * does the same over a gateway and a wallet (client DatasetKeyShares.ts).
 */

/** Reads and checks the key-envelope document at the dataset's current CID against its on-chain commitment. */
async function readDocument(store: ContentStore, location: DatasetLocation): Promise<KeyEnvelopeDocument | undefined> {
  if (location.envelopesCid === undefined) return undefined;
  return checkEnvelopeDocument(parseKeyEnvelopeDocument(await getJson(store, location.envelopesCid)), location);
}

export interface OpenOwnDatasetKeyOptions {
  readonly registry: DataRegistry;
  readonly store: ContentStore;
  readonly datasetId: bigint;
  /** The contributor's encryption private key (the one `data contribute` sealed the key for). */
  readonly encryptionPrivateKey: string | Uint8Array;
  readonly fromBlock?: number;
}

export interface OwnDatasetKey {
  readonly key: Uint8Array;
  readonly location: DatasetLocation;
  readonly document: KeyEnvelopeDocument;
}

/**
 * The contributor recovers its dataset's AES key from the envelope it sealed for itself. Throws
 * NotAuthorizedError when the current document has no entry for that key (contributed without an
 * encryption key), KeyEnvelopeError when the entry does not open.
 */
export async function openOwnDatasetKey(options: OpenOwnDatasetKeyOptions): Promise<OwnDatasetKey> {
  const location = await locateDataset(options.registry, options.datasetId, options.fromBlock);
  const document = await readDocument(options.store, location);
  if (document === undefined) {
    throw new KeySharingError(`dataset ${options.datasetId} has no key envelopes: its key was never sealed for anyone, the contributor included`);
  }
  return { key: openEnvelope(document, options.encryptionPrivateKey), location, document };
}

export interface ShareDatasetKeyOptions {
  /** The DataRegistry, connected to the contributor's signer (only the contributor may publish). */
  readonly registry: DataRegistry;
  readonly store: ContentStore;
  readonly datasetId: bigint;
  /** The dataset's AES key (e.g. from `openOwnDatasetKey`). */
  readonly datasetKey: Uint8Array;
  /** Who should be able to read the dataset, with their registered encryption keys. */
  readonly recipients: readonly KeyRecipient[];
  readonly fromBlock?: number;
  /**
   * Decrypt the dataset with `datasetKey` before resealing it (default true): a wrong key would
   * otherwise replace every recipient's working envelope with one that opens to garbage.
   */
  readonly verifyKey?: boolean;
  /** Sends the transaction (default: a TxSender for the registry's signer). */
  readonly txSender?: TxSender;
}

export interface ShareResult {
  /** CID of the key-envelope document now current (unchanged when nothing was added). */
  readonly envelopesCid: string;
  /** Every recipient of that document. */
  readonly recipients: string[];
  /** The recipients added by this call. */
  readonly added: string[];
  /** Recipients skipped: their public key is already in the document under another address. */
  readonly skipped: { address: string; reason: string }[];
  /** The `publishKeyEnvelopes` transaction; undefined when nothing was new. */
  readonly txHash?: string;
}

/**
 * Adds `recipients` to the dataset's key envelopes (`planKeyShare`: who is new, who is skipped): keeps every entry of
 * the current document (resealed), adds an entry for each new recipient, pins the new document and publishes its
 * CID. Sends nothing when nobody is new. The registry's refusal (e.g. `DataRegistryNotContributor` for anyone but the
 * contributor) is a KeySharingError naming the custom error.
 */
export async function shareDatasetKey(options: ShareDatasetKeyOptions): Promise<ShareResult> {
  const { registry, store, datasetId, datasetKey } = options;
  const location = await locateDataset(registry, datasetId, options.fromBlock);
  const plan = planKeyShare(await readDocument(store, location), options.recipients);
  if (plan.added.length === 0) {
    return { envelopesCid: location.envelopesCid ?? "", recipients: plan.recipients, added: [], skipped: plan.skipped };
  }

  if (options.verifyKey !== false) await checkDatasetKey(await store.get(location.datasetCid), datasetKey, location);
  const sealed = sealKeyEnvelopes(datasetKey, location.commitment, plan.sealFor, location.contributor);
  const envelopesCid = await addJson(store, sealed);
  await store.pin(envelopesCid);

  const txSender = options.txSender ?? new TxSender({ signer: signerOf(registry), interfaces: [registry.interface], maxAttempts: 3 });
  let txHash: string;
  try {
    txHash = (await txSender.send(registry, "publishKeyEnvelopes", [datasetId, cidToBytes(envelopesCid)])).hash;
  } catch (err) {
    if (err instanceof ContractRevertError) throw keyShareRefusal(err, location);
    throw err;
  }
  return { envelopesCid, recipients: plan.recipients, added: plan.added.map((r) => r.address), skipped: plan.skipped, txHash };
}

function signerOf(registry: DataRegistry): Signer {
  const runner = registry.runner as Partial<Signer> | null;
  if (runner === null || typeof runner.getAddress !== "function" || runner.provider == null) {
    throw new KeySharingError("shareDatasetKey: the DataRegistry must be connected to the contributor's signer");
  }
  return runner as Signer;
}
