import { ZeroHash, type Provider } from "ethers";
import type { DataRegistry } from "../../../typechain-types/index.js";
import { payloadArgs, type EventPayload } from "../chain/EventPayload.js";
import type { TxSender } from "../chain/TxSender.js";
import { ContractRevertError, UnrecoverableError } from "../errors.js";
import { getJson, type ContentStore } from "../ipfs/ContentStore.js";
import { silentLogger, type Logger } from "../logger.js";
import type { AcceptedSamples } from "./AcceptedSamples.js";
import { decryptDataset } from "./DatasetCipher.js";
import { NotAuthorizedError } from "./DatasetError.js";
import { ValidationReason, type DatasetValidator, type ValidationVerdict } from "./DatasetValidator.js";
import { openEnvelope, parseKeyEnvelopeDocument } from "./KeyEnvelopes.js";
import { DatasetStatus, cidFromBytes } from "./OnChainDataset.js";

/** The DataRegistry events a validator acts on. */
export const VALIDATION_EVENTS = ["DatasetContributed", "KeyEnvelopesPublished"] as const;

/** What became of one event; the queue job's return value. */
export type ValidationOutcome =
  | {
      readonly datasetId: string;
      readonly status: "voted";
      readonly accept: boolean;
      readonly reasonCode: number;
      readonly details: string;
      readonly txHash: string;
      readonly gasUsed: string;
      /** This vote settled the dataset (the last validator holding stake voted); otherwise a keeper finalizes after the window. */
      readonly decided: boolean;
    }
  | { readonly datasetId: string; readonly status: "skipped"; readonly reason: ValidationSkipReason; readonly detail?: string };

export type ValidationSkipReason =
  | "not-validator" // this worker is not a staked CAP_VALIDATE worker now
  | "not-drawn" // the dataset's sortition did not draw this validator: only the drawn committee votes
  | "own-dataset" // the contract forbids voting on one's own contribution
  | "already-voted" // a replayed or restarted job
  | "decided" // the dataset left Pending (decided, finalized, withdrawn) before this vote
  | "voting-closed" // past the voting deadline
  | "no-envelopes" // contributed without key envelopes; a KeyEnvelopesPublished event will follow
  | "not-authorized"; // the contributor did not seal the key for this worker

export interface ValidationProcessorOptions {
  readonly registry: DataRegistry;
  readonly txSender: TxSender;
  readonly provider: Provider;
  readonly store: ContentStore;
  readonly validator: DatasetValidator;
  readonly acceptedSamples: AcceptedSamples;
  /** The worker's account (its signing key's address). */
  readonly workerAddress: string;
  /** Its encryption private key, whose public key it registered in the WorkerRegistry. */
  readonly encryptionPrivateKey: string;
  /** First block to search for a dataset's `DatasetContributed` when a later event names it. */
  readonly fromBlock?: number;
  readonly logger?: Logger;
}

/** What the keeper did with a dataset this validator voted on once its voting window ended. */
export type FinalizeOutcome =
  | { readonly datasetId: string; readonly status: "finalized"; readonly txHash: string; readonly gasUsed: string }
  | { readonly datasetId: string; readonly status: "settled" }; // decided by someone else meanwhile

/**
 * Gas limit of every vote and finalize. A vote estimated while it does not settle becomes the
 * settling one when the other validators' votes land first, and settling pays the contributor and
 * the winners and slashes dissenters (one WorkerRegistry call each, up to MAX_BALLOTS = 40
 * ballots): an estimate taken for the cheap path would run out of gas. Unused gas is refunded.
 */
export const VOTE_GAS_LIMIT = 3_000_000n;

/** Views that must see the latest block's hash (a committee seed) run in the pending block. */
const PENDING = { blockTag: "pending" } as const;

/** Reverts that mean "someone else got there first", not a fault. */
const LOST_RACE: Record<string, ValidationSkipReason> = {
  DataRegistryAlreadyVoted: "already-voted",
  DataRegistryNotPending: "decided",
  DataRegistryBallotFull: "decided",
  DataRegistryVotingClosed: "voting-closed",
  DataRegistryNotDrawn: "not-drawn",
};

/**
 * A validator's work on one DataRegistry event: reads the dataset's on-chain state first (so a
 * replayed or restarted job never votes twice), learns whether the dataset's sortition drew it
 * (`isOnCommittee` in the pending block, which can read the contribution block's hash; it
 * re-anchors a seed that expired undrawn), and only then opens its own key envelope,
 * decrypts the dataset, runs the DatasetValidator against the on-chain claim (contributor
 * included) and the sample hashes of the datasets it saw accepted, and votes (simulated first)
 * with the verdict's reason code. Datasets it voted on that are still Pending are finalized by
 * `finalizeDue` once their voting window ended.
 */
export class ValidationProcessor {
  readonly #o: ValidationProcessorOptions;
  readonly #logger: Logger;
  readonly #me: string;
  /** Datasets this validator voted on that were still Pending, by id, with their voting deadline. */
  readonly #awaitingDecision = new Map<bigint, bigint>();

  constructor(options: ValidationProcessorOptions) {
    this.#o = options;
    this.#logger = options.logger ?? silentLogger;
    this.#me = options.workerAddress;
  }

  async process(payload: EventPayload): Promise<ValidationOutcome> {
    const { registry } = this.#o;
    if (!(VALIDATION_EVENTS as readonly string[]).includes(payload.event)) {
      throw new UnrecoverableError(`ValidationProcessor: ${payload.source}.${payload.event} is not a validation event`);
    }
    const args = payloadArgs(payload, registry.interface);
    const datasetId = args.datasetId as bigint;
    const log = this.#logger.child({ datasetId: datasetId.toString(), event: payload.event, txHash: payload.txHash });
    const skip = (reason: ValidationSkipReason, detail?: string): ValidationOutcome => {
      log.info({ reason, detail }, "validation skipped");
      return { datasetId: datasetId.toString(), status: "skipped", reason, ...(detail === undefined ? {} : { detail }) };
    };

    await this.#settleCandidates();
    const [dataset, voted, isValidator, latest] = await Promise.all([
      registry.datasetOf(datasetId),
      registry.hasVoted(datasetId, this.#me),
      registry.isValidator(this.#me),
      this.#o.provider.getBlock("latest"),
    ]);
    if (voted) return skip("already-voted");
    const envelopesCidBytes = args.keyEnvelopesCid as string;
    if (envelopesCidBytes === "0x") return skip("no-envelopes");
    const datasetCid = payload.event === "DatasetContributed" ? cidFromBytes(args.cid as string) : await this.#datasetCidOf(datasetId);
    const envelopesCid = cidFromBytes(envelopesCidBytes);

    if (Number(dataset.status) === DatasetStatus.Accepted) {
      await this.#learnAccepted(datasetCid, envelopesCid, log);
      return skip("decided", "already accepted; its sample hashes were recorded");
    }
    if (Number(dataset.status) !== DatasetStatus.Pending) return skip("decided");
    if (!isValidator) return skip("not-validator");
    if (dataset.contributor.toLowerCase() === this.#me.toLowerCase()) return skip("own-dataset");
    if (dataset.votingDeadline !== 0n && BigInt(latest?.timestamp ?? 0) > dataset.votingDeadline) return skip("voting-closed");
    if (!(await this.#isDrawn(datasetId, log))) return skip("not-drawn");

    let verdict: ValidationVerdict;
    try {
      verdict = await this.#o.validator.validateStored({
        store: this.#o.store,
        datasetCid,
        envelopesCid,
        encryptionPrivateKey: this.#o.encryptionPrivateKey,
        claim: { commitment: dataset.commitment, sampleCount: Number(dataset.sampleCount), contributor: dataset.contributor, schemaId: dataset.schemaId },
        acceptedSampleHashes: await this.#o.acceptedSamples.all(),
      });
    } catch (err) {
      if (err instanceof NotAuthorizedError) return skip("not-authorized", err.message);
      throw err;
    }
    if (verdict.accept && verdict.sampleHashes !== undefined) await this.#o.acceptedSamples.addCandidate(datasetId, verdict.sampleHashes);
    log.info({ accept: verdict.accept, reasonCode: verdict.reasonCode, details: verdict.details }, "dataset checked");

    try {
      const sent = await this.#o.txSender.send(registry, "vote", [datasetId, verdict.accept, verdict.reasonCode], { gasLimit: VOTE_GAS_LIMIT, simulateAt: "pending" });
      const decided = sent.receipt.logs.some((l) => registry.interface.parseLog(l)?.name === "DatasetDecided");
      log.info({ txHash: sent.hash, gasUsed: sent.gasUsed.toString(), decided }, "voted");
      if (!decided) this.#awaitingDecision.set(datasetId, (await registry.datasetOf(datasetId)).votingDeadline);
      return {
        datasetId: datasetId.toString(),
        status: "voted",
        accept: verdict.accept,
        reasonCode: verdict.reasonCode,
        details: verdict.details,
        txHash: sent.hash,
        gasUsed: sent.gasUsed.toString(),
        decided,
      };
    } catch (err) {
      const lost = err instanceof ContractRevertError && err.revert !== null ? LOST_RACE[err.revert.name] : undefined;
      if (lost !== undefined) return skip(lost, (err as Error).message);
      // Simulated fine but reverted once mined: another vote decided the dataset in between.
      if (err instanceof ContractRevertError) {
        const [after, votedNow] = await Promise.all([registry.datasetOf(datasetId), registry.hasVoted(datasetId, this.#me)]);
        if (votedNow) return skip("already-voted", err.message);
        if (Number(after.status) !== DatasetStatus.Pending) return skip("decided", err.message);
      }
      throw err;
    }
  }

  /** Datasets this validator voted on that still wait for their window to end. */
  get awaitingDecision(): ReadonlyMap<bigint, bigint> {
    return this.#awaitingDecision;
  }

  /**
   * The keeper: finalizes every dataset this validator voted on whose voting window ended (by
   * chain time) and that nobody settled yet, so that honest votes are always counted and paid.
   */
  async finalizeDue(): Promise<FinalizeOutcome[]> {
    if (this.#awaitingDecision.size === 0) return [];
    const { registry } = this.#o;
    const now = BigInt((await this.#o.provider.getBlock("latest"))?.timestamp ?? 0);
    const outcomes: FinalizeOutcome[] = [];
    for (const [datasetId, deadline] of [...this.#awaitingDecision]) {
      if (now <= deadline) continue;
      const log = this.#logger.child({ datasetId: datasetId.toString() });
      if (Number((await registry.datasetOf(datasetId)).status) !== DatasetStatus.Pending) {
        this.#awaitingDecision.delete(datasetId);
        outcomes.push({ datasetId: datasetId.toString(), status: "settled" });
        continue;
      }
      try {
        const sent = await this.#o.txSender.send(registry, "finalize", [datasetId], { gasLimit: VOTE_GAS_LIMIT });
        log.info({ txHash: sent.hash, gasUsed: sent.gasUsed.toString() }, "finalized after the voting window");
        outcomes.push({ datasetId: datasetId.toString(), status: "finalized", txHash: sent.hash, gasUsed: sent.gasUsed.toString() });
      } catch (err) {
        if (!(err instanceof ContractRevertError) || err.revert?.name !== "DataRegistryNotPending") throw err;
        outcomes.push({ datasetId: datasetId.toString(), status: "settled" });
      }
      this.#awaitingDecision.delete(datasetId);
    }
    return outcomes;
  }

  /**
   * Whether the sortition drew this validator. The seed is the contribution block's hash, readable by
   * anything that runs in a later block: views and simulations run in the pending block. If the seed
   * expired undrawn (256 blocks), this validator re-anchors it with `drawCommittee` and asks again.
   */
  async #isDrawn(datasetId: bigint, log: Logger): Promise<boolean> {
    const { registry } = this.#o;
    for (let attempt = 0; attempt < 3; ++attempt) {
      if ((await registry.committeeSeed(datasetId, PENDING)) !== ZeroHash) return registry.isOnCommittee(datasetId, this.#me, PENDING);
      try {
        const sent = await this.#o.txSender.send(registry, "drawCommittee", [datasetId], { simulateAt: "pending" });
        log.info({ txHash: sent.hash }, "committee seed expired undrawn: re-anchored");
      } catch (err) {
        const name = err instanceof ContractRevertError ? err.revert?.name : undefined;
        if (name !== "DataRegistryCommitteeAlreadyDrawn" && name !== "DataRegistrySeedNotReady") throw err;
      }
    }
    throw new Error(`dataset ${datasetId}: its committee seed is still unknown`);
  }

  /** Candidates whose dataset was decided since join the accepted set, or are dropped. */
  async #settleCandidates(): Promise<void> {
    const { acceptedSamples, registry } = this.#o;
    for (const id of await acceptedSamples.candidates()) {
      const status = Number((await registry.datasetOf(id)).status);
      if (status !== DatasetStatus.Pending) await acceptedSamples.settle(id, status === DatasetStatus.Accepted);
    }
  }

  /** Records the sample hashes of a dataset decided without this validator's vote, when it can read it. */
  async #learnAccepted(datasetCid: string, envelopesCid: string, log: Logger): Promise<void> {
    try {
      const document = parseKeyEnvelopeDocument(await getJson(this.#o.store, envelopesCid));
      const key = openEnvelope(document, this.#o.encryptionPrivateKey);
      const plaintext = await decryptDataset(await this.#o.store.get(datasetCid), key);
      await this.#o.acceptedSamples.addAccepted(await this.#o.validator.sampleHashesOf(plaintext));
    } catch (err) {
      log.info({ err: (err as Error).message }, "accepted dataset not readable here; its samples stay unknown");
    }
  }

  async #datasetCidOf(datasetId: bigint): Promise<string> {
    const { registry } = this.#o;
    const events = await registry.queryFilter(registry.filters.DatasetContributed(datasetId), this.#o.fromBlock ?? 0);
    if (events.length === 0) throw new UnrecoverableError(`no DatasetContributed event for dataset ${datasetId}`);
    return cidFromBytes(events[0].args.cid);
  }
}

