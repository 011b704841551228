import type { Redis } from "ioredis";

/**
 * The sample hashes of the datasets a validator saw accepted, kept in Redis so they survive
 * restarts and every process of one operator shares them. A dataset this validator voted to
 * accept is held as "candidate" until the chain says how it was decided: only then do its
 * hashes join the accepted set (or are dropped), so a rejected dataset never makes an honest
 * later one look like a duplicate.
 */
export class AcceptedSamples {
  readonly #redis: Redis;
  readonly #key: string;

  /** `namespace` separates chains, registries and operators, e.g. `tessera:data:31337:0xabc…`. */
  constructor(redis: Redis, namespace: string) {
    this.#redis = redis;
    this.#key = namespace;
  }

  /** Every accepted sample hash. */
  async all(): Promise<Set<string>> {
    return new Set(await this.#redis.smembers(`${this.#key}:accepted`));
  }

  async size(): Promise<number> {
    return this.#redis.scard(`${this.#key}:accepted`);
  }

  /** Holds a dataset's hashes until its decision is known. */
  async addCandidate(datasetId: bigint, hashes: readonly string[]): Promise<void> {
    if (hashes.length === 0) return;
    await this.#redis.multi().sadd(this.#candidateKey(datasetId), ...hashes).sadd(`${this.#key}:candidates`, datasetId.toString()).exec();
  }

  /** Dataset ids whose hashes wait for a decision. */
  async candidates(): Promise<bigint[]> {
    return (await this.#redis.smembers(`${this.#key}:candidates`)).map((id) => BigInt(id));
  }

  /** Moves a candidate's hashes into the accepted set (`accepted`) or drops them. */
  async settle(datasetId: bigint, accepted: boolean): Promise<void> {
    const candidate = this.#candidateKey(datasetId);
    const tx = this.#redis.multi();
    if (accepted) tx.sunionstore(`${this.#key}:accepted`, `${this.#key}:accepted`, candidate);
    await tx.del(candidate).srem(`${this.#key}:candidates`, datasetId.toString()).exec();
  }

  /** Adds the hashes of a dataset already accepted on chain. */
  async addAccepted(hashes: readonly string[]): Promise<void> {
    if (hashes.length > 0) await this.#redis.sadd(`${this.#key}:accepted`, ...hashes);
  }

  #candidateKey(datasetId: bigint): string {
    return `${this.#key}:candidate:${datasetId}`;
  }
}
