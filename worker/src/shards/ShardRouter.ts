import { TesseraError } from "../errors.js";
import { silentLogger, type Logger } from "../logger.js";
import { HostBackoff } from "./HostBackoff.js";
import { HostSlots } from "./HostSlots.js";
import { carriesBatches, CoalescingStages } from "./StageCoalescing.js";
import { isBusy } from "./transport/StageError.js";
import type { SignedStage } from "./StageSignature.js";

/** A host of one shard and where it takes activations (ShardRegistry.hostsOf). */
export interface ShardHostEntry {
  readonly host: string;
  readonly endpoint: string;
}

/** One stage to run on a host. */
export interface StageCall {
  readonly requestId: bigint;
  readonly versionId: bigint;
  readonly shardIndex: number;
  readonly inputHash: string;
  /** Stage 0 of a request whose input came by CID: the CID's bytes (what the request's inputHash hashes). */
  readonly inputRef?: Uint8Array;
  readonly input: Uint8Array;
}

/** How stages reach hosts (ShardClient over HTTP/2); errors carry `retryable`. */
export interface StageTransport {
  runStage(endpoint: string, expectedHost: string, stage: StageCall, options?: { timeoutMs?: number }): Promise<{ output: Uint8Array; stage: SignedStage }>;
}

/**
 * No host of a shard could run its stage: the request cannot be served now (the tasks name the shard). `busy`: the
 * hosts left untried-for-failure were all busy (429, or this router's slots on them full) until the stage timeout.
 */
export class NoLiveHostError extends TesseraError {
  readonly busy: boolean;

  constructor(
    readonly versionId: bigint,
    readonly shardIndex: number,
    readonly tried: readonly string[],
    options: { busyForMs?: number } = {},
  ) {
    super(
      tried.length === 0
        ? `shard ${shardIndex} of version ${versionId} has no announced host`
        : options.busyForMs !== undefined
          ? `every host of shard ${shardIndex} of version ${versionId} stayed busy for ${options.busyForMs} ms (tried ${tried.join(", ")})`
          : `no host of shard ${shardIndex} of version ${versionId} could run its stage (tried ${tried.join(", ")})`,
      { code: "NO_LIVE_SHARD_HOST" },
    );
    this.busy = options.busyForMs !== undefined;
  }
}

/** Stages a router sends to one host at once by default: what a host admits from one caller by default (ShardServices). */
export const DEFAULT_STAGES_PER_HOST = 8;


/** A host decides BUSY before reading a stage's body: a 429 slower than this is a host failing, not a full one. */
const SLOW_BUSY_MS = 1_000;

/** The pause after a host's k-th 429 for the same stage: 10 ms doubling up to 250 ms, jittered so waiters spread out. */
const busyPauseMs = (k: number) => Math.min(250, 10 * 2 ** k) * (0.5 + Math.random());

export interface ShardRouterOptions {
  readonly transport: StageTransport;
  /** The hosts announced now for a shard (read from the chain; cached by the caller if it wants). */
  readonly hostsOf: (versionId: bigint, shardIndex: number) => Promise<readonly ShardHostEntry[]>;
  readonly backoff?: HostBackoff;
  /**
   * The host to try first for a shard, if announced and not in back-off: this worker itself where it hosts the shard
   * in its own process (LocalFirstStages), so its stage crosses no hop.
   */
  readonly preferredHost?: (versionId: bigint, shardIndex: number) => string | undefined;
  /**
   * Longest wait for one stage on one host before the next host is tried (default 30 s); also the longest a stage
   * waits for a free slot when every host of its shard is busy.
   */
  readonly stageTimeoutMs?: number;
  /**
   * Stages sent to one host at once (default 8, DEFAULT_STAGES_PER_HOST: what a host admits from one caller by
   * default); more wait here for a slot, on whichever host of the shard frees one first, instead of being refused.
   */
  readonly maxStagesPerHost?: number;
  readonly logger?: Logger;
}

/** What a router did since it was made (counts), and what it holds now: for the worker's metrics. */
export interface ShardRouterStats {
  /** Stages a host answered (signature and hash checked). */
  readonly stages: number;
  /** Stages a host failed (down, slow, a bad answer): each put that host in back-off and went to the next. */
  readonly failed: number;
  /** 429 BUSY answers waited out. */
  readonly busy: number;
  /** Stages that ended because every host of their shard stayed busy for the stage timeout. */
  readonly busyTimeouts: number;
  /** Stages on their way to or running on hosts now. */
  readonly inFlight: number;
  /** Stages waiting for a free slot (or for a host's pause after a 429) now. */
  readonly waiting: number;
  /** Hosts in back-off now. */
  readonly avoidedHosts: number;
}

/** A request's run through every shard: the answer and the signed stages `fulfillSharded` takes. */
export interface RoutedRun {
  readonly output: Uint8Array;
  readonly stages: SignedStage[];
  /** Stages run again on another host after a failure. */
  readonly replays: number;
}

/**
 * Routes a request through the hosts of every shard of a sharded version, in order: each stage goes to a host of its
 * shard (the preferred one first, then those that failed lately last, those in back-off only when no other is left
 * or every other is pausing after a 429) that has a free slot (HostSlots: a limit per host, adapted to what the host
 * admits), so that concurrent requests spread over a shard's hosts and never send a host more than it takes; with
 * every slot taken the stage waits for one. A host that fails (down, slow, or answering with a bad signature or
 * hash) is put in back-off and the stage is replayed from the same input on the next host; a host that answers 429
 * BUSY is left alone for a moment and asked again (the stage is not lost; the host goes in back-off only after a long
 * streak of them). Stages given a slot on the same host in the same turn go to it as one call (StageCoalescing.ts),
 * where the transport carries batches. The waits for busy hosts end at the stage timeout (NoLiveHostError, `busy`). Requests routed
 * concurrently are in different stages on different hosts at once (pipeline parallelism).
 */
export class ShardRouter {
  readonly #o: ShardRouterOptions;
  readonly #backoff: HostBackoff;
  readonly #logger: Logger;
  readonly #slots: HostSlots;
  /** The transport stages go through: coalesced into batch calls where the transport carries them. */
  readonly #transport: StageTransport;
  #stages = 0;
  #failed = 0;
  #busy = 0;
  #busyTimeouts = 0;
  #waiting = 0;

  constructor(options: ShardRouterOptions) {
    this.#o = options;
    this.#backoff = options.backoff ?? new HostBackoff();
    this.#logger = options.logger ?? silentLogger;
    this.#slots = new HostSlots(options.maxStagesPerHost ?? DEFAULT_STAGES_PER_HOST);
    this.#transport = carriesBatches(options.transport) ? new CoalescingStages(options.transport) : options.transport;
  }

  /** Calls made to hosts and the stages they carried (stages / calls: the mean batch on the wire); undefined if not coalescing. */
  get wire(): { calls: number; stages: number } | undefined {
    const t = this.#transport;
    return t instanceof CoalescingStages ? { calls: t.calls, stages: t.stages } : undefined;
  }

  get stats(): ShardRouterStats {
    return {
      stages: this.#stages,
      failed: this.#failed,
      busy: this.#busy,
      busyTimeouts: this.#busyTimeouts,
      inFlight: this.#slots.total(),
      waiting: this.#waiting,
      avoidedHosts: this.#backoff.avoidedCount(),
    };
  }

  /** Stages in flight on each host, their limits, and the hosts pausing after a 429. */
  get slots(): HostSlots {
    return this.#slots;
  }

  get backoff(): HostBackoff {
    return this.#backoff;
  }

  async run(request: { requestId: bigint; versionId: bigint; shardCount: number; input: Uint8Array; inputHash: string; inputRef?: Uint8Array }): Promise<RoutedRun> {
    const stages: SignedStage[] = [];
    let input = request.input;
    let inputHash = request.inputHash;
    let replays = 0;
    for (let shardIndex = 0; shardIndex < request.shardCount; shardIndex++) {
      const call: StageCall = {
        requestId: request.requestId,
        versionId: request.versionId,
        shardIndex,
        inputHash,
        input,
        ...(shardIndex === 0 && request.inputRef !== undefined ? { inputRef: request.inputRef } : {}),
      };
      const { result, attempts } = await this.#runStage(call);
      replays += attempts - 1;
      stages.push(result.stage);
      input = result.output;
      inputHash = result.stage.outputHash;
    }
    return { output: input, stages, replays };
  }

  /**
   * The host a stage goes to now, in preference order: the first with a free slot that is not in back-off. Hosts in
   * back-off are the last resort: tried when no other is left, or when every other is pausing after a 429 (not
   * merely full with this router's stages). Undefined: wait for a slot.
   */
  #pick(left: readonly ShardHostEntry[]): ShardHostEntry | undefined {
    const fresh = left.filter((c) => !this.#backoff.avoided(c.host));
    const pick = fresh.find((c) => this.#slots.free(c.host));
    if (pick !== undefined) return pick;
    if (fresh.length > 0 && !fresh.every((c) => this.#slots.coolingMs(c.host) > 0)) return undefined;
    return left.find((c) => this.#backoff.avoided(c.host) && this.#slots.free(c.host));
  }

  async #runStage(call: StageCall): Promise<{ result: { output: Uint8Array; stage: SignedStage }; attempts: number }> {
    const announced = await this.#o.hostsOf(call.versionId, call.shardIndex);
    const preferred = this.#backoff.order(announced);
    const mine = this.#o.preferredHost?.(call.versionId, call.shardIndex)?.toLowerCase();
    const own = mine === undefined ? -1 : preferred.findIndex((h) => h.host.toLowerCase() === mine);
    if (own > 0) preferred.unshift(...preferred.splice(own, 1));
    // Hosts in back-off are the last resort, not excluded: a shard whose every host failed lately may have recovered.
    const candidates = [...preferred, ...announced.filter((h) => !preferred.includes(h))];
    const timeoutMs = this.#o.stageTimeoutMs ?? 30_000;
    const tried: string[] = [];
    const failed = new Set<ShardHostEntry>();
    let busyAnswers = 0;
    /** Since when the stage has found no free slot or been told BUSY: that wait is bounded by the stage timeout. */
    let waitingSince: number | undefined;
    for (;;) {
      const left = candidates.filter((c) => !failed.has(c));
      if (left.length === 0) throw new NoLiveHostError(call.versionId, call.shardIndex, tried);
      if (waitingSince !== undefined && Date.now() - waitingSince >= timeoutMs) {
        for (const c of left) if (!tried.includes(c.host)) tried.push(c.host);
        this.#busyTimeouts++;
        throw new NoLiveHostError(call.versionId, call.shardIndex, tried, { busyForMs: timeoutMs });
      }
      const pick = this.#pick(left);
      if (pick === undefined) {
        waitingSince ??= Date.now();
        const cooling = left.map((c) => this.#slots.coolingMs(c.host)).filter((ms) => ms > 0);
        this.#waiting++;
        try {
          await this.#slots.changed(Math.min(timeoutMs - (Date.now() - waitingSince), ...cooling));
        } finally {
          this.#waiting--;
        }
        continue;
      }
      if (!tried.includes(pick.host)) tried.push(pick.host);
      this.#slots.acquire(pick.host);
      const sentAt = Date.now();
      try {
        const result = await this.#transport.runStage(pick.endpoint, pick.host, call, { timeoutMs });
        this.#backoff.succeed(pick.host);
        this.#slots.served(pick.host);
        this.#stages++;
        return { result, attempts: failed.size + 1 };
      } catch (err) {
        // Not now, not down: asked again after a pause, or another host of the shard is. A host refuses a stage it
        // has no room for at once: a "busy" that took long is a host failing. A long streak of them puts the host
        // behind the others (back-off), still a last resort for this stage.
        // The refused exchange's own time where the transport tells it (a batch refused whole is re-sent stage by
        // stage: the stage's BUSY came from the second exchange).
        const elapsed = (err as { elapsedMs?: unknown } | null)?.elapsedMs;
        if (isBusy(err) && (typeof elapsed === "number" ? elapsed : Date.now() - sentAt) < SLOW_BUSY_MS) {
          this.#busy++;
          waitingSince ??= sentAt;
          if (this.#slots.busy(pick.host, busyPauseMs(busyAnswers++))) this.#backoff.fail(pick.host);
          continue;
        }
        failed.add(pick);
        this.#failed++;
        waitingSince = undefined; // the next host gets the whole wait again
        this.#backoff.fail(pick.host);
        this.#logger.warn(
          { requestId: call.requestId.toString(), versionId: call.versionId.toString(), shard: call.shardIndex, host: pick.host, endpoint: pick.endpoint, err: (err as Error).message },
          "shard host failed its stage: trying the next host",
        );
      } finally {
        this.#slots.release(pick.host);
      }
    }
  }
}
