import { JsonRpcProvider, NonceManager, Wallet, getBytes, toBeHex, type TransactionRequest } from "ethers";
import type { BrowserContext } from "playwright-core";
import { revertDataOf } from "../../worker/src/errors.js";

interface WalletError {
  readonly code: number;
  readonly message: string;
  readonly data?: unknown;
}

/**
 * The wallet's page side, plain JavaScript (a function handed to addInitScript would be serialised with the helpers
 * tsx's compiler adds, which the page lacks): an EIP-1193 provider whose requests go to this process through an
 * exposed function, announced by EIP-6963.
 */
const PAGE_SIDE = `(() => {
  const listeners = {};
  const bridge = window.__tesseraTestWallet;
  const provider = {
    async request({ method, params }) {
      const reply = JSON.parse(await bridge(JSON.stringify({ method, params: params ?? [] })));
      if (reply.error !== undefined) throw Object.assign(new Error(reply.error.message), { code: reply.error.code, data: reply.error.data });
      return reply.result;
    },
    on(event, listener) { (listeners[event] ??= []).push(listener); },
    removeListener(event, listener) { listeners[event] = (listeners[event] ?? []).filter((l) => l !== listener); },
  };
  window.__tesseraTestWalletEmit = (event, arg) => { for (const l of listeners[event] ?? []) l(arg); };
  const info = { uuid: "6f1c1f0e-7d1a-4c36-9a43-0d5b8f1d7e01", name: "Test Wallet", icon: "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E", rdns: "org.tessera.test-wallet" };
  const announce = () => window.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail: Object.freeze({ info, provider }) }));
  window.addEventListener("eip6963:requestProvider", announce);
  announce();
})();`;

/**
 * An EIP-1193 wallet injected into every page of a browser context, announced by EIP-6963, backed by a local
 * account in this process: it signs and sends what the page asks, forwards reads to the chain, and can be told to
 * decline (as a person pressing "Reject") or to sit on another chain (as a wallet left on mainnet).
 */
export class InjectedTestWallet {
  readonly wallet: Wallet;
  /** The account's one signer: it counts its own nonces, as a wallet does (a node's pending count can lag). */
  readonly signer: NonceManager;
  readonly provider: JsonRpcProvider;
  /** Every method the page asked for, in order. */
  readonly asked: string[] = [];
  /** Set to make the next signing requests fail as a person declining them (EIP-1193 code 4001). */
  declining = false;
  #chainId: number;
  readonly #realChainId: number;
  #context: BrowserContext | undefined;

  constructor(privateKey: string, rpcUrl: string, chainId: number) {
    this.provider = new JsonRpcProvider(rpcUrl, chainId, { staticNetwork: true });
    this.wallet = new Wallet(privateKey, this.provider);
    this.signer = new NonceManager(this.wallet);
    this.#chainId = chainId;
    this.#realChainId = chainId;
  }

  get address(): string {
    return this.wallet.address;
  }

  async install(context: BrowserContext): Promise<void> {
    this.#context = context;
    await context.exposeFunction("__tesseraTestWallet", async (request: string) => JSON.stringify(await this.#handle(JSON.parse(request) as { method: string; params: unknown[] })));
    await context.addInitScript({ content: PAGE_SIDE });
  }

  /** Moves the wallet to `chainId` (as a person switching networks in the wallet) and tells the open pages. */
  async moveTo(chainId: number): Promise<void> {
    this.#chainId = chainId;
    for (const page of this.#context?.pages() ?? []) {
      await page.evaluate(`window.__tesseraTestWalletEmit("chainChanged", "${toBeHex(chainId)}")`);
    }
  }

  async #handle({ method, params }: { method: string; params: unknown[] }): Promise<{ result?: unknown; error?: WalletError }> {
    try {
      return { result: await this.#answer(method, params) };
    } catch (err) {
      const e = err as { code?: unknown; message?: string; error?: { code?: number; message?: string; data?: unknown }; data?: unknown };
      if (typeof e.code === "number") return { error: { code: e.code, message: e.message ?? "wallet error", data: e.data } };
      // A revert, as wallets pass it on (EIP-1474's code 3 with the revert data), whatever shape the node gave it.
      const revert = revertDataOf(err);
      if (revert !== undefined) return { error: { code: 3, message: "execution reverted", data: revert } };
      if (e.error !== undefined) return { error: { code: e.error.code ?? -32603, message: e.error.message ?? "node error", data: e.error.data } };
      return { error: { code: -32603, message: e.message ?? String(err) } };
    }
  }

  async #answer(method: string, params: unknown[]): Promise<unknown> {
    this.asked.push(method);
    switch (method) {
      case "eth_requestAccounts":
      case "eth_accounts":
        return [this.address];
      case "eth_chainId":
        return toBeHex(this.#chainId);
      case "wallet_switchEthereumChain": {
        const wanted = Number(BigInt((params[0] as { chainId: string }).chainId));
        if (wanted !== this.#realChainId) throw Object.assign(new Error(`Unrecognized chain ID ${wanted}`), { code: 4902 });
        await this.moveTo(wanted);
        return null;
      }
      case "eth_sendTransaction": {
        if (this.declining) throw Object.assign(new Error("User rejected the request."), { code: 4001 });
        const tx = params[0] as { from?: string; to?: string; data?: string; value?: string; gas?: string };
        // What a real wallet would do wrong here, refused loudly: a test of the page must not pass on a send from
        // another account, or one that a wallet on another chain would have sent there.
        if (tx.from !== undefined && tx.from.toLowerCase() !== this.address.toLowerCase()) throw Object.assign(new Error(`the page asked to send from ${tx.from}`), { code: 4100 });
        if (this.#chainId !== this.#realChainId) throw Object.assign(new Error(`the wallet is on chain ${this.#chainId}: this transaction would have gone there`), { code: 4901 });
        const request: TransactionRequest = { to: tx.to, data: tx.data, value: tx.value === undefined ? 0n : BigInt(tx.value), ...(tx.gas === undefined ? {} : { gasLimit: BigInt(tx.gas) }) };
        return (await this.signer.sendTransaction(request)).hash;
      }
      case "personal_sign": {
        if (this.declining) throw Object.assign(new Error("User rejected the request."), { code: 4001 });
        if (String(params[1]).toLowerCase() !== this.address.toLowerCase()) throw Object.assign(new Error(`the page asked to sign as ${String(params[1])}`), { code: 4100 });
        // As wallets do: the hex payload is the message's bytes (EIP-191 personal message), signed deterministically.
        return this.wallet.signMessage(getBytes(params[0] as string));
      }
      case "eth_signTypedData_v4": {
        if (this.declining) throw Object.assign(new Error("User rejected the request."), { code: 4001 });
        if (String(params[0]).toLowerCase() !== this.address.toLowerCase()) throw Object.assign(new Error(`the page asked to sign as ${String(params[0])}`), { code: 4100 });
        const typed = JSON.parse(params[1] as string) as { domain: Record<string, unknown>; types: Record<string, { name: string; type: string }[]>; message: Record<string, unknown> };
        const { EIP712Domain: _, ...types } = typed.types;
        return this.wallet.signTypedData(typed.domain, types, typed.message);
      }
      default:
        return this.provider.send(method, params);
    }
  }
}
