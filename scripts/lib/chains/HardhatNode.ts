import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { freePort } from "../../../worker/src/redis/PrivateRedisServer.js";
import { jsonRpc } from "./JsonRpc.js";
import { stopChild } from "./StopChild.js";

const require = createRequire(import.meta.url);

/**
 * `hardhat node` (Hardhat's EDR behind its JSON-RPC server) in a child process on 127.0.0.1 and a free port: the
 * development chain as an operator runs it beside a worker, in a process of its own. A benchmark that serves EDR
 * from its own process instead shares that process's JavaScript thread (which parses and answers every JSON-RPC
 * call) with its senders and pollers.
 */
export class HardhatNode {
  #output = "";

  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
  ) {}

  static async start(): Promise<HardhatNode> {
    const port = await freePort();
    // The package's `bin` (its exports do not name the file): beside its package.json.
    const cli = join(dirname(require.resolve("hardhat/package.json")), (require("hardhat/package.json") as { bin: { hardhat: string } }).bin.hardhat);
    const child = spawn(process.execPath, [cli, "node", "--hostname", "127.0.0.1", "--port", String(port)], { stdio: ["ignore", "pipe", "pipe"] });
    const node = new HardhatNode(port, child);
    let spawnError: Error | undefined;
    child.once("error", (err) => (spawnError = err));
    // Keep the last few kilobytes (it logs every call's method) for an error message.
    const keep = (chunk: Buffer) => (node.#output = (node.#output + chunk.toString()).slice(-4_000));
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    const until = Date.now() + 120_000;
    for (;;) {
      try {
        await jsonRpc(node.rpcUrl, "eth_chainId");
        return node;
      } catch {
        if (spawnError !== undefined) throw new Error(`hardhat node could not start: ${spawnError.message}`);
        if (child.exitCode !== null) throw new Error(`hardhat node exited with ${child.exitCode}: ${node.#output}`);
        if (Date.now() > until) {
          await node.stop();
          throw new Error(`hardhat node did not answer on ${node.rpcUrl} within 120 s: ${node.#output}`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  get rpcUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  stop(): Promise<void> {
    return stopChild(this.child);
  }

  /** The node's process id (for its CPU time). */
  get pid(): number | undefined {
    return this.child.pid;
  }
}
