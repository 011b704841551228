/** The chain reads a host authorizes stages with. */
export interface AuthorizationReads {
  isEligibleInferrer(peer: string, versionId: bigint): Promise<boolean>;
  requestState(requestId: bigint): Promise<{ status: bigint; modelVersionId: bigint }>;
}

export interface StageAuthorizationOptions {
  /** How long a positive read is reused; default 2 s. */
  readonly ttlMs?: number;
  /** Entries kept per cache at most (the expired dropped first, then the oldest); default 10,000. */
  readonly capacity?: number;
  readonly now?: () => number;
}

/**
 * Whether a peer may have this host run a stage of a request: a staked inference worker of the version, on a
 * request that exists on chain for that version — nobody else gets free compute. The two chain reads are reused
 * for `ttlMs` once positive: a request's stages, and a busy peer's, come within milliseconds of each other, and over
 * a remote RPC each read is a round trip on the pipeline's critical path. Negative and failed reads are not reused
 * (a peer that just registered, or a request the host's node has not seen yet, is asked about again next time). Reads
 * in flight are shared: the stages of a batch, all of one peer, read its eligibility once.
 */
export class StageAuthorization {
  readonly #reads: AuthorizationReads;
  readonly #ttl: number;
  readonly #capacity: number;
  readonly #now: () => number;
  /** `${peer}:${versionId}` → until. */
  readonly #eligible = new Map<string, number>();
  /** requestId → { versionId, until }. */
  readonly #requests = new Map<bigint, { versionId: bigint; until: number }>();
  /** Reads in flight, shared by the checks that need them meanwhile (a batch's stages all ask about one peer). */
  readonly #readingEligible = new Map<string, Promise<boolean>>();
  readonly #readingRequests = new Map<bigint, Promise<bigint | undefined>>();

  constructor(reads: AuthorizationReads, options: StageAuthorizationOptions = {}) {
    this.#reads = reads;
    this.#ttl = options.ttlMs ?? 2_000;
    this.#capacity = options.capacity ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  async authorize(peer: string, requestId: bigint, versionId: bigint): Promise<boolean> {
    const now = this.#now();
    const eligibleKey = `${peer.toLowerCase()}:${versionId}`;
    const knownEligible = (this.#eligible.get(eligibleKey) ?? 0) > now;
    const knownRequest = this.#requests.get(requestId);
    const requestKnown = knownRequest !== undefined && knownRequest.until > now;
    const [eligible, requestVersion] = await Promise.all([
      knownEligible ? true : shared(this.#readingEligible, eligibleKey, () => this.#reads.isEligibleInferrer(peer, versionId)),
      requestKnown ? knownRequest.versionId : shared(this.#readingRequests, requestId, () => this.#reads.requestState(requestId).then((s) => (s.status === 0n ? undefined : s.modelVersionId))),
    ]);
    const until = this.#now() + this.#ttl;
    if (eligible && !knownEligible) remember(this.#eligible, eligibleKey, until, this.#capacity, this.#now());
    if (requestVersion !== undefined && !requestKnown) remember(this.#requests, requestId, { versionId: requestVersion, until }, this.#capacity, this.#now());
    return eligible && requestVersion === versionId;
  }
}

/** The read in flight for `key`, or a new one (forgotten once settled). */
function shared<K, V>(inFlight: Map<K, Promise<V>>, key: K, read: () => Promise<V>): Promise<V> {
  let pending = inFlight.get(key);
  if (pending === undefined) {
    pending = read().finally(() => inFlight.delete(key));
    inFlight.set(key, pending);
  }
  return pending;
}

function remember<K, V extends number | { until: number }>(map: Map<K, V>, key: K, value: V, capacity: number, now: number): void {
  if (map.size >= capacity) {
    for (const [k, v] of map) if ((typeof v === "number" ? v : v.until) <= now) map.delete(k);
    while (map.size >= capacity) map.delete(map.keys().next().value!);
  }
  map.set(key, value);
}
