import { network } from "hardhat";
import type { NetworkConnection } from "hardhat/types/network";

export interface RpcChain {
  /** JSON-RPC URL on 127.0.0.1 (a free port): what worker processes connect to. */
  readonly rpcUrl: string;
  /** This process's connection to the same chain, over that URL. */
  readonly connection: NetworkConnection;
  /** The node's own process, when it runs in one (Anvil, `hardhat node`): for its CPU time. */
  readonly nodePid?: number;
  close(): Promise<void>;
}

/**
 * A fresh EDR chain served over JSON-RPC on a free local port, as a node would serve it, so that
 * worker daemons in other OS processes can reach it; this process talks to it over HTTP too. A given `port`
 * serves a fresh chain where an earlier one was (a node restarted without its state).
 */
export async function serveChain(port = 0): Promise<RpcChain> {
  const server = await network.createServer("default", "127.0.0.1", port);
  const listening = await server.listen();
  const rpcUrl = `http://127.0.0.1:${listening.port}`;
  const connection = await network.create({ network: "localhost", override: { url: rpcUrl } });
  return { rpcUrl, connection, close: () => server.close() };
}

/**
 * The same over Foundry's Anvil in a child process (a second node implementation, without the development tracing
 * Hardhat's EDR does on every call): fresh chain, Hardhat's development accounts, a block per transaction.
 */
export async function serveAnvilChain(): Promise<RpcChain> {
  const { AnvilNode } = await import("./chains/AnvilNode.js");
  const node = await AnvilNode.start();
  const connection = await network.create({ network: "localhost", override: { url: node.rpcUrl } });
  return { rpcUrl: node.rpcUrl, connection, nodePid: node.pid, close: () => node.stop() };
}

/** EDR as `hardhat node` serves it, in a child process of its own (see HardhatNode). */
export async function serveNodeProcessChain(): Promise<RpcChain> {
  const { HardhatNode } = await import("./chains/HardhatNode.js");
  const node = await HardhatNode.start();
  const connection = await network.create({ network: "localhost", override: { url: node.rpcUrl } });
  return { rpcUrl: node.rpcUrl, connection, nodePid: node.pid, close: () => node.stop() };
}
