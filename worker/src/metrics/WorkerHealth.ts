import type { Provider } from "ethers";
import type { Redis } from "ioredis";
import type { ChainListenerStats } from "../chain/ChainListener.js";
import type { ReadinessReport } from "../ops/WorkerReadiness.js";

export interface HealthReport {
  /** "ok" (HTTP 200) or "unavailable" (503, with the reasons in `problems`). */
  readonly status: "ok" | "unavailable";
  readonly problems: readonly string[];
  readonly chain: { readonly chainId: number; readonly head: number | null };
  readonly listeners: readonly {
    readonly name: string;
    readonly cursor: number | null;
    readonly lag: number | null;
    readonly reorgs: number;
    readonly restarts: number;
    readonly pollErrors: number;
  }[];
  readonly redis: { readonly ok: boolean };
  readonly eligibility: ReadinessReport | null;
  readonly backend: string | null;
  readonly nonceResyncs: number | null;
}

export interface WorkerHealthOptions {
  readonly provider: Provider;
  readonly chainId: number;
  readonly redis: Redis;
  readonly listeners: () => readonly { readonly name: string; readonly stats: ChainListenerStats | undefined }[];
  readonly readiness: () => ReadinessReport | undefined;
  readonly backend?: string;
  readonly nonceResyncs?: () => number;
  /** A listener further behind the head than this (beyond its confirmations) makes the worker unavailable. Default 100. */
  readonly maxLagBlocks?: number;
  /** Per probe (chain head, Redis ping). Default 2 s. */
  readonly probeTimeoutMs?: number;
}

function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The worker's health as /healthz reports it: the chain answers, Redis answers, every listener
 * keeps up, and the chain lets this key serve every role the process runs.
 */
export class WorkerHealth {
  readonly #o: WorkerHealthOptions;

  constructor(options: WorkerHealthOptions) {
    this.#o = options;
  }

  async check(): Promise<HealthReport> {
    const o = this.#o;
    const timeout = o.probeTimeoutMs ?? 2_000;
    const problems: string[] = [];
    const [head, redisOk] = await Promise.all([
      within(o.provider.getBlockNumber(), timeout).catch(() => null),
      within(o.redis.ping(), timeout).then(
        (r) => r === "PONG",
        () => false,
      ),
    ]);
    if (head === null) problems.push("the chain's RPC does not answer");
    if (!redisOk) problems.push("Redis does not answer");
    const listeners = o.listeners().map(({ name, stats }) => ({
      name,
      cursor: stats?.cursor ?? null,
      lag: head !== null && stats?.cursor !== undefined ? head - stats.cursor : (stats?.lag ?? null),
      reorgs: stats?.reorgs ?? 0,
      restarts: stats?.restarts ?? 0,
      pollErrors: stats?.pollErrors ?? 0,
    }));
    const maxLag = o.maxLagBlocks ?? 100;
    for (const l of listeners) if (l.lag !== null && l.lag > maxLag) problems.push(`${l.name} is ${l.lag} blocks behind the head`);
    const eligibility = o.readiness() ?? null;
    for (const r of eligibility?.roles ?? []) if (!r.ok) problems.push(`cannot serve the ${r.role} role: ${r.problems.join("; ")}`);
    return {
      status: problems.length === 0 ? "ok" : "unavailable",
      problems,
      chain: { chainId: o.chainId, head },
      listeners,
      redis: { ok: redisOk },
      eligibility,
      backend: o.backend ?? null,
      nonceResyncs: o.nonceResyncs?.() ?? null,
    };
  }
}
