import type { Signer } from "ethers";
import type { DataRegistry, TesseraToken, WorkerRegistry } from "../../typechain-types/index.js";
import { contributedDatasetId, currentValidatorRecipients, prepareContribution } from "../../worker/src/data/DataRegistryClient.js";
import { DatasetError } from "../../worker/src/data/DatasetError.js";
import { parseSamplesFile, type SamplesFileInput } from "../../worker/src/data/parsers/SamplesFile.js";
import { builtinSchema, builtinSchemaNames, type BuiltinSchema } from "../../worker/src/data/schema/BuiltinSchemas.js";
import { commitmentOf } from "../../worker/src/data/DatasetFormat.js";
import { normalizePublicKey } from "../../worker/src/data/KeyEnvelopes.js";
import { encodeSamples, type Samples } from "../../worker/src/data/schema/DatasetEncoding.js";
import { formatTsr } from "./Amounts.js";
import { addAndReadBack } from "./IpfsUpload.js";

/** A file read under a schema in this browser: its samples, and how many of each class (what a person checks first). */
export interface CheckedDataset {
  readonly schemaName: string;
  readonly schema: BuiltinSchema;
  readonly fileName: string;
  readonly samples: Samples;
  /** Class schemas: samples per class, in the schema's order; regression schemas: empty. */
  readonly classCounts: readonly { readonly label: string; readonly count: number }[];
}

/** The schemas a page can read files of without a fetch: the built-in ones with no tokenizer (text needs the tasks). */
export function pageSchemaNames(): string[] {
  return builtinSchemaNames().filter((name) => builtinSchema(name)!.document.features.tokenizer === undefined);
}

/**
 * Reads a file a person chose under a built-in schema, here in the browser (the parsers the tasks and the validators
 * use): a file that does not fit says why in a sentence naming the file and the schema, and nothing leaves the page.
 */
export function checkDatasetFile(schemaName: string, file: SamplesFileInput): CheckedDataset {
  const schema = builtinSchema(schemaName);
  if (schema === undefined) throw new Error(`There is no built-in dataset schema named ${schemaName}.`);
  let samples: Samples;
  try {
    samples = parseSamplesFile(schema, file);
  } catch (err) {
    if (err instanceof DatasetError) throw new Error(`The file ${file.name} does not fit ${schemaName}: ${err.message}`, { cause: err });
    throw err;
  }
  if (samples.count === 0) throw new Error(`The file ${file.name} holds no samples.`);
  const label = schema.document.label;
  const classCounts =
    label.kind === "class"
      ? label.classes.map((name, i) => ({ label: name, count: (samples.labels as Uint16Array).reduce((n, l) => n + (l === i ? 1 : 0), 0) }))
      : [];
  return { schemaName, schema, fileName: file.name, samples, classCounts };
}

export interface SubmitDatasetOptions {
  readonly dataRegistry: DataRegistry;
  readonly token: TesseraToken;
  readonly workerRegistry: WorkerRegistry;
  /** The contributor's wallet: it signs the bond's permit and sends `contribute`. */
  readonly signer: Signer;
  readonly checked: CheckedDataset;
  readonly license: string;
  /** Kubo RPC API the ciphertext and envelopes are uploaded through (IpfsUpload.ts). */
  readonly ipfsApi: string;
  /** The IPFS gateway the page reads through: each upload is read back from it before anything is signed. */
  readonly gateway: string;
  /** The deployment's first block (validators are found from their registrations since). */
  readonly fromBlock: number;
  /**
   * The contributor's page encryption key (PageEncryptionKey.ts), asked once the checks passed: the dataset's key is sealed for it too, so that the
   * contributor can share it later with the workers of training jobs (DatasetKeyShares.ts). Without one, only the
   * validators can ever read the dataset.
   */
  readonly ownKey?: () => Promise<{ readonly publicKey: string }>;
  /** Each step as it starts, for the page to show. */
  readonly onStep?: (step: SubmissionStep, detail?: string) => void;
}

export type SubmissionStep = "unlocking-key" | "encrypting" | "uploading" | "reading-back" | "signing-permit" | "sending" | "sent";

export interface SubmittedDataset {
  readonly datasetId: bigint;
  readonly txHash: string;
  readonly datasetCid: string;
  readonly envelopesCid: string;
  readonly commitment: string;
  readonly bond: bigint;
  /** The validators the dataset key was sealed for. */
  readonly recipients: readonly string[];
  /** Whether it was sealed for the contributor's own key too (`ownKey`). */
  readonly selfSealed: boolean;
}

/**
 * A contribution from a page, as the `data contribute` task makes it: checked before anything is signed (a license,
 * validators to seal the key for, the bond in the wallet, not the same dataset twice), then the canonical samples
 * encrypted in this browser under a fresh key sealed for every current validator (and the contributor's own page key,
 * when given), the ciphertext and envelopes
 * uploaded (the node's CIDs checked against the bytes), the bond paid by a permit the wallet signs, and `contribute`
 * sent. Only ciphertext leaves the page.
 */
export async function submitDataset(options: SubmitDatasetOptions): Promise<SubmittedDataset> {
  const { dataRegistry, token, workerRegistry, signer, checked } = options;
  const step = options.onStep ?? (() => undefined);
  if (options.license.trim() === "") throw new Error("Name the license the dataset is given under (for example CC-BY-4.0).");
  const account = await signer.getAddress();
  const [recipients, bond, balance] = await Promise.all([
    currentValidatorRecipients(workerRegistry, dataRegistry, options.fromBlock),
    dataRegistry.params().then((p) => p.bond),
    token.balanceOf(account),
  ]);
  if (recipients.length === 0) throw new Error("No validator is registered now (staked, validating, with an encryption key): nobody could read the dataset, so it was not sent.");
  if (balance < bond) throw new Error(`The bond is ${formatTsr(bond)} and this account holds ${formatTsr(balance)}.`);
  // The registry refuses the same samples twice from one account: said before anything is uploaded or signed.
  const existing = await dataRegistry.datasetIdOf(account, commitmentOf(encodeSamples(checked.schema, checked.samples)));
  if (existing !== 0n) throw new Error(`This account already contributed this exact dataset (dataset ${existing}).`);
  if (options.ownKey !== undefined) step("unlocking-key");
  const own = options.ownKey === undefined ? undefined : normalizePublicKey((await options.ownKey()).publicKey);
  // A validator that registered the contributor's own public key (it is public once one contribution sealed for it)
  // cannot open the envelope anyway: the entry is the contributor's.
  const validators = own === undefined ? recipients : recipients.filter((r) => r.publicKey.toLowerCase() !== own);
  const sealFor = own === undefined ? validators : [...validators, { address: account, publicKey: own }];
  const selfSealed = own !== undefined;
  step("encrypting", `${checked.samples.count} samples, the key sealed for ${validators.length} validators${selfSealed ? " and for you" : ""}`);
  let uploads = 0;
  const prepared = await prepareContribution({
    registry: dataRegistry,
    token,
    signer,
    store: {
      add: async (bytes) => {
        const what = uploads++ === 0 ? "the encrypted dataset" : "the key envelopes";
        step("uploading", what);
        // Read back before anything is signed: a node that keeps nothing would cost the bond.
        return addAndReadBack(options.ipfsApi, options.gateway, bytes, uploads === 1 ? "dataset.enc" : "envelopes.json", what, () => step("reading-back", what));
      },
    },
    source: { schema: checked.schema, samples: checked.samples },
    recipients: sealFor,
    license: options.license.trim(),
    onPermit: () => step("signing-permit", formatTsr(bond)),
  });
  step("sending");
  const tx = await dataRegistry.connect(signer).contribute(prepared.args, prepared.permit);
  const receipt = await tx.wait();
  const datasetId = contributedDatasetId(dataRegistry, receipt);
  step("sent", datasetId.toString());
  return {
    datasetId,
    txHash: tx.hash,
    datasetCid: prepared.contribution.datasetCid,
    envelopesCid: prepared.contribution.envelopesCid,
    commitment: prepared.contribution.commitment,
    bond: prepared.bond,
    recipients: validators.map((r) => r.address),
    selfSealed,
  };
}
