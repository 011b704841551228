import { getAddress, keccak256, toBeHex, toUtf8Bytes, dataSlice } from "ethers";
import type { EIP1193Provider } from "hardhat/types/providers";
import type { InferenceMarket } from "../../../typechain-types/index.js";
import { InputKind } from "../../../worker/src/inference/PendingInference.js";

/** What one paid request carries besides its sender. */
export interface LoadRequest {
  readonly versionId: bigint;
  /** CID bytes of the input, pinned beforehand in the store the workers read. */
  readonly cid: Uint8Array;
  readonly fee: bigint;
  readonly deadline: number;
  readonly salt: bigint;
}

export interface SentLoadRequest {
  readonly requestId: bigint;
  readonly sender: string;
  /** Wall-clock time the request was known mined (automine: when eth_sendTransaction returned). */
  readonly minedAtMs: number;
}

export interface OpenLoopResult {
  readonly sent: SentLoadRequest[];
  /** Largest delay between a request's scheduled time and its send (no idle sender account). */
  readonly maxLagMs: number;
  readonly seconds: number;
}

const REQUEST_GAS = 200_000;

interface Account {
  readonly address: string;
  nonce: number;
  busy: boolean;
}

/**
 * Many requester accounts sending paid requests (ETH, CID inputs) concurrently, each with its own
 * nonce counter, over the chain's JSON-RPC. The accounts are fresh addresses funded with
 * `hardhat_setBalance` and sent from with `hardhat_impersonateAccount` + `eth_sendTransaction`, so
 * the node signs and the sender process spends no CPU on signatures: the senders are not the
 * bottleneck of the stack they load.
 */
export class LoadSenders {
  readonly #accounts: Account[];
  readonly #requestedTopic: string;
  #market = "";

  private constructor(
    readonly provider: EIP1193Provider,
    readonly market: InferenceMarket,
    accounts: Account[],
  ) {
    this.#accounts = accounts;
    this.#requestedTopic = market.interface.getEvent("InferenceRequested").topicHash;
  }

  static async fund(provider: EIP1193Provider, market: InferenceMarket, count: number): Promise<LoadSenders> {
    const accounts: Account[] = [];
    for (let i = 0; i < count; i++) {
      const address = getAddress(dataSlice(keccak256(toUtf8Bytes(`tessera-load-sender-${i}`)), 12));
      await provider.request({ method: "hardhat_impersonateAccount", params: [address] });
      await provider.request({ method: "hardhat_setBalance", params: [address, toBeHex(10n ** 24n)] });
      const nonce = Number(await provider.request({ method: "eth_getTransactionCount", params: [address, "pending"] }));
      accounts.push({ address, nonce, busy: false });
    }
    const senders = new LoadSenders(provider, market, accounts);
    senders.#market = await market.getAddress();
    return senders;
  }

  get size(): number {
    return this.#accounts.length;
  }

  /** Sends every request as fast as the accounts can (each account one at a time, all accounts at once). */
  async closedLoop(requests: readonly LoadRequest[]): Promise<SentLoadRequest[]> {
    const sent: SentLoadRequest[] = [];
    let next = 0;
    await Promise.all(
      this.#accounts.map(async (account) => {
        while (next < requests.length) {
          const request = requests[next++];
          sent.push(await this.#send(account, request));
        }
      }),
    );
    return sent;
  }

  /**
   * Sends request k at `start + k / ratePerSecond` whatever the fulfilments do (open loop), from
   * whichever account is idle; a request that finds none waits for one, and the lag is reported.
   */
  async openLoop(requests: readonly LoadRequest[], ratePerSecond: number): Promise<OpenLoopResult> {
    const sent: SentLoadRequest[] = [];
    const inFlight: Promise<void>[] = [];
    const started = Date.now();
    let maxLagMs = 0;
    for (const [k, request] of requests.entries()) {
      const due = started + (k * 1000) / ratePerSecond;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      let account = this.#accounts.find((a) => !a.busy);
      while (account === undefined) {
        await new Promise((r) => setTimeout(r, 1));
        account = this.#accounts.find((a) => !a.busy);
      }
      maxLagMs = Math.max(maxLagMs, Date.now() - due);
      account.busy = true;
      const acc = account;
      inFlight.push(
        this.#send(acc, request).then((s) => {
          acc.busy = false;
          sent.push(s);
        }),
      );
    }
    await Promise.all(inFlight);
    return { sent, maxLagMs, seconds: (Date.now() - started) / 1000 };
  }

  async #send(account: Account, request: LoadRequest): Promise<SentLoadRequest> {
    const data = this.market.interface.encodeFunctionData("requestInference", [
      {
        modelVersionId: request.versionId,
        deadline: request.deadline,
        callbackGasLimit: 0,
        salt: request.salt,
        inputKind: InputKind.Cid,
        input: request.cid,
      },
    ]);
    const nonce = account.nonce++;
    const hash = (await this.provider.request({
      method: "eth_sendTransaction",
      params: [{ from: account.address, to: this.#market, data, value: toBeHex(request.fee), gas: toBeHex(REQUEST_GAS), nonce: toBeHex(nonce) }],
    })) as string;
    let minedAtMs = Date.now();
    let receipt = await this.#receipt(hash);
    while (receipt === null) {
      await new Promise((r) => setTimeout(r, 10));
      receipt = await this.#receipt(hash);
      minedAtMs = Date.now();
    }
    if (receipt.status !== "0x1") throw new Error(`request ${hash} from ${account.address} reverted`);
    const log = receipt.logs.find((l) => l.address.toLowerCase() === this.#market.toLowerCase() && l.topics[0] === this.#requestedTopic);
    if (log === undefined) throw new Error(`no InferenceRequested event in ${hash}`);
    return { requestId: BigInt(log.topics[1]), sender: account.address, minedAtMs };
  }

  async #receipt(hash: string): Promise<{ status: string; logs: { address: string; topics: string[] }[] } | null> {
    return (await this.provider.request({ method: "eth_getTransactionReceipt", params: [hash] })) as {
      status: string;
      logs: { address: string; topics: string[] }[];
    } | null;
  }
}
