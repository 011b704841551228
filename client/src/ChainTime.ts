import type { Provider } from "ethers";

/**
 * The timestamp the next block will have: the pending block's where the node builds one (Hardhat, Anvil),
 * never before the latest block's + 1 nor the wall clock (a node's next block is not older than now).
 * Deadlines are set from it: nodes that mine on demand lag the wall clock.
 */
export async function nextBlockTime(provider: Provider): Promise<number> {
  const [latest, pending] = await Promise.all([provider.getBlock("latest"), provider.getBlock("pending").catch(() => null)]);
  const wallClock = Math.floor(Date.now() / 1000);
  return Math.max(latest!.timestamp + 1, pending?.timestamp ?? 0, wallClock);
}
