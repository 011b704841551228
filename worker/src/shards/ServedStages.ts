/** A stage this host answered and the caller received. */
export interface ServedStage {
  readonly peer: string;
  readonly requestId: bigint;
  readonly shardIndex: number;
}

/** A stage this host answered to `peer` and another host was paid for. */
export interface UnpaidStage {
  /** Refused from now on: the claimant that paid another host, or the peer that was paid for this host's work. */
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
  /** How long an unsettled request is remembered (longer than a request can stay open); default 26 h. */
  readonly maxAgeMs?: number;
  /** Unsettled requests one peer may hold here before it is refused more stages; default 1,000. */
  readonly maxUnsettledPerPeer?: number;
  readonly now?: () => number;
}

interface Entry {
  readonly at: number;
  /** peer (lowercase) → shards answered to it. */
  readonly peers: Map<string, Set<number>>;
}

/**
 * Tit for tat, on a host: the stages it answered, by request, settled against the fulfilments the chain records. A
 * fulfilment names the host paid for each shard; only the claimant fulfils, and it chooses whose signatures to post.
 * When this host answered shard k of a fulfilled request and another host was paid for shard k:
 * - the claimant is refused, if this host answered it (it took this host's stage and paid its own Sybil), and
 * - the host that was paid is refused, if this host answered it (it fetched the stage here and re-signed it: a relay,
 *   or a claimant's Sybil fetching under its own key),
 * each for `refuseForMs`. Nothing on chain can tell who computed an intermediate stage, so this is the host's own
 * defence, as BitTorrent chokes a peer that does not reciprocate. A stage whose answer the caller reset is not
 * recorded. Entries are kept until settled or `maxAgeMs` old (never evicted for room: a peer that holds more than
 * `maxUnsettledPerPeer` unsettled requests is refused instead), in memory: a restart forgets them and the refusals.
 */
export class ServedStages {
  readonly #o: ServedStagesOptions;
  readonly #host: string;
  readonly #now: () => number;
  readonly #maxAge: number;
  readonly #maxPerPeer: number;
  readonly #byRequest = new Map<bigint, Entry>();
  /** peer (lowercase) → unsettled requests it was answered stages of. */
  readonly #unsettled = new Map<string, number>();
  /** peer (lowercase) → refused until (unix ms). */
  readonly #refused = new Map<string, number>();

  constructor(options: ServedStagesOptions) {
    this.#o = options;
    this.#host = options.host.toLowerCase();
    this.#now = options.now ?? Date.now;
    this.#maxAge = options.maxAgeMs ?? 26 * 3_600_000;
    this.#maxPerPeer = options.maxUnsettledPerPeer ?? 1_000;
  }

  /** Requests with answered stages not yet settled. */
  get pending(): number {
    this.#prune();
    return this.#byRequest.size;
  }

  /** Whether a fulfilment of `requestId` concerns this host. */
  served(requestId: bigint): boolean {
    return this.#byRequest.has(requestId);
  }

  record(stage: ServedStage): void {
    this.#prune();
    let entry = this.#byRequest.get(stage.requestId);
    if (entry === undefined) {
      entry = { at: this.#now(), peers: new Map() };
      this.#byRequest.set(stage.requestId, entry);
    }
    const peer = stage.peer.toLowerCase();
    let shards = entry.peers.get(peer);
    if (shards === undefined) {
      entry.peers.set(peer, (shards = new Set()));
      this.#unsettled.set(peer, (this.#unsettled.get(peer) ?? 0) + 1);
    }
    shards.add(stage.shardIndex);
  }

  /**
   * A fulfilment of `requestId` by `claimant`, paying `hosts[i]` for shard i. Returns the offences found (their peers
   * are refused from now on) and forgets the request.
   */
  settle(requestId: bigint, claimant: string, hosts: readonly string[]): UnpaidStage[] {
    const entry = this.#byRequest.get(requestId);
    if (entry === undefined) return [];
    this.#forget(requestId, entry);
    const unpaid: UnpaidStage[] = [];
    const claimantKey = claimant.toLowerCase();
    for (const [peer, shards] of entry.peers) {
      for (const shardIndex of shards) {
        const paid = hosts[shardIndex];
        if (paid === undefined || paid.toLowerCase() === this.#host) continue;
        if (peer === claimantKey || peer === paid.toLowerCase()) unpaid.push({ peer: peer === claimantKey ? claimant : paid, requestId, shardIndex, paid });
      }
    }
    for (const u of unpaid) this.#refused.set(u.peer.toLowerCase(), this.#now() + this.#o.refuseForMs);
    return unpaid;
  }

  /** Why `peer` is refused now (a sentence), or undefined. */
  refusal(peer: string): string | undefined {
    const until = this.refusedUntil(peer);
    if (until !== undefined) return `${peer} was given a stage by this host and another host was paid for it: refused until ${new Date(until).toISOString()}`;
    this.#prune();
    if ((this.#unsettled.get(peer.toLowerCase()) ?? 0) >= this.#maxPerPeer) {
      return `${peer} holds ${this.#maxPerPeer} requests with stages from this host not yet fulfilled: try again once some are`;
    }
    return undefined;
  }

  /** Until when `peer` is refused for an unpaid stage (unix ms), or undefined if it is not. */
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

  #forget(requestId: bigint, entry: Entry): void {
    this.#byRequest.delete(requestId);
    for (const peer of entry.peers.keys()) {
      const n = (this.#unsettled.get(peer) ?? 1) - 1;
      if (n <= 0) this.#unsettled.delete(peer);
      else this.#unsettled.set(peer, n);
    }
  }

  /** Drops requests older than maxAge (insertion order is age order). */
  #prune(): void {
    const oldest = this.#now() - this.#maxAge;
    for (const [requestId, entry] of this.#byRequest) {
      if (entry.at > oldest) break;
      this.#forget(requestId, entry);
    }
  }
}
