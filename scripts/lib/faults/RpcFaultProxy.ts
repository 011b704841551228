import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** What the proxy does to each JSON-RPC call: shares of calls (0..1) hit by each fault, drawn in this order. */
export interface RpcFaults {
  /** The connection is cut without an answer. */
  readonly drop?: number;
  /** HTTP 429 Too Many Requests with `Retry-After: 1`, as a rate-limited provider answers. */
  readonly rateLimit?: number;
  /** HTTP 503, as a provider behind a load balancer answers while a backend restarts. */
  readonly serverError?: number;
  /** Extra latency of every forwarded call, in ms (uniform in [min, max]). */
  readonly delayMs?: readonly [number, number];
}

export type RpcOutcome = "forwarded" | "dropped" | "rateLimited" | "serverError";

/**
 * A JSON-RPC proxy on 127.0.0.1 between a worker and its node that drops, delays, errors and rate-limits calls,
 * with a seeded generator so that a run's faults are reproducible. Faults change at run time (`setFaults`).
 */
export class RpcFaultProxy {
  readonly counts: Record<RpcOutcome, number> = { forwarded: 0, dropped: 0, rateLimited: 0, serverError: 0 };
  private faults: RpcFaults = {};
  private state: number;

  private constructor(
    private readonly server: Server,
    private readonly upstream: string,
    seed: number,
  ) {
    this.state = seed >>> 0 || 1;
  }

  static async start(upstream: string, seed = 1): Promise<RpcFaultProxy> {
    let proxy: RpcFaultProxy | undefined;
    const server = createServer((req, res) => void proxy!.handle(req, res));
    proxy = new RpcFaultProxy(server, upstream, seed);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  setFaults(faults: RpcFaults): void {
    this.faults = faults;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const { drop = 0, rateLimit = 0, serverError = 0, delayMs } = this.faults;
    const roll = this.next();
    if (roll < drop) {
      this.counts.dropped++;
      req.socket.destroy();
      return;
    }
    if (roll < drop + rateLimit) {
      this.counts.rateLimited++;
      res.writeHead(429, { "retry-after": "1", "content-type": "text/plain" }).end("Too Many Requests");
      return;
    }
    if (roll < drop + rateLimit + serverError) {
      this.counts.serverError++;
      res.writeHead(503, { "content-type": "text/plain" }).end("Service Unavailable");
      return;
    }
    if (delayMs !== undefined) {
      await new Promise((r) => setTimeout(r, delayMs[0] + this.next() * (delayMs[1] - delayMs[0])));
    }
    try {
      const upstream = await fetch(this.upstream, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: Buffer.concat(chunks),
        signal: AbortSignal.timeout(30_000), // a node that never answers: the caller sees a cut connection
      });
      const body = Buffer.from(await upstream.arrayBuffer());
      this.counts.forwarded++;
      res.writeHead(upstream.status, { "content-type": "application/json" }).end(body);
    } catch {
      // The node itself is down (restarting): the caller sees a cut connection, as it would without the proxy.
      this.counts.dropped++;
      req.socket.destroy();
    }
  }

  /** mulberry32: a small seeded generator in [0, 1). */
  private next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}
