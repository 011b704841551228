import type { PaidRequest } from "../../client/src/InferenceRequests.js";

/** A paid request the page follows, with the block its events are searched from. */
export interface FollowedRequest {
  readonly paid: PaidRequest;
  readonly fromBlock: number;
  readonly versionId: bigint;
}

const key = (chainId: number, account: string) => `tessera.requests.${chainId}.${account.toLowerCase()}`;
const encode = (value: unknown) => JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? { $bigint: v.toString() } : v));
const decode = (text: string) => JSON.parse(text, (_k, v: unknown) => (v !== null && typeof v === "object" && "$bigint" in v ? BigInt((v as { $bigint: string }).$bigint) : v)) as unknown;

/**
 * The requests a person paid for from this browser and has not seen end (answered or refunded), kept in the browser
 * so that a reload, a closed tab or a page left mid-payment never leaves a fee without a way back to it.
 */
export class PaidRequestStore {
  constructor(
    readonly chainId: number,
    readonly account: string,
  ) {}

  list(): FollowedRequest[] {
    try {
      const raw = localStorage.getItem(key(this.chainId, this.account));
      return raw === null ? [] : (decode(raw) as FollowedRequest[]);
    } catch {
      return [];
    }
  }

  add(request: FollowedRequest): void {
    localStorage.setItem(key(this.chainId, this.account), encode([...this.list().filter((r) => r.paid.requestId !== request.paid.requestId), request]));
  }

  /** Forgets a request once it is answered or refunded. */
  remove(requestId: bigint): void {
    localStorage.setItem(key(this.chainId, this.account), encode(this.list().filter((r) => r.paid.requestId !== requestId)));
  }
}
