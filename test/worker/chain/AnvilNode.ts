import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { JsonRpcProvider } from "ethers";
import { network } from "hardhat";
import type { NetworkConnection } from "hardhat/types/network";
import { freePort } from "./freePort.js";

const require = createRequire(import.meta.url);

/** The anvil binary of `@foundry-rs/anvil`'s platform package (spawned directly: no wrapper process to orphan it). */
function anvilBinary(): string {
  try {
    const dir = dirname(require.resolve(`@foundry-rs/anvil-${process.platform}-${process.arch === "x64" ? "amd64" : process.arch}/package.json`));
    if (existsSync(join(dir, "bin", "anvil"))) return join(dir, "bin", "anvil");
  } catch {
    // fall through to the npm wrapper
  }
  return resolve("node_modules/.bin/anvil");
}

/**
 * Foundry's Anvil on a free local port: a second node implementation, with `anvil_reorg`,
 * `anvil_rollback` and `anvil_dropTransaction` for the faults EDR cannot make.
 */
export class AnvilNode {
  private constructor(
    readonly process: ChildProcess,
    readonly rpcUrl: string,
    readonly connection: NetworkConnection,
    /** A plain JSON-RPC client without ethers' request cache (what a fault test needs to see). */
    readonly provider: JsonRpcProvider,
  ) {}

  static async start(args: readonly string[] = []): Promise<AnvilNode> {
    const port = await freePort();
    const child = spawn(anvilBinary(), ["--port", String(port), "--host", "127.0.0.1", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
    const rpcUrl = `http://127.0.0.1:${port}`;
    const listening = Date.now() + 20_000;
    while (!output.includes("Listening on")) {
      if (child.exitCode !== null || Date.now() > listening) throw new Error(`anvil did not start on ${rpcUrl}:\n${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const provider = new JsonRpcProvider(rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1, polling: true, pollingInterval: 50 });
    const until = Date.now() + 20_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`anvil exited (${child.exitCode}):\n${output}`);
      try {
        await provider.send("eth_chainId", []);
        break;
      } catch {
        if (Date.now() > until) throw new Error(`anvil did not answer on ${rpcUrl}:\n${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const connection = await network.create({ network: "localhost", override: { url: rpcUrl } });
    return new AnvilNode(child, rpcUrl, connection, provider);
  }

  rpc<T = unknown>(method: string, params: unknown[] = []): Promise<T> {
    return this.provider.send(method, params) as Promise<T>;
  }

  async stop(): Promise<void> {
    this.provider.destroy();
    await this.connection.close();
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    const exited = new Promise((r) => this.process.once("exit", r));
    this.process.kill("SIGTERM");
    await exited;
  }
}
