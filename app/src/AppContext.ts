import { JsonRpcProvider, type Interface } from "ethers";
import { atom } from "nanostores";
import type { AppConfig } from "../../client/src/AppConfig.js";
import { explainError } from "../../client/src/ErrorSentences.js";
import { connectContracts, tesseraInterfaces, type TesseraContracts } from "../../client/src/TesseraContracts.js";
import { WalletSession } from "./WalletSession.js";

/** What every page shares: the deployment, a read-only chain connection, the wallet, and the problem banner. */
export class AppContext {
  readonly provider: JsonRpcProvider;
  readonly contracts: TesseraContracts;
  readonly wallet: WalletSession;
  /** The sentence the banner shows, or null. */
  readonly problem = atom<string | null>(null);
  readonly #interfaces: Interface[] = tesseraInterfaces();

  constructor(readonly config: AppConfig) {
    // The chain is known: no network detection round trips, and blocks polled every second for live progress.
    this.provider = new JsonRpcProvider(config.rpcUrl, config.deployment.chainId, { staticNetwork: true, pollingInterval: 1_000 });
    this.contracts = connectContracts(config.deployment, this.provider);
    this.wallet = new WalletSession(config);
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
