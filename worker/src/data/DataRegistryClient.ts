import { getBytes, hexlify, type ContractTransactionReceipt, type Signer } from "ethers";
import type { DataRegistry, TesseraToken, WorkerRegistry } from "../../../typechain-types/index.js";
import { NO_PERMIT, signPermit, type PermitArgs } from "../chain/Permit.js";
import type { ContentStore } from "../ipfs/ContentStore.js";
import { contributeDataset, type DatasetContribution, type DatasetSource } from "./DatasetContribution.js";
import { normalizePublicKey, type KeyRecipient } from "./KeyEnvelopes.js";
import { contributionArgsOf, type ContributionArgs } from "./OnChainDataset.js";

const ENCRYPTION_KEY_BYTES = 33;

/**
 * The validators a contributor should seal its dataset key for: every worker that registered or updated its profile
 * since `fromBlock` and that the DataRegistry counts as a validator now, with the encryption public key it registered.
 * Registering is open to anyone with the stake, and the registry checks a key's length only, so what would make sealing
 * fail for everyone is left out: a key that is not a point on the curve, and a key another validator registered
 * first (a copy: only the first, by the time of the event that set it, gets an envelope for it).
 */
export async function currentValidatorRecipients(
  workerRegistry: WorkerRegistry,
  dataRegistry: DataRegistry,
  fromBlock = 0,
): Promise<KeyRecipient[]> {
  const [registered, updated] = await Promise.all([
    workerRegistry.queryFilter(workerRegistry.filters.WorkerRegistered(), fromBlock),
    workerRegistry.queryFilter(workerRegistry.filters.WorkerProfileUpdated(), fromBlock),
  ]);
  // Where each worker first set each key it registered, in chain order.
  const events = [...registered, ...updated].sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);
  const firstSet = new Map<string, number>();
  events.forEach((e, position) => {
    const id = `${e.args.worker}:${hexlify(e.args.encryptionPublicKey).toLowerCase()}`;
    if (!firstSet.has(id)) firstSet.set(id, position);
  });
  const workers = [...new Set(events.map((e) => e.args.worker))];
  const infos = await Promise.all(workers.map(async (worker) => [await workerRegistry.workerOf(worker), await dataRegistry.isValidator(worker)] as const));
  const candidates: { address: string; key: string; since: number }[] = [];
  workers.forEach((worker, i) => {
    const [info, isValidator] = infos[i]!;
    if (!isValidator || getBytes(info.encryptionPublicKey).length !== ENCRYPTION_KEY_BYTES) return;
    try {
      const key = normalizePublicKey(hexlify(info.encryptionPublicKey));
      candidates.push({ address: worker, key, since: firstSet.get(`${worker}:${hexlify(info.encryptionPublicKey).toLowerCase()}`) ?? Number.MAX_SAFE_INTEGER });
    } catch {
      // not a point on the curve: nobody holds its private key
    }
  });
  // A key held by several validators is sealed once, for the one that set it first (the others copied it).
  const recipients: KeyRecipient[] = [];
  const keys = new Set<string>();
  for (const c of candidates.sort((a, b) => a.since - b.since)) {
    if (keys.has(c.key)) continue;
    keys.add(c.key);
    recipients.push({ address: c.address, publicKey: c.key });
  }
  return recipients;
}

export { NO_PERMIT, signPermit, type PermitArgs } from "../chain/Permit.js";

export interface PreparedContribution {
  readonly contribution: DatasetContribution;
  readonly args: ContributionArgs;
  /** Bond-by-permit for the registry (NO_PERMIT when the registry asks for no bond). */
  readonly permit: PermitArgs;
  readonly bond: bigint;
}

export interface PrepareContributionOptions {
  readonly registry: DataRegistry;
  readonly token: TesseraToken;
  readonly signer: Signer;
  /** Where the ciphertext and the envelopes are added (a store, or a page's upload to a Kubo API). */
  readonly store: Pick<ContentStore, "add">;
  readonly source: DatasetSource;
  readonly recipients: readonly KeyRecipient[];
  readonly license: string;
  /** Permit deadline, seconds since the epoch (default: one hour from the latest block). */
  readonly permitDeadline?: bigint;
  /** Return the dataset key (`contribution.keyHex`) so the contributor can share it later; never published. */
  readonly keepKey?: boolean;
  /** Called before the permit is asked of the signer (a wallet shows a prompt then). */
  readonly onPermit?: () => void;
}

/**
 * Encrypts and pins the dataset, seals its key for `recipients`, and signs a permit for the
 * registry's current bond: everything `contribute` needs, with no transaction sent yet.
 */
export async function prepareContribution(options: PrepareContributionOptions): Promise<PreparedContribution> {
  const contribution = await contributeDataset({
    store: options.store,
    source: options.source,
    recipients: options.recipients,
    contributor: await options.signer.getAddress(),
    ...(options.keepKey === true ? { keepKey: true } : {}),
  });
  const bond = (await options.registry.params()).bond;
  const latest = await options.signer.provider!.getBlock("latest");
  const deadline = options.permitDeadline ?? BigInt((latest?.timestamp ?? Math.floor(Date.now() / 1000)) + 3600);
  if (bond !== 0n) options.onPermit?.();
  const permit = bond === 0n ? NO_PERMIT : await signPermit(options.token, options.signer, await options.registry.getAddress(), bond, deadline);
  return { contribution, args: contributionArgsOf(contribution, options.license), permit, bond };
}

/** The dataset id of the `DatasetContributed` log in `receipt`. */
export function contributedDatasetId(registry: DataRegistry, receipt: ContractTransactionReceipt | { logs: readonly { topics: readonly string[]; data: string }[] } | null): bigint {
  for (const log of receipt?.logs ?? []) {
    const parsed = registry.interface.parseLog(log as { topics: string[]; data: string });
    if (parsed?.name === "DatasetContributed") return parsed.args.datasetId as bigint;
  }
  throw new Error("no DatasetContributed log in the receipt");
}
