import { BrowserProvider, getAddress, type JsonRpcSigner } from "ethers";
import { atom } from "nanostores";
import type { AppConfig } from "../../client/src/AppConfig.js";
import { discoverWallets, type DiscoveredWallet } from "../../client/src/WalletDiscovery.js";
import { switchWalletChain, walletChainId } from "../../client/src/WalletNetwork.js";

export type WalletState =
  | { readonly status: "searching" }
  | { readonly status: "disconnected"; readonly wallets: readonly DiscoveredWallet[] }
  | { readonly status: "connected"; readonly wallet: DiscoveredWallet; readonly account: string; readonly chainId: number; readonly rightChain: boolean };

/**
 * The person's wallet: found by EIP-6963 discovery, connected with `eth_requestAccounts`, followed through its
 * `accountsChanged` and `chainChanged` events. Pages read `state` and call `signer()` to send.
 */
export class WalletSession {
  readonly state = atom<WalletState>({ status: "searching" });
  readonly #config: AppConfig;
  #detach: (() => void) | undefined;
  #updates = 0;

  constructor(config: AppConfig) {
    this.#config = config;
  }

  async discover(): Promise<void> {
    this.state.set({ status: "disconnected", wallets: await discoverWallets(window as unknown as EventTarget) });
  }

  async connect(wallet: DiscoveredWallet): Promise<void> {
    const accounts = (await wallet.provider.request({ method: "eth_requestAccounts" })) as string[];
    if (accounts.length === 0) throw new Error("The wallet shared no account with this page.");
    await this.#update(wallet, accounts[0]);
    this.#detach?.();
    const onAccounts = (...args: unknown[]) => {
      const list = args[0] as string[];
      if (list.length === 0) void this.disconnect();
      else void this.#update(wallet, list[0]);
    };
    const onChain = () => {
      const current = this.state.get();
      if (current.status === "connected") void this.#update(wallet, current.account);
    };
    wallet.provider.on?.("accountsChanged", onAccounts);
    wallet.provider.on?.("chainChanged", onChain);
    this.#detach = () => {
      wallet.provider.removeListener?.("accountsChanged", onAccounts);
      wallet.provider.removeListener?.("chainChanged", onChain);
    };
  }

  async disconnect(): Promise<void> {
    this.#detach?.();
    this.#detach = undefined;
    await this.discover();
  }

  /** Asks the wallet to move to the deployment's chain (adding it if the wallet does not know it). */
  async switchChain(): Promise<void> {
    const current = this.state.get();
    if (current.status !== "connected") return;
    await switchWalletChain(current.wallet.provider, { chainId: this.#config.deployment.chainId, name: this.#config.chainName, rpcUrls: [this.#config.rpcUrl] });
    await this.#update(current.wallet, current.account);
  }

  /**
   * A signer for the connected account, refused on any other chain than the deployment's. The wallet's chain is asked
   * afresh, not taken from the last event: a wallet signs for the chain it is on when it signs.
   */
  async signer(): Promise<JsonRpcSigner> {
    const current = this.state.get();
    if (current.status !== "connected") throw new Error("Connect a wallet first.");
    const chainId = await walletChainId(current.wallet.provider);
    if (chainId !== current.chainId) await this.#update(current.wallet, current.account);
    if (chainId !== this.#config.deployment.chainId) throw new Error(`Your wallet is on another network: switch it to ${this.#config.chainName} first.`);
    return new BrowserProvider(current.wallet.provider, this.#config.deployment.chainId).getSigner(current.account);
  }

  /** Reads the wallet's chain; of two updates racing (two events in a row), only the later one lands. */
  async #update(wallet: DiscoveredWallet, account: string): Promise<void> {
    const turn = ++this.#updates;
    const chainId = await walletChainId(wallet.provider);
    if (turn !== this.#updates) return;
    this.state.set({ status: "connected", wallet, account: getAddress(account), chainId, rightChain: chainId === this.#config.deployment.chainId });
  }
}
