import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import { join } from "node:path";
import { WORKER_BUNDLE, WORKER_ENTRY, bundleOnce } from "../build/Bundles.js";

export interface WorkerProcessOptions {
  /** Names the log file `<dataDir>/<name>.log`. */
  readonly name: string;
  readonly rpcUrl: string;
  /** The worker's signing key (a development key: never a real one). */
  readonly workerKey: string;
  readonly encryptionKey?: string;
  /** Holds deployment.json and the shared embedded IPFS store (`<dataDir>/ipfs`). */
  readonly dataDir: string;
  readonly redisUrl: string;
  readonly queuePrefix: string;
  /** WORKER_ROLES, e.g. "listener,trainer". */
  readonly roles: string;
  /** Any other setting of .env.example. */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * The worker daemon as its own OS process, as on a GPU host: `worker/src/main.ts` bundled (Bundles.ts, once per
 * process, so it runs the sources as they are) and run by plain node, as `npm run worker` does; talking to the
 * chain over JSON-RPC and sharing the embedded IPFS block directory and Redis with the others.
 */
export class WorkerProcess {
  readonly child: ChildProcess;
  readonly logFile: string;

  constructor(readonly options: WorkerProcessOptions) {
    this.logFile = join(options.dataDir, `${options.name}.log`);
    const log = createWriteStream(this.logFile);
    const main = bundleOnce(WORKER_ENTRY, WORKER_BUNDLE);
    this.child = spawn(process.execPath, [...(process.env.WORKER_CPU_PROF ? ["--cpu-prof", "--cpu-prof-dir=" + process.env.WORKER_CPU_PROF] : []), main], {
      env: {
        ...process.env,
        TESSERA_RPC_URL: options.rpcUrl,
        TESSERA_WORKER_KEY: options.workerKey,
        ...(options.encryptionKey === undefined ? {} : { TESSERA_ENCRYPTION_KEY: options.encryptionKey }),
        TESSERA_DEPLOYMENT: join(options.dataDir, "deployment.json"),
        TESSERA_DATA_DIR: options.dataDir,
        REDIS_URL: options.redisUrl,
        QUEUE_PREFIX: options.queuePrefix,
        WORKER_ROLES: options.roles,
        CONFIRMATIONS: "0",
        POLL_INTERVAL_MS: "100",
        LOG_LEVEL: "info",
        ...options.env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    // Two sources, one file: neither pipe may end the file while the other still writes (lines after the end were lost).
    this.child.stdout!.pipe(log, { end: false });
    this.child.stderr!.pipe(log, { end: false });
    const ended = (stream: NodeJS.ReadableStream) => new Promise<void>((r) => stream.once("end", () => r()).once("error", () => r()));
    this.#logged = Promise.all([ended(this.child.stdout!), ended(this.child.stderr!)]).then(
      () => new Promise<void>((r) => log.end(() => r())),
    );
  }

  readonly #logged: Promise<void>;

  /** The exit code (or signal), once the process has exited and every line it wrote is in the log file. */
  async exited(): Promise<number | NodeJS.Signals | null> {
    if (this.alive) await new Promise((r) => this.child.once("exit", r));
    await this.#logged;
    return this.child.exitCode ?? this.child.signalCode;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The log so far (pino JSON lines, plus anything on stderr). */
  log(): string {
    try {
      return readFileSync(this.logFile, "utf8");
    } catch {
      return "";
    }
  }

  /** Log records (parsed pino lines) matching `predicate`. */
  records(predicate: (r: Record<string, unknown>) => boolean = () => true): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const line of this.log().split("\n")) {
      if (!line.startsWith("{")) continue;
      try {
        const r = JSON.parse(line) as Record<string, unknown>;
        if (predicate(r)) out.push(r);
      } catch {
        // a line cut by a kill
      }
    }
    return out;
  }

  /** Waits until a log record matches, failing early if the process exits. */
  async waitFor(predicate: (r: Record<string, unknown>) => boolean, timeoutMs: number, what: string): Promise<Record<string, unknown>> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.records(predicate)[0];
      if (hit !== undefined) return hit;
      if (!this.alive) throw new Error(`${this.options.name} exited (${this.child.exitCode ?? this.child.signalCode}) before ${what}:\n${this.log().slice(-3_000)}`);
      if (Date.now() > until) throw new Error(`${this.options.name}: no ${what} within ${timeoutMs} ms:\n${this.log().slice(-3_000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (this.alive) this.child.kill(signal);
  }

  /** SIGTERM (graceful: drains, closes) and waits for the exit, SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    if (!this.alive) return;
    const exited = this.exited();
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  }
}
