import { JsonRpcProvider } from "ethers";
import { network } from "hardhat";
import type { NetworkConnection } from "hardhat/types/network";
import { AnvilNode } from "../../../scripts/lib/chains/AnvilNode.js";
import { jsonRpc } from "../../../scripts/lib/chains/JsonRpc.js";
import { serveChain, type RpcChain } from "../../../scripts/lib/RpcChain.js";

export type ChainKind = "edr" | "anvil";
export const CHAIN_KINDS: readonly ChainKind[] = ["edr", "anvil"];

/**
 * A local node the fault suite runs against, served over JSON-RPC on 127.0.0.1: Hardhat's EDR, or Foundry's
 * Anvil as a second implementation. Faults a node kind cannot make (EDR has no reorg RPC and cannot restart with
 * its state) throw `UnsupportedFault`, which the suite reports by name.
 */
export class FaultChain {
  private constructor(
    readonly kind: ChainKind,
    readonly rpcUrl: string,
    readonly connection: NetworkConnection,
    private edr: RpcChain | undefined,
    private readonly anvil: AnvilNode | undefined,
  ) {}

  static async start(kind: ChainKind, stateFile?: string): Promise<FaultChain> {
    if (kind === "edr") {
      const chain = await serveChain();
      return new FaultChain(kind, chain.rpcUrl, chain.connection, chain, undefined);
    }
    const node = await AnvilNode.start(stateFile === undefined ? {} : { stateFile });
    const connection = await network.create({ network: "localhost", override: { url: node.rpcUrl } });
    return new FaultChain(kind, node.rpcUrl, connection, undefined, node);
  }

  rpc<T = unknown>(method: string, params: unknown[] = []): Promise<T> {
    return jsonRpc<T>(this.rpcUrl, method, params);
  }

  #provider: JsonRpcProvider | undefined;

  /** A plain JSON-RPC client without ethers' request cache (what a fault test needs to see). */
  get provider(): JsonRpcProvider {
    this.#provider ??= new JsonRpcProvider(this.rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1, polling: true, pollingInterval: 50 });
    return this.#provider;
  }

  async mine(blocks = 1): Promise<void> {
    for (let i = 0; i < blocks; i++) await this.rpc("evm_mine");
  }

  /** Mines the next block at `timestamp` (seconds), whatever clock offsets the node keeps. */
  async mineAt(timestamp: number): Promise<void> {
    await this.rpc("evm_setNextBlockTimestamp", [timestamp]);
    await this.rpc("evm_mine");
  }

  /** Replaces the last `depth` blocks with as many empty ones (Anvil's `anvil_reorg`). */
  async reorg(depth: number): Promise<void> {
    if (this.anvil === undefined) throw new UnsupportedFault(this.kind, "reorg");
    await this.anvil.reorg(depth);
  }

  /** Drops the last `depth` blocks (Anvil's `anvil_rollback`). */
  async rollback(depth: number): Promise<void> {
    if (this.anvil === undefined) throw new UnsupportedFault(this.kind, "rollback");
    await this.anvil.rollback(depth);
  }

  /** Restarts the node on the same URL, keeping its state or starting a fresh chain. */
  async restart(keepState: boolean): Promise<void> {
    if (this.anvil !== undefined) return this.anvil.restart(keepState);
    if (keepState) throw new UnsupportedFault(this.kind, "restart with state");
    await this.edr!.close();
    this.edr = await serveChain(Number(new URL(this.rpcUrl).port));
  }

  get canKeepStateAcrossRestart(): boolean {
    return this.anvil !== undefined;
  }

  get canReorg(): boolean {
    return this.anvil !== undefined;
  }

  async close(): Promise<void> {
    this.#provider?.destroy();
    await this.connection.close();
    await this.edr?.close();
    await this.anvil?.stop();
  }
}

export class UnsupportedFault extends Error {
  constructor(kind: ChainKind, fault: string) {
    super(`${kind} cannot make the fault "${fault}"`);
  }
}
