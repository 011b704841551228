import { EventEmitter } from "node:events";
import type { Queue, JobsOptions } from "bullmq";
import type { BaseContract, Interface, Log, LogDescription, Provider } from "ethers";
import type { Redis } from "ioredis";
import { silentLogger, type Logger } from "../logger.js";
import { headBlockNumber } from "./ChainHead.js";
import { EventDecoder } from "./EventDecoder.js";
import { toEventPayload, type EventPayload } from "./EventPayload.js";

export interface ListenerSource {
  /** Label carried in every payload (e.g. "InferenceMarket"). */
  readonly name: string;
  readonly contract: BaseContract | { readonly address: string; readonly interface: Interface };
  /** Event names (or full signatures) to enqueue. */
  readonly events: readonly string[];
}

export interface ChainListenerOptions {
  readonly provider: Provider;
  readonly sources: readonly ListenerSource[];
  /** Receives one job per event: name = event name, data = EventPayload. */
  readonly queue: Queue;
  readonly redis: Redis;
  /** Redis key holding the cursor: the last block whose events are all enqueued, with its hash. */
  readonly cursorKey: string;
  /** First block to scan when no cursor is stored yet (the contracts' deployment block). */
  readonly startBlock: number;
  /** Blocks to stay behind the head; 0 acts on the latest block. */
  readonly confirmations: number;
  /** Most blocks per `eth_getLogs`. */
  readonly blockRange: number;
  readonly pollIntervalMs: number;
  /** Recent (block, hash) checkpoints kept to find the common ancestor after a reorg. Default 64. */
  readonly checkpoints?: number;
  /**
   * After a reorg, the events of up to this many blocks at and before the common ancestor are enqueued again (as
   * new jobs): their jobs' effects (a claim, a fulfilment, a vote) may have been in the dropped blocks, which a
   * confirmation depth too shallow for the reorg had already counted as final. The processors re-read the chain
   * before acting, so a replayed job whose effect survived does nothing. Default 0 (none).
   */
  readonly replayBlocks?: number;
  /** Extra BullMQ options for each job (the jobId is always set by the listener). */
  readonly jobOptions?: Omit<JobsOptions, "jobId">;
  readonly logger?: Logger;
}

export interface ChainListenerStats {
  /** Last block whose events are all enqueued; startBlock - 1 before the first chunk. */
  readonly cursor: number | undefined;
  /** Latest block seen on the chain. */
  readonly latestBlock: number | undefined;
  /** Blocks between the latest block and the cursor (confirmations included). */
  readonly lag: number | undefined;
  readonly blocksScanned: number;
  readonly eventsEnqueued: number;
  readonly polls: number;
  readonly pollErrors: number;
  /** Reorgs seen under the cursor (a checkpoint's hash changed). */
  readonly reorgs: number;
  /** Cursors found off the chain with no common checkpoint (a node restarted or redeployed). */
  readonly restarts: number;
}

/** The cursor as persisted: the last block whose events are all enqueued, and its hash. */
export interface ListenerCursor {
  readonly block: number;
  /** Undefined only before the first chunk (block = startBlock - 1) and for a legacy numeric cursor. */
  readonly hash: string | undefined;
}

/** The cursor was found off the canonical chain and rewound. */
export interface ReorgDetected {
  /** "reorg": a common ancestor was found among the checkpoints; "restart": none was (rescan from startBlock). */
  readonly kind: "reorg" | "restart";
  readonly cursor: ListenerCursor;
  /** The chain's head when it was found. */
  readonly chainHead: number;
  /** The chain's hash at the cursor's height (undefined when the cursor is above the head). */
  readonly chainHash: string | undefined;
  /** The block the cursor was rewound to (its events are enqueued again from the next block). */
  readonly rewoundTo: number;
  /** Events of the blocks before it that were enqueued again as new jobs (`replayBlocks`). */
  readonly replayed: number;
}

export interface ChunkEnqueued {
  readonly fromBlock: number;
  readonly toBlock: number;
  readonly events: readonly EventPayload[];
}

interface ChainListenerEvents {
  chunk: [ChunkEnqueued];
  /** A poll failed; the loop goes on and retries at the next interval. */
  pollError: [unknown];
  /** The cursor was not on the chain any more; it was rewound and the new branch is rescanned. */
  reorg: [ReorgDetected];
}

/**
 * The deterministic job id of one log: `txHash-logIndex-blockHash`. The block hash is part of it
 * so that a transaction re-mined in another block after a reorg is a new job: its earlier job's
 * effect may have been reorged out with the old block, and the processors re-read the chain's state
 * before acting, so the redone job re-claims and re-fulfils only what the chain still lacks. A
 * replayed range of unchanged blocks gives the same ids and adds nothing. (BullMQ forbids ':' in
 * custom ids, hence '-'.)
 */
export function eventJobId(txHash: string, logIndex: number, blockHash: string): string {
  return `${txHash.toLowerCase()}-${logIndex}-${blockHash.toLowerCase().slice(2, 18)}`;
}

/**
 * The job id of a log enqueued again after a reorg (`replayBlocks`): its `eventJobId` tagged with the new head's
 * hash, so that it is a new job beside the completed one, and one reorg's replay (repeated after a crash) adds it once.
 */
export function replayJobId(txHash: string, logIndex: number, blockHash: string, headHash: string): string {
  return `${eventJobId(txHash, logIndex, blockHash)}-r${headHash.toLowerCase().slice(2, 18)}`;
}

/** Reads a stored cursor: the JSON `{block, hash, checkpoints}` or the plain block number older versions wrote. */
function parseStoredCursor(stored: string): { cursor: ListenerCursor; checkpoints: ListenerCursor[] } {
  if (/^-?\d+$/.test(stored)) return { cursor: { block: Number.parseInt(stored, 10), hash: undefined }, checkpoints: [] };
  const parsed = JSON.parse(stored) as { block: number; hash?: string; checkpoints?: [number, string][] };
  return {
    cursor: { block: parsed.block, hash: parsed.hash },
    checkpoints: (parsed.checkpoints ?? []).map(([block, hash]) => ({ block, hash })),
  };
}

/** How often a poll that has not ended is reported. */
const STALLED_POLL_WARN_MS = 30_000;

/** BullMQ job states of a job not yet finished. */
const UNFINISHED = new Set<string>(["waiting", "active", "delayed", "prioritized", "waiting-children"]);

/** A chunk's blocks were replaced while it was read; the next poll finds the ancestor. */
class ChunkReorged extends Error {}

interface ResolvedSource {
  readonly name: string;
  readonly address: string;
  /** The source's listened events, decoded by topic. */
  readonly decoder: EventDecoder;
}

/**
 * Turns contract events into queue jobs: polls for blocks `confirmations` behind the head, reads
 * their logs in chunks of at most `blockRange` blocks, enqueues each event under a deterministic
 * job id, and only then advances the cursor persisted in Redis. A crash replays at most one
 * chunk, and the replay adds nothing because the job ids already exist.
 *
 * The cursor is a (block number, block hash) pair, with the last `checkpoints` chunk ends. Every
 * poll checks that the cursor is still on the chain (its number not above the head, its hash the
 * chain's), and every chunk that its first block's parent is the cursor. A cursor off the chain —
 * a reorg, or a node restarted or redeployed at the same addresses — is logged as an error with
 * both heads and rewound to the newest checkpoint still on the chain (the common ancestor), or to
 * the deployment block when none is; the new branch's events are then enqueued under new job ids.
 */
export class ChainListener extends EventEmitter<ChainListenerEvents> {
  readonly #options: ChainListenerOptions;
  readonly #logger: Logger;
  #sources: Map<string, ResolvedSource[]> | undefined;
  #cursor: ListenerCursor | undefined;
  #checkpoints: ListenerCursor[] = [];
  #reorgs = 0;
  #restarts = 0;
  #latestBlock: number | undefined;
  #blocksScanned = 0;
  #eventsEnqueued = 0;
  #polls = 0;
  #pollErrors = 0;
  #running = false;
  #stopRequested = false;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  /** The running loop's current poll, bookkeeping included. */
  #tickDone: Promise<void> | undefined;

  constructor(options: ChainListenerOptions) {
    super();
    if (!Number.isInteger(options.confirmations) || options.confirmations < 0) throw new RangeError("confirmations must be an integer >= 0");
    if (!Number.isInteger(options.blockRange) || options.blockRange < 1) throw new RangeError("blockRange must be an integer >= 1");
    if (!Number.isInteger(options.startBlock) || options.startBlock < 0) throw new RangeError("startBlock must be an integer >= 0");
    if (options.replayBlocks !== undefined && (!Number.isInteger(options.replayBlocks) || options.replayBlocks < 0)) throw new RangeError("replayBlocks must be an integer >= 0");
    this.#options = options;
    this.#logger = (options.logger ?? silentLogger).child({ component: "ChainListener" });
  }

  get stats(): ChainListenerStats {
    const cursor = this.#cursor?.block;
    return {
      cursor,
      latestBlock: this.#latestBlock,
      lag: this.#latestBlock !== undefined && cursor !== undefined ? this.#latestBlock - cursor : undefined,
      blocksScanned: this.#blocksScanned,
      eventsEnqueued: this.#eventsEnqueued,
      polls: this.#polls,
      pollErrors: this.#pollErrors,
      reorgs: this.#reorgs,
      restarts: this.#restarts,
    };
  }

  /** Starts polling now and every `pollIntervalMs` after each poll ends. Idempotent. */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#stopRequested = false;
    this.#logger.info({ cursorKey: this.#options.cursorKey }, "chain listener started");
    this.#tick();
  }

  /** Stops polling and waits for the poll in flight (it ends after its current chunk). Idempotent. */
  async stop(): Promise<void> {
    const wasRunning = this.#running;
    this.#running = false;
    this.#stopRequested = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#tickDone;
    await this.#inFlight;
    this.#stopRequested = false;
    if (wasRunning) this.#logger.info(this.stats, "chain listener stopped");
  }

  /**
   * One poll: enqueues the events of every confirmed block after the cursor. Exposed for tests and
   * one-shot tools; joins the poll in flight rather than running two at once. Throws on failure.
   */
  pollOnce(): Promise<void> {
    this.#inFlight ??= this.#poll().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  #tick(): void {
    if (!this.#running) return;
    // A poll that does not end (an RPC or Redis call that never answers) would stall every event silently: say so.
    const started = Date.now();
    const watchdog = setInterval(() => {
      this.#logger.warn({ cursor: this.#cursor?.block, runningMs: Date.now() - started }, "poll still running: an RPC or Redis call is not answering");
    }, STALLED_POLL_WARN_MS);
    watchdog.unref();
    this.#tickDone = this.pollOnce()
      .catch((err: unknown) => {
        this.#pollErrors++;
        this.#logger.warn({ err, cursor: this.#cursor?.block }, "poll failed; retrying at the next interval");
        this.emit("pollError", err);
      })
      .finally(() => {
        clearInterval(watchdog);
        if (this.#running) this.#timer = setTimeout(() => this.#tick(), this.#options.pollIntervalMs);
      });
  }

  async #poll(): Promise<void> {
    const { provider, redis, cursorKey, confirmations } = this.#options;
    this.#polls++;
    const sources = await this.#resolveSources();
    if (this.#cursor === undefined) {
      const stored = await redis.get(cursorKey);
      if (stored === null) {
        this.#cursor = { block: this.#options.startBlock - 1, hash: undefined };
      } else {
        const { cursor, checkpoints } = parseStoredCursor(stored);
        this.#cursor = cursor;
        this.#checkpoints = checkpoints;
      }
      this.#logger.info({ cursor: this.#cursor.block, cursorHash: this.#cursor.hash, resumed: stored !== null }, "listener cursor loaded");
    }
    this.#latestBlock = await headBlockNumber(provider);
    const head = this.#latestBlock - confirmations;
    // With blocks to scan, the first chunk reads the cursor's block in the same round of requests as its own
    // blocks and logs (after the head: two rounds per poll, not three); the cursor is checked in full only when
    // that hash differs.
    const foldCheck = this.#cursor.block < head && this.#cursor.block >= this.#options.startBlock && this.#cursor.hash !== undefined;
    if (!foldCheck) await this.#checkCursor(this.#latestBlock);

    // Stop between chunks when asked to, so stop() waits for at most one chunk.
    let first = true;
    while (this.#cursor.block < head && !this.#stopRequested) {
      try {
        const cursorOnChain = await this.#scanChunk(head, sources, foldCheck && first);
        first = false;
        // Off the chain: rewound as a poll without blocks to scan would have done it, then scanned on from there.
        if (!cursorOnChain) await this.#checkCursor(this.#latestBlock);
      } catch (err) {
        if (!(err instanceof ChunkReorged)) throw err;
        this.#logger.warn({ cursor: this.#cursor.block, reason: err.message }, "the chain changed under the chunk being read; checking the cursor");
        await this.#checkCursor(await headBlockNumber(provider));
        return; // the next poll goes on from wherever the cursor now is
      }
    }
  }

  /**
   * Enqueues the events of the next chunk after the cursor, then advances the cursor to its end.
   * Its blocks, its logs and (with `checkCursor`) the cursor's own block are read at once. Returns
   * false, enqueueing nothing, when `checkCursor` finds the cursor's block hash changed.
   */
  async #scanChunk(head: number, sources: Map<string, ResolvedSource[]>, checkCursor = false): Promise<boolean> {
    const { provider, blockRange } = this.#options;
    const cursor = this.#cursor!;
    const fromBlock = cursor.block + 1;
    const toBlock = Math.min(head, fromBlock + blockRange - 1);
    const addresses = [...sources.keys()];
    const topics = [...new Set([...sources.values()].flat().flatMap((s) => s.decoder.topics))];
    const [atCursor, last, firstRead, logs] = await Promise.all([
      checkCursor ? provider.getBlock(cursor.block) : undefined,
      provider.getBlock(toBlock),
      fromBlock === toBlock ? undefined : provider.getBlock(fromBlock),
      provider.getLogs({ fromBlock, toBlock, address: addresses, topics: [topics] }),
    ]);
    if (checkCursor && atCursor?.hash !== cursor.hash) return false;
    if (last === null || last.hash === null) throw new ChunkReorged(`block ${toBlock} is gone`);
    const first = fromBlock === toBlock ? last : (firstRead ?? null);
    // The chunk must hang off the cursor: its first block's parent is the cursor's block.
    if (cursor.hash !== undefined && first?.parentHash !== cursor.hash) throw new ChunkReorged(`block ${fromBlock} no longer follows the cursor`);

    // Logs read from another branch than the chunk's end (a reorg while reading): read again.
    if (logs.some((l) => l.blockNumber === toBlock && l.blockHash !== last.hash)) throw new ChunkReorged(`block ${toBlock} changed while read`);
    const events = this.#decode(logs, sources);
    await this.#enqueue(events, (e) => eventJobId(e.txHash, e.logIndex, e.blockHash));
    // Every block hash read on the way is a checkpoint: the finer they are, the nearer the ancestor a reorg finds.
    const seen = [...(first === null || first.hash === null ? [] : [{ block: fromBlock, hash: first.hash }]), ...events.map((e) => ({ block: e.blockNumber, hash: e.blockHash }))];
    await this.#advance({ block: toBlock, hash: last.hash }, seen);
    this.#blocksScanned += toBlock - fromBlock + 1;
    this.#eventsEnqueued += events.length;
    if (events.length > 0) this.#logger.debug({ fromBlock, toBlock, events: events.length }, "events enqueued");
    this.emit("chunk", { fromBlock, toBlock, events });
    return true;
  }

  async #enqueue(events: readonly EventPayload[], jobId: (e: EventPayload) => string): Promise<void> {
    if (events.length === 0) return;
    await this.#options.queue.addBulk(events.map((e) => ({ name: e.event, data: e, opts: { ...this.#options.jobOptions, jobId: jobId(e) } })));
  }

  /**
   * Enqueues again, as new jobs, the events of the `replayBlocks` blocks up to `ancestor` (inclusive): after a reorg
   * their jobs' effects may be gone with the dropped blocks. Returns how many were enqueued.
   */
  async #replay(ancestor: ListenerCursor, chainHead: number): Promise<number> {
    const replayBlocks = this.#options.replayBlocks ?? 0;
    if (replayBlocks === 0 || ancestor.block < this.#options.startBlock) return 0;
    const { provider, blockRange } = this.#options;
    const sources = await this.#resolveSources();
    const headHash = (await provider.getBlock(chainHead))?.hash;
    if (headHash === undefined || headHash === null) throw new ChunkReorged(`block ${chainHead} is gone`);
    const addresses = [...sources.keys()];
    const topics = [...new Set([...sources.values()].flat().flatMap((s) => s.decoder.topics))];
    let replayed = 0;
    for (let from = Math.max(this.#options.startBlock, ancestor.block - replayBlocks + 1); from <= ancestor.block; from += blockRange) {
      const to = Math.min(ancestor.block, from + blockRange - 1);
      const logs = this.#decode(await provider.getLogs({ fromBlock: from, toBlock: to, address: addresses, topics: [topics] }), sources);
      // A job still waiting or running sees the reorg itself (it is done only once its effect is final): only a
      // finished one (completed, failed, or removed) may have counted an effect the reorg took away.
      const states = await Promise.all(logs.map((e) => this.#options.queue.getJobState(eventJobId(e.txHash, e.logIndex, e.blockHash))));
      const events = logs.filter((_, i) => !UNFINISHED.has(states[i]));
      await this.#enqueue(events, (e) => replayJobId(e.txHash, e.logIndex, e.blockHash, headHash));
      replayed += events.length;
    }
    return replayed;
  }

  /** Moves the cursor (a new checkpoint, with the chunk's other known block hashes) and persists it with the recent checkpoints. */
  async #advance(cursor: ListenerCursor, seen: readonly ListenerCursor[]): Promise<void> {
    const kept = this.#options.checkpoints ?? 64;
    const inChunk = new Map(seen.filter((c) => c.block < cursor.block).map((c) => [c.block, c]));
    const older = this.#checkpoints.filter((c) => c.block < Math.min(cursor.block, ...inChunk.keys()));
    this.#checkpoints = [...older, ...[...inChunk.values()].sort((a, b) => a.block - b.block), cursor].slice(-kept);
    await this.#persist(cursor);
  }

  async #persist(cursor: ListenerCursor): Promise<void> {
    const value = JSON.stringify({ block: cursor.block, hash: cursor.hash, checkpoints: this.#checkpoints.map((c) => [c.block, c.hash]) });
    await this.#options.redis.set(this.#options.cursorKey, value);
    this.#cursor = cursor;
  }

  /**
   * Checks that the cursor is on the chain whose head is `chainHead`; if not, rewinds it to the
   * newest checkpoint that is (the common ancestor), or before the start block when none is.
   */
  async #checkCursor(chainHead: number): Promise<void> {
    const cursor = this.#cursor!;
    if (cursor.block < this.#options.startBlock) return;
    const provider = this.#options.provider;
    let chainHash: string | undefined;
    if (cursor.block <= chainHead) {
      chainHash = (await provider.getBlock(cursor.block))?.hash ?? undefined;
      // A legacy numeric cursor learns its hash from the chain it resumes on.
      if (cursor.hash === undefined && chainHash !== undefined) return this.#persist({ block: cursor.block, hash: chainHash });
      if (chainHash === cursor.hash) return;
    }
    let ancestor: ListenerCursor | undefined;
    for (const checkpoint of [...this.#checkpoints].reverse()) {
      if (checkpoint.block > chainHead || checkpoint.block >= cursor.block) continue;
      if ((await provider.getBlock(checkpoint.block))?.hash === checkpoint.hash) {
        ancestor = checkpoint;
        break;
      }
    }
    const kind = ancestor === undefined ? "restart" : "reorg";
    const rewoundTo = ancestor ?? { block: this.#options.startBlock - 1, hash: undefined };
    // Before the cursor moves: a crash in between detects the reorg again and replays again (harmless: the
    // processors re-read the chain, so a second copy of a job finds its effect done).
    const replayed = ancestor === undefined ? 0 : await this.#replay(ancestor, chainHead);
    const detected: ReorgDetected = { kind, cursor, chainHead, chainHash, rewoundTo: rewoundTo.block, replayed };
    if (kind === "reorg") this.#reorgs++;
    else this.#restarts++;
    this.#logger.error(
      { ...detected, cursor: cursor.block, cursorHash: cursor.hash, depth: cursor.block - rewoundTo.block, replayed },
      kind === "reorg"
        ? "the listener's cursor is not on the chain any more (reorg): rewinding to the common ancestor and enqueueing the new branch"
        : "the listener's cursor is not on this chain (node restarted or redeployed?): rescanning from the start block",
    );
    this.#checkpoints = this.#checkpoints.filter((c) => c.block <= rewoundTo.block);
    await this.#persist(rewoundTo);
    this.emit("reorg", detected);
  }

  #decode(logs: readonly Log[], sources: Map<string, ResolvedSource[]>): EventPayload[] {
    const events: EventPayload[] = [];
    for (const log of logs) {
      if (log.removed) continue;
      for (const source of sources.get(log.address.toLowerCase()) ?? []) {
        if (!source.decoder.has(log.topics[0])) continue;
        let parsed: LogDescription | null = null;
        try {
          parsed = source.decoder.decode(log);
        } catch (err) {
          this.#logger.warn({ err, txHash: log.transactionHash, logIndex: log.index }, "undecodable log skipped");
        }
        if (parsed !== null) {
          events.push(toEventPayload(source.name, log, parsed));
          break;
        }
      }
    }
    return events.sort((a, b) => a.blockNumber - b.blockNumber || a.logIndex - b.logIndex);
  }

  async #resolveSources(): Promise<Map<string, ResolvedSource[]>> {
    if (this.#sources !== undefined) return this.#sources;
    const byAddress = new Map<string, ResolvedSource[]>();
    for (const source of this.#options.sources) {
      const contract = source.contract;
      const address = ("getAddress" in contract ? await contract.getAddress() : contract.address).toLowerCase();
      let decoder: EventDecoder;
      try {
        decoder = new EventDecoder(contract.interface, source.events);
      } catch (err) {
        throw new Error(`ChainListener: source ${source.name}: ${(err as Error).message}`, { cause: err });
      }
      byAddress.set(address, [...(byAddress.get(address) ?? []), { name: source.name, address, decoder }]);
    }
    this.#sources = byAddress;
    return byAddress;
  }
}
