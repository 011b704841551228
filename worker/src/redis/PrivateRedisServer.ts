import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants as fsConstants } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { TesseraError } from "../errors.js";
import { pingRedis } from "./RedisConnection.js";

/** Absolute path of `command` on PATH, or undefined. */
export function findOnPath(command: string, path = process.env.PATH ?? ""): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A TCP port on 127.0.0.1 nobody listened on a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

export interface PrivateRedisServerOptions {
  /** Working folder for the server; a fresh temp folder (removed on stop) when omitted. */
  readonly dir?: string;
  readonly port?: number;
  /** redis-server binary; looked up on PATH when omitted. */
  readonly binary?: string;
  readonly startTimeoutMs?: number;
}

/**
 * A redis-server child process of our own, on 127.0.0.1 and a free port, persisting nothing
 * (`--save "" --appendonly no`): the worker's fallback when no Redis is configured or running.
 */
export class PrivateRedisServer {
  readonly url: string;
  readonly port: number;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  readonly #ownedDir: string | undefined;
  #stopping: Promise<void> | undefined;

  private constructor(child: ChildProcess, port: number, ownedDir: string | undefined) {
    this.#child = child;
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.#ownedDir = ownedDir;
    this.#exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once("exit", () => resolve());
    });
  }

  static async start(options: PrivateRedisServerOptions = {}): Promise<PrivateRedisServer> {
    const binary = options.binary ?? findOnPath("redis-server");
    if (binary === undefined) {
      throw new TesseraError("redis-server is not on PATH: install it (apt-get install redis-server) or set REDIS_URL", {
        code: "REDIS_SERVER_MISSING",
      });
    }
    let dir = options.dir;
    let ownedDir: string | undefined;
    if (dir === undefined) {
      dir = ownedDir = await mkdtemp(join(tmpdir(), "tessera-redis-"));
    } else {
      await mkdir(dir, { recursive: true });
    }
    const port = options.port ?? (await freePort());
    const child = spawn(
      binary,
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-2_000);
    });
    const spawnError = new Promise<Error>((resolve) => child.once("error", resolve));
    const server = new PrivateRedisServer(child, port, ownedDir);

    const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
    while (Date.now() < deadline) {
      const failed = await Promise.race([spawnError, server.#exited.then(() => true), Promise.resolve(false)]);
      if (failed !== false) {
        await server.stop();
        throw new TesseraError(`redis-server failed to start on port ${port}: ${failed === true ? stderr.trim() : failed.message}`, {
          code: "REDIS_SERVER_FAILED",
        });
      }
      if ((await pingRedis(server.url, 500)) === true) return server;
      await new Promise((r) => setTimeout(r, 50));
    }
    await server.stop();
    throw new TesseraError(`redis-server on port ${port} did not answer PING in time`, { code: "REDIS_SERVER_FAILED" });
  }

  /** Shuts the server down (SIGTERM, then SIGKILL after 5 s) and removes its temp folder. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#child.exitCode === null && this.#child.signalCode === null) {
        this.#child.kill("SIGTERM");
        const killTimer = setTimeout(() => this.#child.kill("SIGKILL"), 5_000);
        await this.#exited;
        clearTimeout(killTimer);
      }
      if (this.#ownedDir !== undefined) await rm(this.#ownedDir, { recursive: true, force: true });
    })();
    return this.#stopping;
  }
}
