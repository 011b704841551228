import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Service } from "../lifecycle/Service.js";
import { silentLogger, type Logger } from "../logger.js";
import type { WorkerHealth } from "./WorkerHealth.js";
import type { WorkerMetrics } from "./WorkerMetrics.js";

export interface HealthServerOptions {
  /** 0 picks a free port (tests); the daemon leaves the server off for METRICS_PORT=0. */
  readonly port: number;
  /** 127.0.0.1 by default: metrics name the worker's key and earnings; expose them on purpose. */
  readonly host?: string;
  readonly health: WorkerHealth;
  readonly metrics: WorkerMetrics;
  readonly logger?: Logger;
}

/** `GET /healthz` (JSON; 200 or 503) and `GET /metrics` (Prometheus text format) over plain HTTP. */
export class HealthServer implements Service {
  readonly name = "health-server";
  readonly #o: HealthServerOptions;
  readonly #logger: Logger;
  #server: Server | undefined;

  constructor(options: HealthServerOptions) {
    this.#o = options;
    this.#logger = (options.logger ?? silentLogger).child({ service: this.name });
  }

  /** The bound address once started (the port chosen when 0 was asked for). */
  get address(): AddressInfo | undefined {
    const address = this.#server?.address();
    return address !== null && typeof address === "object" ? address : undefined;
  }

  async start(): Promise<void> {
    if (this.#server !== undefined) return;
    const server = createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      const reply = async () => {
        if (req.method !== "GET") return void res.writeHead(405, { allow: "GET" }).end();
        if (path === "/healthz") {
          const report = await this.#o.health.check();
          res.writeHead(report.status === "ok" ? 200 : 503, { "content-type": "application/json" });
          return void res.end(JSON.stringify(report));
        }
        if (path === "/metrics") {
          const body = await this.#o.metrics.metrics();
          res.writeHead(200, { "content-type": this.#o.metrics.contentType });
          return void res.end(body);
        }
        res.writeHead(404, { "content-type": "text/plain" }).end("not found: try /healthz or /metrics\n");
      };
      reply().catch((err: unknown) => {
        this.#logger.warn({ err, path }, "health/metrics request failed");
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
        res.end(`${(err as Error).message}\n`);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#o.port, this.#o.host ?? "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.#server = server;
    this.#logger.info({ host: this.address?.address, port: this.address?.port }, "serving /healthz and /metrics");
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
