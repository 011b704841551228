import type { Eip1193Provider } from "./WalletDiscovery.js";

/** The chain a page's deployment lives on, as a wallet is asked to add it. */
export interface ChainDescription {
  readonly chainId: number;
  readonly name: string;
  /** JSON-RPC URLs the wallet may use for this chain. */
  readonly rpcUrls: readonly string[];
}

/** The wallet's current chain id. */
export async function walletChainId(wallet: Eip1193Provider): Promise<number> {
  return Number(BigInt((await wallet.request({ method: "eth_chainId" })) as string));
}

/**
 * Asks the wallet to switch to `chain` (EIP-3326); a wallet that does not know the chain (error 4902) is asked to
 * add it (EIP-3085) first. Resolves with the wallet's chain id afterwards, which the caller checks: a person may
 * refuse, and some wallets resolve before they switch.
 */
export async function switchWalletChain(wallet: Eip1193Provider, chain: ChainDescription): Promise<number> {
  const chainId = `0x${chain.chainId.toString(16)}`;
  try {
    await wallet.request({ method: "wallet_switchEthereumChain", params: [{ chainId }] });
  } catch (err) {
    if ((err as { code?: number }).code !== 4902) throw err;
    await wallet.request({
      method: "wallet_addEthereumChain",
      params: [{ chainId, chainName: chain.name, rpcUrls: chain.rpcUrls, nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 } }],
    });
  }
  return walletChainId(wallet);
}
