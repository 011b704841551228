/** A stage this host answered and the caller received. */
export interface ServedStage {
  readonly peer: string;
  readonly requestId: bigint;
  readonly shardIndex: number;
}

/** A caller that received a stage from this host and then paid another host for it. */
export interface UnpaidStage {
  readonly peer: string;
  readonly requestId: bigint;
  readonly shardIndex: number;
  /** Who the fulfilment paid for that shard instead. */
  readonly paid: string;
}

export interface ServedStagesOptions {
  /** This host's address. */
  readonly host: string;
  /** How long a caller that did not pay is refused. */
  readonly refuseForMs: number;
  /** Requests remembered at once (the oldest forgotten first); default 10,000. */
  readonly capacity?: number;
  readonly now?: () => number;
}

/**
 * Tit for tat, on a host: the stages it answered, by request, settled against the fulfilments the chain records. A
 * fulfilment names the host paid for each shard; only the claimant fulfils, and it chooses whose signatures to post.
 * A claimant that received this host's answer for a stage and then posted another host's signature for it (its own
 * Sybil, re-signing the same hashes to take the host's share) is refused here for `refuseForMs`. Nothing on chain can
 * tell who really computed an intermediate stage, so this is the host's own defence: one unpaid stage per host per
 * claimant key and period, as BitTorrent chokes a peer that does not reciprocate. A stage whose answer never reached
 * the caller (timed out, stream reset) is not recorded: the caller rightly replayed it elsewhere.
 */
export class ServedStages {
  readonly #o: ServedStagesOptions;
  readonly #host: string;
  readonly #now: () => number;
  /** requestId → peer → shards answered to that peer. */
  readonly #byRequest = new Map<bigint, Map<string, Set<number>>>();
  /** peer (lowercase) → refused until (unix ms). */
  readonly #refused = new Map<string, number>();

  constructor(options: ServedStagesOptions) {
    this.#o = options;
    this.#host = options.host.toLowerCase();
    this.#now = options.now ?? Date.now;
  }

  /** Requests with answered stages not yet settled. */
  get pending(): number {
    return this.#byRequest.size;
  }

  /** Whether a fulfilment of `requestId` concerns this host. */
  served(requestId: bigint): boolean {
    return this.#byRequest.has(requestId);
  }

  record(stage: ServedStage): void {
    let peers = this.#byRequest.get(stage.requestId);
    if (peers === undefined) {
      while (this.#byRequest.size >= (this.#o.capacity ?? 10_000)) this.#byRequest.delete(this.#byRequest.keys().next().value!);
      peers = new Map();
      this.#byRequest.set(stage.requestId, peers);
    }
    const peer = stage.peer.toLowerCase();
    let shards = peers.get(peer);
    if (shards === undefined) peers.set(peer, (shards = new Set()));
    shards.add(stage.shardIndex);
  }

  /**
   * A fulfilment of `requestId` by `claimant`, paying `hosts[i]` for shard i. Returns the stages this host answered to
   * the claimant and was not paid for (the claimant is then refused), and forgets the request. Stages answered to
   * other callers (who lost the race to claim) are not offences.
   */
  settle(requestId: bigint, claimant: string, hosts: readonly string[]): UnpaidStage[] {
    const peers = this.#byRequest.get(requestId);
    if (peers === undefined) return [];
    this.#byRequest.delete(requestId);
    const shards = peers.get(claimant.toLowerCase());
    if (shards === undefined) return [];
    const unpaid: UnpaidStage[] = [];
    for (const shardIndex of shards) {
      const paid = hosts[shardIndex];
      if (paid !== undefined && paid.toLowerCase() !== this.#host) unpaid.push({ peer: claimant, requestId, shardIndex, paid });
    }
    if (unpaid.length > 0) this.#refused.set(claimant.toLowerCase(), this.#now() + this.#o.refuseForMs);
    return unpaid;
  }

  /** Until when `peer` is refused (unix ms), or undefined if it is not. */
  refusedUntil(peer: string): number | undefined {
    const key = peer.toLowerCase();
    const until = this.#refused.get(key);
    if (until === undefined) return undefined;
    if (this.#now() >= until) {
      this.#refused.delete(key);
      return undefined;
    }
    return until;
  }
}
