import type { Provider } from "ethers";

/**
 * The chain's latest block number as the node sees it now: read with `eth_blockNumber` past ethers'
 * request cache (which may answer a `getBlockNumber()` with a head up to 250 ms old, so that a
 * listener polling every 50 ms sees a new block only every 250 ms) where the provider allows it.
 */
export async function headBlockNumber(provider: Provider): Promise<number> {
  const rpc = provider as Provider & { send?: (method: string, params: unknown[]) => Promise<unknown> };
  if (typeof rpc.send === "function") return Number(await rpc.send("eth_blockNumber", []));
  return provider.getBlockNumber();
}
