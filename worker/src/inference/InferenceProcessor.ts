import { CID } from "multiformats/cid";
import { keccak256, type Provider } from "ethers";
import type { InferenceMarket, ModelRegistry, WorkerRegistry } from "../../../typechain-types/index.js";
import type { TxSender } from "../chain/TxSender.js";
import { ContractRevertError } from "../errors.js";
import type { ContentStore } from "../ipfs/ContentStore.js";
import { silentLogger, type Logger } from "../logger.js";
import type { LoadedModel, ModelCache } from "../ml/ModelCache.js";
import { codecsOf } from "../ml/ModelManifest.js";
import { predictIsolated } from "../ml/Prediction.js";
import type { BatchTrace } from "./BatchTrace.js";
import type { PendingInference } from "./PendingInference.js";
import { DeclineReason, loadRequestInput } from "./RequestInput.js";
import type { ShardRouter } from "../shards/ShardRouter.js";
import type { SignedStage } from "../shards/StageSignature.js";
import { routeShardedRequests } from "./ShardedRequests.js";

/** What became of one request; the queue job's return value. */
export type InferenceOutcome =
  | { readonly requestId: string; readonly status: "fulfilled"; readonly txHash: string; readonly output: string }
  | {
      readonly requestId: string;
      readonly status: "skipped";
      readonly reason: SkipReason;
      readonly detail?: string;
      /** The `decline` transaction that told the requester why (unservable requests only). */
      readonly declineTxHash?: string;
      /**
       * Held by another worker whose claim ends before the deadline: look again in this many ms. Nobody may hold
       * it then (the claim lapsed), and it is still worth serving; a settled request is skipped then.
       */
      readonly recheckInMs?: number;
    };

export type SkipReason =
  | "settled" // already fulfilled or refunded: nothing left to do
  | "expired" // deadline passed: the requester will be refunded
  | "claimed-by-other" // another worker holds a live claim
  | "lost-claim-race" // claimBatch did not give it to us
  | "not-served" // this worker is not eligible for the model version
  | "rejected" // the market refused the fulfilment (decoded custom error in detail)
  | "input-unavailable" // the CID's bytes could not be fetched in time: never claimed, declined on chain
  | "input-malformed" // the input does not fit the model: never claimed, declined on chain
  | "model-unavailable" // the version's weights could not be loaded: never claimed
  | "shard-hosts-busy"; // every host of a shard of the sharded version stayed busy: never claimed, looked at again later

const SKIP_OF_DECLINE: Record<DeclineReason, SkipReason> = {
  [DeclineReason.InputUnavailable]: "input-unavailable",
  [DeclineReason.InputMalformed]: "input-malformed",
  [DeclineReason.ModelUnavailable]: "model-unavailable",
};

const STATUS_NONE = 0n;
const STATUS_CLAIMED = 2n;
const OUTPUT_INLINE = 0;

export interface InferenceProcessorOptions {
  readonly market: InferenceMarket;
  readonly modelRegistry: ModelRegistry;
  readonly workerRegistry: WorkerRegistry;
  readonly txSender: TxSender;
  readonly provider: Provider;
  readonly store: ContentStore;
  readonly models: ModelCache;
  readonly workerAddress: string;
  /** "claim" (default): claimBatch, then fulfillBatch. "optimistic": fulfil open requests without claiming. */
  readonly claimMode?: "claim" | "optimistic";
  /** Longest wait for a CID input's bytes before the request is declined as unavailable (default 10 s). */
  readonly inputTimeoutMs?: number;
  /**
   * Routes requests on sharded versions through the hosts of their shards (ShardRegistry); without it such requests
   * are left to other workers ("model-unavailable").
   */
  readonly shardRouter?: ShardRouter;
  /** Post `decline` for requests whose input cannot be served, so that their requesters learn why (default true). */
  readonly declineOnChain?: boolean;
  readonly logger?: Logger;
}

interface Work {
  readonly item: PendingInference;
  /** Already claimed by this worker (before a restart): served whatever happens, or left to lapse. */
  ours?: boolean;
  outcome?: InferenceOutcome;
  output?: Uint8Array;
  /** A sharded version's request: the hosts' signed stages, fulfilled by `fulfillSharded`. */
  stages?: SignedStage[];
  decline?: { reason: DeclineReason; detail: string };
  /** The version's weights could not be loaded (the worker's side: no decline, the request stays open to others). */
  modelError?: string;
  /** A sharded version's hosts of some shard all stayed busy: no decline, looked at again later. */
  hostsBusy?: string;
}

/**
 * Serves a batch of inference requests end to end: reads each request's on-chain state (so a
 * replayed or restarted job never does work twice), and, before risking any stake, fetches every
 * input (with a timeout), checks it against the model and runs the models (one batched predict per
 * model version; for the versions it served at its last read, beside the reads, whose verdict still
 * decides); only the requests that produced an answer are claimed, in one `claimBatch` (unless in
 * optimistic mode, where the market accepts a fulfilment of an unclaimed request from an eligible
 * worker), and answered in one `fulfillBatch`. A request whose input is missing or does
 * not fit is never claimed: it is declined on chain with the reason (one `decline` for the batch)
 * and its batch-mates are served. Requests settled, expired or held by another worker are skipped.
 */
export class InferenceProcessor {
  readonly #o: InferenceProcessorOptions;
  readonly #logger: Logger;
  readonly #versions = new Map<bigint, { manifestCid: string; weightsCid: string; contentHash: string; shardCount: number }>();
  /** Versions this worker was eligible for at its last read: their model work starts beside the next batch's reads. */
  readonly #served = new Set<bigint>();
  /** The market has no `requestStates` (deployed before it existed): each request's state is read on its own. */
  #statesOneByOne = false;

  constructor(options: InferenceProcessorOptions) {
    this.#o = options;
    this.#logger = options.logger ?? silentLogger;
  }

  /** `trace`, when given, receives the time each stage ended (see BatchTrace). The batch's states are one `requestStates` call. */
  async processBatch(items: readonly PendingInference[], trace: BatchTrace = {}): Promise<InferenceOutcome[]> {
    trace.formedAt ??= Date.now();
    const work: Work[] = items.map((item) => ({ item }));
    const me = this.#o.workerAddress.toLowerCase();

    // One round of concurrent reads (a remote RPC makes sequential ones cost a round trip each), and meanwhile the
    // model work for the versions this worker served in its last batch: the reads decide which outputs are used.
    const versions = [...new Set(work.map((w) => w.item.terms.modelVersionId))];
    const early = work.filter((w) => this.#served.has(w.item.terms.modelVersionId));
    const computing = this.#compute(early);
    const [latest, eligibility, states] = await Promise.all([
      this.#o.provider.getBlock("latest"),
      Promise.all(versions.map((v) => this.#o.workerRegistry.isEligibleInferrer(me, v))),
      this.#states(work.map((w) => w.item.requestId)),
    ]).catch(async (err: unknown) => {
      await computing.catch(() => undefined); // no model work left running behind a failed batch
      throw err;
    });
    const now = BigInt(latest?.timestamp ?? Math.floor(Date.now() / 1000));
    trace.readAt = Date.now();
    const eligible = new Map(versions.map((v, i) => [v, eligibility[i]]));
    for (const [v, ok] of eligible) {
      if (ok) this.#served.add(v);
      else this.#served.delete(v);
    }
    for (const [i, w] of work.entries()) {
      const { requestId, terms } = w.item;
      const state = states[i];
      if (state.status === STATUS_NONE) w.outcome = skip(requestId, "settled");
      else if (terms.deadline <= now) w.outcome = skip(requestId, "expired");
      else if (state.status === STATUS_CLAIMED && state.claimant.toLowerCase() === me) w.ours = true;
      else if (!eligible.get(terms.modelVersionId)) w.outcome = skip(requestId, "not-served");
      else if (state.status === STATUS_CLAIMED && state.claimExpiry >= now) {
        w.outcome = { ...skip(requestId, "claimed-by-other"), ...recheck(BigInt(state.claimExpiry), now, terms.deadline) };
      }
    }

    // Everything that can fail on the request's side happens before any claim.
    await computing;
    await this.#compute(work.filter((w) => w.outcome === undefined && !early.includes(w)));
    trace.computedAt = Date.now();
    for (const w of work) if (w.outcome === undefined && w.modelError !== undefined) w.outcome = skip(w.item.requestId, "model-unavailable", w.modelError);
    for (const w of work) {
      if (w.outcome !== undefined || w.hostsBusy === undefined) continue;
      // Before its deadline, another look: the hosts may have room then (or other workers will have served it).
      const later = BigInt(Math.ceil(BUSY_RECHECK_MS / 1000));
      w.outcome = { ...skip(w.item.requestId, "shard-hosts-busy", w.hostsBusy), ...(now + later < w.item.terms.deadline ? { recheckInMs: BUSY_RECHECK_MS } : {}) };
    }
    const toClaim = work.filter((w) => w.outcome === undefined && w.output !== undefined && !w.ours);
    const declined = work.filter((w) => w.outcome === undefined && w.decline !== undefined);
    for (const w of declined) {
      w.outcome = skip(w.item.requestId, SKIP_OF_DECLINE[w.decline!.reason], w.decline!.detail);
    }

    let lost: Work[] = [];
    if (toClaim.length > 0 && this.#o.claimMode !== "optimistic") {
      const ids = toClaim.map((w) => w.item.requestId);
      const sent = await this.#o.txSender.send(this.#o.market, "claimBatch", [ids]);
      trace.claim = sent.timings;
      const claimed = new Set<bigint>();
      for (const log of sent.receipt.logs) {
        const parsed = this.#o.market.interface.parseLog(log);
        if (parsed?.name === "InferencesClaimed") for (const id of parsed.args.requestIds as bigint[]) claimed.add(id);
      }
      lost = toClaim.filter((w) => !claimed.has(w.item.requestId));
      for (const w of lost) w.outcome = skip(w.item.requestId, "lost-claim-race");
      this.#logger.info({ txHash: sent.hash, claimed: claimed.size, asked: ids.length, gasUsed: sent.gasUsed.toString() }, "claimed");
    }

    const mine = work.filter((w) => w.outcome === undefined);
    await this.#fulfill(mine, trace);
    await this.#decline(declined);
    await this.#recheckLost(lost);
    trace.doneAt = Date.now();
    return work.map((w) => w.outcome!);
  }

  /**
   * The requests' states in one `requestStates` call; against a market deployed before that view existed (the call
   * reverts without data: no such function), one `requestState` per request from then on, said once in the log.
   */
  async #states(ids: bigint[]): Promise<Awaited<ReturnType<InferenceMarket["requestState"]>>[]> {
    if (!this.#statesOneByOne) {
      try {
        return await this.#o.market.requestStates(ids);
      } catch (err) {
        if (!isRevertWithoutData(err)) throw err;
        this.#statesOneByOne = true;
        this.#logger.warn({ err: (err as Error).message }, "the market has no requestStates (deployed before it existed): reading each request's state on its own");
      }
    }
    return Promise.all(ids.map((id) => this.#o.market.requestState(id)));
  }

  /** Loads each version's model, fetches and checks every input, and predicts the good ones. */
  async #compute(work: Work[]): Promise<void> {
    const byVersion = new Map<bigint, Work[]>();
    for (const w of work) {
      const group = byVersion.get(w.item.terms.modelVersionId) ?? [];
      group.push(w);
      byVersion.set(w.item.terms.modelVersionId, group);
    }
    for (const [versionId, group] of byVersion) {
      const version = await this.#version(versionId).catch((err: unknown) => err as Error);
      if (!(version instanceof Error) && version.shardCount > 1) {
        await routeShardedRequests({ router: this.#o.shardRouter, store: this.#o.store, inputTimeoutMs: this.#o.inputTimeoutMs, logger: this.#logger }, versionId, version, group);
        continue;
      }
      let loaded: LoadedModel;
      try {
        loaded = await this.#model(versionId);
      } catch (err) {
        // The worker's side (or the model owner's): no decline, the requests stay open to other workers.
        this.#logger.error({ versionId: versionId.toString(), err: (err as Error).message }, "model unavailable");
        for (const w of group) w.modelError = (err as Error).message;
        continue;
      }
      const expectedBytes = codecsOf(loaded.manifest).input.byteLength;
      const inputs = await Promise.all(
        group.map((w) =>
          loadRequestInput(w.item, { store: this.#o.store, expectedBytes, timeoutMs: this.#o.inputTimeoutMs ?? 10_000 }),
        ),
      );
      const good: Work[] = [];
      const goodInputs: Uint8Array[] = [];
      group.forEach((w, i) => {
        const input = inputs[i];
        if (input.ok) {
          good.push(w);
          goodInputs.push(input.bytes);
        } else {
          w.decline = { reason: input.reason, detail: input.detail };
          this.#logger.warn({ requestId: w.item.requestId.toString(), reason: DeclineReason[input.reason], detail: input.detail }, "unservable request");
        }
      });
      const predictions = await predictIsolated(loaded.model, loaded.manifest, goodInputs);
      if (predictions === "model-fails") {
        // It fails on every input on its own: the model's fault (or this host's), not the requesters'. No decline.
        this.#logger.error({ versionId: versionId.toString() }, "the model fails on every input");
        for (const w of good) w.modelError = "the model fails on every input";
        continue;
      }
      good.forEach((w, i) => {
        const prediction = predictions[i];
        if (prediction.ok) w.output = prediction.output;
        else w.decline = { reason: DeclineReason.InputMalformed, detail: prediction.error.message };
      });
    }
  }

  /**
   * Tells the requesters of unservable requests why, in one transaction. Best effort: the requests
   * were never claimed, so a failure here costs nothing but the message; it is logged.
   */
  async #decline(work: Work[]): Promise<void> {
    if (work.length === 0 || this.#o.declineOnChain === false) return;
    const ids = work.map((w) => w.item.requestId);
    try {
      const sent = await this.#o.txSender.send(this.#o.market, "decline", [ids, work.map((w) => w.decline!.reason)]);
      for (const w of work) w.outcome = { ...w.outcome!, declineTxHash: sent.hash } as InferenceOutcome;
      this.#logger.info({ txHash: sent.hash, declined: ids.length, gasUsed: sent.gasUsed.toString() }, "declined");
    } catch (err) {
      this.#logger.warn({ requestIds: ids.map(String), err: (err as Error).message }, "could not post the declines");
    }
  }

  /**
   * After the fulfilment (nothing is read between claim and fulfil): when to look again at each request `claimBatch`
   * did not give this worker. Held by another worker: after that claim ends. Still open (the market stopped at the
   * claims this worker's stake covers): soon. A read that fails gives no recheck (the request is left to others).
   */
  async #recheckLost(lost: Work[]): Promise<void> {
    if (lost.length === 0) return;
    try {
      const [latest, states] = await Promise.all([this.#o.provider.getBlock("latest"), this.#states(lost.map((w) => w.item.requestId))]);
      const now = BigInt(latest?.timestamp ?? Math.floor(Date.now() / 1000));
      lost.forEach((w, i) => {
        const state = states[i];
        const { requestId, terms } = w.item;
        if (state.status === STATUS_NONE || terms.deadline <= now) return;
        const heldUntil = state.status === STATUS_CLAIMED && state.claimExpiry >= now ? BigInt(state.claimExpiry) : now;
        w.outcome = { ...skip(requestId, "lost-claim-race"), ...recheck(heldUntil, now, terms.deadline) };
      });
    } catch (err) {
      this.#logger.warn({ err: (err as Error).message, requests: lost.length }, "could not read the requests claimBatch left: no recheck");
    }
  }

  /**
   * Fulfils in transactions whose requesters' callbacks together may use at most CALLBACK_GAS_PER_TX: each
   * transaction's gas limit gets every callback's whole budget on top of the estimate, because a callback may spend
   * less in the simulation than on chain (a consumer can tell a gas-price-0 call from a mined transaction), and the
   * market refuses to start a callback without its budget.
   */
  async #fulfill(all: Work[], trace: BatchTrace): Promise<void> {
    for (const w of all.filter((x) => x.stages !== undefined)) await this.#fulfillSharded(w, trace);
    const work = all.filter((w) => w.stages === undefined);
    let chunk: Work[] = [];
    let budget = 0n;
    for (const w of work) {
      const need = callbackReserve(w.item.terms.callbackGasLimit);
      if (chunk.length > 0 && budget + need > CALLBACK_GAS_PER_TX) {
        await this.#fulfillChunk(chunk, trace);
        chunk = [];
        budget = 0n;
      }
      chunk.push(w);
      budget += need;
    }
    if (chunk.length > 0) await this.#fulfillChunk(chunk, trace);
  }

  async #fulfillChunk(work: Work[], trace: BatchTrace): Promise<void> {
    let pending = work;
    // A request may become unfulfillable between claim and fulfil (its deadline passes): the
    // simulation names it, it is dropped, and the rest goes out in the next attempt.
    while (pending.length > 0) {
      const items = pending.map((w) => ({
        request: w.item.terms,
        outputKind: OUTPUT_INLINE,
        output: w.output!,
        outputHash: keccak256(w.output!),
      }));
      try {
        const extraGas = pending.reduce((sum, w) => sum + callbackReserve(w.item.terms.callbackGasLimit), 0n);
        const sent = await this.#o.txSender.send(this.#o.market, "fulfillBatch", [items], extraGas > 0n ? { extraGas } : {});
        trace.fulfil = sent.timings;
        for (const w of pending) {
          w.outcome = { requestId: w.item.requestId.toString(), status: "fulfilled", txHash: sent.hash, output: Buffer.from(w.output!).toString("hex") };
        }
        this.#logger.info({ txHash: sent.hash, fulfilled: pending.length, gasUsed: sent.gasUsed.toString() }, "fulfilled");
        return;
      } catch (err) {
        const culprit = err instanceof ContractRevertError ? culpritOf(err, pending) : undefined;
        if (culprit === undefined) throw err;
        culprit.outcome = skip(culprit.item.requestId, "rejected", err instanceof Error ? err.message : String(err));
        pending = pending.filter((w) => w !== culprit);
      }
    }
  }

  /** One sharded request's fulfilment with its pipeline; a refusal the simulation names skips that request only. */
  async #fulfillSharded(w: Work, trace: BatchTrace): Promise<void> {
    const item = { request: w.item.terms, outputKind: OUTPUT_INLINE, output: w.output!, outputHash: keccak256(w.output!) };
    try {
      const extraGas = callbackReserve(w.item.terms.callbackGasLimit);
      const sent = await this.#o.txSender.send(this.#o.market, "fulfillSharded", [item, w.stages!], extraGas > 0n ? { extraGas } : {});
      trace.fulfil = sent.timings;
      w.outcome = { requestId: w.item.requestId.toString(), status: "fulfilled", txHash: sent.hash, output: Buffer.from(w.output!).toString("hex") };
      this.#logger.info({ txHash: sent.hash, requestId: w.item.requestId.toString(), hosts: w.stages!.map((s) => s.host), gasUsed: sent.gasUsed.toString() }, "fulfilled (sharded)");
    } catch (err) {
      if (!(err instanceof ContractRevertError)) throw err;
      w.outcome = skip(w.item.requestId, "rejected", err.message);
    }
  }

  async #version(versionId: bigint): Promise<{ manifestCid: string; weightsCid: string; contentHash: string; shardCount: number }> {
    let version = this.#versions.get(versionId);
    if (version === undefined) {
      const info = await this.#o.modelRegistry.getVersion(versionId);
      version = {
        manifestCid: CID.decode(Buffer.from(info.manifestCid.slice(2), "hex")).toString(),
        weightsCid: CID.decode(Buffer.from(info.weightsCid.slice(2), "hex")).toString(),
        contentHash: info.contentHash,
        shardCount: Number(info.shardCount),
      };
      this.#versions.set(versionId, version);
    }
    return version;
  }

  async #model(versionId: bigint): Promise<LoadedModel> {
    const version = await this.#version(versionId);
    // The version's own weights: a version trained by a job shares its manifest (architecture) with the initial model.
    return this.#o.models.load(version.manifestCid, { expectedContentHash: version.contentHash, weightsCid: version.weightsCid });
  }

}

/** Gas a fulfilment reserves for a request's callback: what the market requires left before calling it. */
function callbackReserve(callbackGasLimit: bigint): bigint {
  return callbackGasLimit === 0n ? 0n : callbackGasLimit + callbackGasLimit / 63n + 5_000n;
}

/** Callback budgets one fulfilment transaction carries at most (the rest go in further transactions). */
const CALLBACK_GAS_PER_TX = 8_000_000n;

/** When a sharded request whose shard's hosts were all busy is looked at again. */
const BUSY_RECHECK_MS = 5_000;

/** Minimum wait before a held request is read again (a chain whose clock lags the wall clock re-reads no faster). */
const MIN_RECHECK_MS = 1_000;

/** When a request held until `claimExpiry` (chain seconds) is worth a new look: after the claim, if before the deadline. */
function recheck(claimExpiry: bigint, now: bigint, deadline: bigint): { recheckInMs?: number } {
  if (claimExpiry + 1n >= deadline) return {}; // the claim outlives the request: nothing left to serve after it
  return { recheckInMs: Math.max(MIN_RECHECK_MS, Number(claimExpiry + 1n - now) * 1000) };
}

function skip(requestId: bigint, reason: SkipReason, detail?: string): InferenceOutcome {
  return { requestId: requestId.toString(), status: "skipped", reason, ...(detail === undefined ? {} : { detail }) };
}

/** A call that reverted with no data at all: what a contract without the called function (and no fallback) does. */
function isRevertWithoutData(err: unknown): boolean {
  const e = err as { code?: string; data?: string | null } | undefined;
  return e?.code === "CALL_EXCEPTION" && (e.data === "0x" || e.data == null);
}

/** The batch item a decoded market error points at (its first argument is the request id). */
function culpritOf(err: ContractRevertError, pending: Work[]): Work | undefined {
  const first = err.revert?.args?.[0];
  if (typeof first !== "bigint") return undefined;
  return pending.find((w) => w.item.requestId === first);
}
