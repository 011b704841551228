import type { EIP1193Provider } from "hardhat/types/providers";

/**
 * Mines an empty block whenever the chain has had none for `idleMs`, as a chain with a block at
 * least every `idleMs` would: an automine chain makes blocks only for transactions, so after the
 * last request of a run nothing new would come, and a worker waiting for "the next block" (ethers'
 * `waitForTransaction` with a head cached up to 250 ms older than its receipt) would wait for its
 * receipt timeout.
 */
export class IdleBlockProducer {
  #running = true;
  #mined = 0;
  readonly #loop: Promise<void>;

  constructor(
    readonly provider: EIP1193Provider,
    readonly idleMs: number,
  ) {
    this.#loop = this.#run();
  }

  /** Empty blocks mined so far. */
  get mined(): number {
    return this.#mined;
  }

  async #run(): Promise<void> {
    let head = -1;
    let since = Date.now();
    while (this.#running) {
      await new Promise((r) => setTimeout(r, Math.max(10, this.idleMs / 4)));
      const now = Number(await this.provider.request({ method: "eth_blockNumber" }));
      if (now !== head) {
        head = now;
        since = Date.now();
      } else if (Date.now() - since >= this.idleMs) {
        await this.provider.request({ method: "evm_mine" });
        this.#mined += 1;
        since = Date.now();
      }
    }
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }
}
