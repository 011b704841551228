import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { contributedDatasetId, currentValidatorRecipients, prepareContribution } from "../../worker/src/data/DataRegistryClient.js";
import { formatTsr, parseUnits18 } from "../lib/Amounts.js";
import { describeStore, openContentStore } from "../lib/ContentStores.js";
import { dataRegistryOf } from "../lib/DataRegistries.js";
import { ENCRYPTION_KEY_ENV, encryptionKeyFromEnv } from "../lib/EncryptionKeys.js";
import { printFields } from "../lib/Printer.js";
import { Session } from "../lib/Session.js";
import { samplesOption, schemaOption } from "../lib/SamplesOptions.js";
import { taskError } from "../lib/TaskError.js";

interface ContributeArgs {
  deployment: string;
  dataDir: string;
  account: string;
  file: string | undefined;
  labels: string;
  schema: string;
  license: string;
  bond: string;
}

export interface ContributeResult {
  datasetId: bigint;
  txHash: string;
  contributor: string;
  datasetCid: string;
  envelopesCid: string;
  commitment: string;
  sampleCount: number;
  schemaId: string;
  bond: bigint;
  /** The validators the key was sealed for. */
  recipients: string[];
  /** The encryption public key (from TESSERA_ENCRYPTION_KEY) the key was also sealed for, so that the contributor can re-share it; undefined without one. */
  contributorKey?: string;
}

/**
 * Contributes a dataset file: parses and encodes it, commits to it, encrypts it, pins the
 * ciphertext, seals its key for every validator registered now, pins the envelopes, and calls
 * `contribute` with the bond paid by permit. No plaintext leaves this process. With
 * TESSERA_ENCRYPTION_KEY set, the key is also sealed for the contributor itself, so that it can
 * share it later (`data share`) without keeping it anywhere else.
 */
export default async function contribute(args: ContributeArgs, hre: HardhatRuntimeEnvironment): Promise<ContributeResult> {
  if (args.file === undefined || args.file.trim() === "") throw taskError("--file is required (a .csv, .json, .jsonl, .npy or .idx file, or a folder of class folders of images)");
  if (args.license.trim() === "") throw taskError("--license must name a license (e.g. CC-BY-4.0)");
  const path = resolve(args.file);
  if (!existsSync(path)) throw taskError(`--file: ${path} does not exist`);
  const labelsPath = args.labels.trim() === "" ? undefined : resolve(args.labels);
  if (labelsPath !== undefined && !existsSync(labelsPath)) throw taskError(`--labels: ${labelsPath} does not exist`);
  const maxBond = args.bond.trim() === "" ? undefined : parseUnits18(args.bond, "--bond");
  const ownKey = encryptionKeyFromEnv();

  const session = await Session.open(hre, args.deployment);
  const registry = await dataRegistryOf(session);
  const signer = await session.signer(args.account);
  const { token, workerRegistry } = session.contracts;
  const bond = (await registry.params()).bond;
  if (maxBond !== undefined && maxBond < bond) throw taskError(`--bond ${formatTsr(maxBond)} is below the registry's bond of ${formatTsr(bond)}`);
  const balance = await token.balanceOf(signer.address);
  if (balance < bond) throw taskError(`${signer.address} holds ${formatTsr(balance)}, the bond is ${formatTsr(bond)}`);
  const recipients = await currentValidatorRecipients(workerRegistry, registry, session.deployment.startBlock);
  if (recipients.length === 0) throw taskError("no validator is registered (staked, CAP_VALIDATE, with an encryption key): nobody could read the dataset");
  // The contributor's own envelope; a validator entry under the same key already opens for it.
  const selfSealed = ownKey !== undefined && !recipients.some((r) => r.publicKey.toLowerCase() === ownKey.publicKey);
  const sealedFor = selfSealed ? [...recipients, { address: signer.address, publicKey: ownKey.publicKey }] : recipients;

  const store = await openContentStore(args.dataDir);
  try {
    const schema = await schemaOption(store, args.schema);
    const samples = await samplesOption(store, schema, "--file", path, labelsPath);
    const prepared = await prepareContribution({ registry, token, signer, store, source: { schema, samples }, recipients: sealedFor, license: args.license });
    const existing = await registry.datasetIdOf(signer.address, prepared.contribution.commitment);
    if (existing !== 0n) throw taskError(`you already registered this exact dataset as dataset ${existing}`);
    const receipt = await session.send(signer, registry, "contribute", [prepared.args, prepared.permit]);
    const datasetId = contributedDatasetId(registry, receipt);
    const { contribution } = prepared;
    printFields(`Contributed dataset ${datasetId} (${contribution.sampleCount} samples) from ${signer.address}`, [
      ["transaction", receipt.hash],
      ["dataset CID", `${contribution.datasetCid} (encrypted, AES-256-GCM)`],
      ["envelopes CID", `${contribution.envelopesCid} (key sealed for ${recipients.length} validators)`],
      [
        "your envelope",
        ownKey === undefined
          ? `none (set ${ENCRYPTION_KEY_ENV} to seal the key for yourself too and re-share it later with \`data share\`)`
          : `key sealed for your encryption key ${ownKey.publicKey}: \`data share\` can re-share it`,
      ],
      ["commitment", contribution.commitment],
      ["schema", `${schema.document.name} (id ${schema.id}, ${schema.cid})`],
      ["license", args.license],
      ["bond", `${formatTsr(bond)} (by permit)`],
      ["store", describeStore(store, args.dataDir)],
    ]);
    return {
      datasetId,
      txHash: receipt.hash,
      contributor: signer.address,
      datasetCid: contribution.datasetCid,
      envelopesCid: contribution.envelopesCid,
      commitment: contribution.commitment,
      sampleCount: contribution.sampleCount,
      schemaId: schema.id,
      bond,
      recipients: recipients.map((r) => r.address),
      ...(ownKey === undefined ? {} : { contributorKey: ownKey.publicKey }),
    };
  } finally {
    await store.close();
  }
}
