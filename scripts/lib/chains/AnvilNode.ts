import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { freePort } from "../../../worker/src/redis/PrivateRedisServer.js";
import { jsonRpc } from "./JsonRpc.js";
import { stopChild } from "./StopChild.js";

const require = createRequire(import.meta.url);

export interface AnvilOptions {
  /** Port to listen on (default: a free one). Kept across `restart`, so clients reconnect to the same URL. */
  readonly port?: number;
  /** Seconds between blocks; default: a block per transaction (Anvil's automine). */
  readonly blockTime?: number;
  /** A file the node dumps its state to on exit (`--dump-state`), for restarts that keep it. */
  readonly stateFile?: string;
}

/**
 * Foundry's Anvil (the npm package `@foundry-rs/anvil`) as a second node implementation beside Hardhat's EDR:
 * a child process on 127.0.0.1 with Hardhat's development accounts, real chain reorganisations (`anvil_reorg`,
 * `anvil_rollback`) and restarts with or without its state.
 */
export class AnvilNode {
  private child: ChildProcess | undefined;
  private output = "";

  private constructor(
    readonly port: number,
    private readonly options: AnvilOptions,
  ) {}

  static async start(options: AnvilOptions = {}): Promise<AnvilNode> {
    const node = new AnvilNode(options.port ?? (await freePort()), options);
    await node.launch(false);
    return node;
  }

  get rpcUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The running node's process id (for its CPU time); undefined when stopped. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Raw JSON-RPC call to the node (its own methods: anvil_reorg, evm_mine, ...). */
  async rpc<T = unknown>(method: string, params: unknown[] = []): Promise<T> {
    return jsonRpc<T>(this.rpcUrl, method, params);
  }

  /** Replaces the last `depth` blocks by as many empty ones: every transaction in them is gone from the chain. */
  async reorg(depth: number): Promise<void> {
    await this.rpc("anvil_reorg", [depth, []]);
  }

  /** Removes the last `depth` blocks (the head moves back; their transactions are dropped). */
  async rollback(depth: number): Promise<void> {
    await this.rpc("anvil_rollback", [depth]);
  }

  async mine(blocks = 1): Promise<void> {
    await this.rpc("anvil_mine", [`0x${blocks.toString(16)}`]);
  }

  /**
   * Stops the node and starts a new one on the same port: with `keepState` from the state it dumped on exit
   * (needs `stateFile`), otherwise a fresh chain whose first deployments land at the same addresses.
   */
  async restart(keepState: boolean): Promise<void> {
    if (keepState && this.options.stateFile === undefined) throw new Error("AnvilNode.restart(keepState) needs a stateFile");
    await this.stop();
    await this.launch(keepState);
  }

  async stop(): Promise<void> {
    if (this.child === undefined) return;
    await stopChild(this.child);
    this.child = undefined;
  }

  private async launch(loadState: boolean): Promise<void> {
    const args = ["--host", "127.0.0.1", "--port", String(this.port), "--hardfork", "cancun", "--silent"];
    if (this.options.blockTime !== undefined) args.push("--block-time", String(this.options.blockTime));
    if (this.options.stateFile !== undefined) {
      args.push("--dump-state", this.options.stateFile);
      if (loadState) args.push("--load-state", this.options.stateFile);
    }
    const child = spawn(anvilBinary(), args, { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.on("data", (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => (this.output += chunk.toString()));
    this.child = child;
    const until = Date.now() + 30_000;
    for (;;) {
      try {
        await this.rpc("eth_chainId");
        return;
      } catch {
        if (child.exitCode !== null) throw new Error(`anvil exited with ${child.exitCode}: ${this.output.slice(-2_000)}`);
        if (Date.now() > until) throw new Error(`anvil did not answer on ${this.rpcUrl} within 30 s: ${this.output.slice(-2_000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}

/** The platform binary the `@foundry-rs/anvil` wrapper would run (spawned directly, so signals reach it). */
function anvilBinary(): string {
  const arch = process.arch === "x64" ? "amd64" : process.arch;
  return require.resolve(`@foundry-rs/anvil-${process.platform}-${arch}/bin/anvil`);
}
