import { Redis } from "ioredis";
import { processCpuSeconds } from "../ProcessCpu.js";
import type { LoadOperator } from "./LoadOperator.js";

/** CPU seconds used so far (user + system) by each party of a load run. */
export interface CpuSnapshot {
  /** The chain's node, when it runs in a process of its own (`hardhat node`, Anvil); else 0 (it is in `bench`). */
  readonly node: number;
  /** This process: the benchmark's senders and poller, and the chain when it is EDR in this process. */
  readonly bench: number;
  /** Every worker process of every operator. */
  readonly workers: number;
  /** Every operator's redis-server (INFO cpu). */
  readonly redis: number;
}

async function redisCpuSeconds(url: string): Promise<number> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    const info = await client.info("cpu");
    const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(info)?.[1] ?? 0);
    return field("used_cpu_user") + field("used_cpu_sys");
  } finally {
    client.disconnect();
  }
}

/** Where the machine's CPU went: read before and after a measured span, the difference per request says what bounds it. */
export async function cpuSnapshot(operators: readonly LoadOperator[], nodePid?: number): Promise<CpuSnapshot> {
  const own = process.cpuUsage();
  const redis = await Promise.all(operators.map((o) => redisCpuSeconds(o.redis.url)));
  return {
    node: processCpuSeconds(nodePid),
    bench: (own.user + own.system) / 1e6,
    workers: operators.flatMap((o) => o.processes).reduce((sum, p) => sum + processCpuSeconds(p.child.pid), 0),
    redis: redis.reduce((a, b) => a + b, 0),
  };
}

/** CPU milliseconds per request between two snapshots. */
export function cpuMsPerRequest(before: CpuSnapshot, after: CpuSnapshot, requests: number): CpuSnapshot {
  const per = (k: keyof CpuSnapshot) => ((after[k] - before[k]) * 1000) / Math.max(1, requests);
  return { node: per("node"), bench: per("bench"), workers: per("workers"), redis: per("redis") };
}
