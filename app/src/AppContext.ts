import { JsonRpcProvider, getAddress, type Interface, type JsonRpcSigner } from "ethers";
import { atom } from "nanostores";
import type { AppConfig } from "../../client/src/AppConfig.js";
import { explainError } from "../../client/src/ErrorSentences.js";
import type { EncryptionKeyPair } from "../../worker/src/data/KeyEnvelopes.js";
import { connectContracts, tesseraInterfaces, type TesseraContracts } from "../../client/src/TesseraContracts.js";
import { WalletSession } from "./WalletSession.js";

const GATEWAY_KEY = "tessera.ipfsGateway";
const IPFS_API_KEY = "tessera.ipfsApi";

/** What every page shares: the deployment, a read-only chain connection, the wallet, and the problem banner. */
export class AppContext {
  readonly provider: JsonRpcProvider;
  readonly contracts: TesseraContracts;
  readonly wallet: WalletSession;
  /**
   * The IPFS gateway content is read through: the app server's (from the app config) unless the person chose
   * another (any Kubo or public gateway URL), remembered in this browser.
   */
  readonly gateway = atom<string>("");
  /** The Kubo RPC API uploads go through (`<api>/api/v0/add`): the app server's unless the person chose another node. */
  readonly ipfsApi = atom<string>("");
  /** The sentence the banner shows, or null. */
  readonly problem = atom<string | null>(null);
  readonly #interfaces: Interface[] = tesseraInterfaces();

  constructor(readonly config: AppConfig) {
    // The chain is known: no network detection round trips, and blocks polled every second for live progress.
    this.provider = new JsonRpcProvider(config.rpcUrl, config.deployment.chainId, { staticNetwork: true, pollingInterval: 1_000 });
    this.contracts = connectContracts(config.deployment, this.provider);
    this.wallet = new WalletSession(config);
    this.gateway.set(localStorage.getItem(GATEWAY_KEY) ?? config.gateway);
    this.ipfsApi.set(localStorage.getItem(IPFS_API_KEY) ?? config.ipfsApi);
  }

  /** Reads content through `url` from now on (an empty one: back to the app server's gateway). */
  chooseGateway(url: string): void {
    this.#choose(this.gateway, GATEWAY_KEY, this.config.gateway, url);
  }

  /** Uploads through the Kubo RPC API at `url` from now on (an empty one: back to the app server's). */
  chooseIpfsApi(url: string): void {
    this.#choose(this.ipfsApi, IPFS_API_KEY, this.config.ipfsApi, url);
  }

  /** Sets an endpoint the person chose (checked as an http(s) URL) and remembers it in this browser; empty: the default. */
  #choose(endpoint: typeof this.gateway, key: string, fallback: string, url: string): void {
    const trimmed = url.trim().replace(/\/$/, "");
    if (trimmed === "") {
      localStorage.removeItem(key);
      endpoint.set(fallback);
      return;
    }
    let parsed: URL;
    try {
      parsed = new URL(trimmed);
    } catch {
      throw new Error(`The address ${trimmed} is not a URL (for example http://127.0.0.1:8080 or https://ipfs.io).`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error(`The address ${trimmed} is not an http(s) URL.`);
    localStorage.setItem(key, trimmed);
    endpoint.set(trimmed);
  }

  /** Page encryption keys by account, kept in memory only (PageEncryptionKey.ts), and whether each was confirmed. */
  readonly #pageKeys = new Map<string, { key: EncryptionKeyPair; confirmed: boolean }>();

  /**
   * `signer`'s encryption key on this deployment, derived from its wallet's signature of a message that says what it
   * is for: asked of the wallet once per account while the page is open (twice with `confirm`, which a contribution
   * asks: the wallet must sign alike to be given a key it can use again), never stored. The signer is the one the
   * caller sends with, so an account switched meanwhile cannot slip its key into another account's contribution.
   */
  /** Whether `account`'s page key is known in this page (no signature would be asked for it). */
  hasPageKey(account: string): boolean {
    return this.#pageKeys.has(getAddress(account));
  }

  async pageKey(signer: JsonRpcSigner, options: { confirm?: boolean } = {}): Promise<EncryptionKeyPair> {
    const registry = this.config.deployment.contracts.DataRegistry;
    if (registry === undefined) throw new Error("This deployment has no DataRegistry.");
    const account = getAddress(signer.address);
    const known = this.#pageKeys.get(account);
    if (known !== undefined && (known.confirmed || options.confirm !== true)) return known.key;
    // Loaded with the pages that need it (its secp256k1 and envelope code stays out of the first script).
    const { derivePageEncryptionKey } = await import("../../client/src/PageEncryptionKey.js");
    const key = await derivePageEncryptionKey(signer, this.config.deployment.chainId, registry, options);
    if (known !== undefined && known.key.privateKey !== key.privateKey) {
      throw new Error("This wallet signed the key message differently than before: the page cannot give you a key you could use again; contribute with the tasks.");
    }
    this.#pageKeys.set(account, { key, confirmed: known?.confirmed === true || options.confirm === true });
    return key;
  }

  /** Shows `err` as a sentence a person understands (and logs the original for developers). */
  report(err: unknown): void {
    console.error(err);
    this.problem.set(explainError(err, this.#interfaces));
  }

  clearProblem(): void {
    this.problem.set(null);
  }
}
