import { type ContractTransactionReceipt, type Signer } from "ethers";
import type { InferenceMarket, TesseraToken } from "../../typechain-types/index.js";
import type { InferenceRequestStruct, PermitArgsStruct, RequestArgsStruct } from "../../typechain-types/inference/InferenceMarket.js";
import type { ContentStore } from "../../worker/src/ipfs/ContentStore.js";
import { CID } from "multiformats/cid";
import { requestedEventOf } from "../../client/src/InferenceRequests.js";
import { signPermit } from "../../worker/src/chain/Permit.js";
import { InputKind } from "../../worker/src/inference/PendingInference.js";
import type { DecodedOutput } from "../../worker/src/ml/codecs/OutputCodec.js";
import type { InferenceModel } from "../../worker/src/ml/ModelArtifacts.js";
import { codecsOf, type ModelCodecs } from "../../worker/src/ml/ModelManifest.js";
import { predictEncoded } from "../../worker/src/ml/Prediction.js";

export { InputKind };

export interface SentRequest {
  readonly requestId: bigint;
  readonly requester: string;
  readonly payment: "eth" | "token";
  readonly inputKind: InputKind;
  readonly receipt: ContractTransactionReceipt;
  /** Wall-clock time the request's receipt came back (mined), for latency figures. */
  readonly minedAtMs: number;
  /** The terms as a plain object (what `fulfill` and `refund` take back). */
  readonly request: InferenceRequestStruct;
}

export interface RequestOptions {
  readonly versionId: bigint;
  /** The input bytes, encoded with the manifest's input codec (`encodeInput`; one byte per pixel for the digit models); sent inline or pinned to IPFS and sent as a CID. */
  readonly pixels: Uint8Array;
  readonly inputKind: InputKind;
  readonly fee: bigint;
  readonly deadline: number;
  readonly salt: bigint;
  readonly callbackGasLimit?: number;
}

/**
 * What a requester's client does (the dApp and the Hardhat tasks do the same): puts a CID input
 * on IPFS, pays in ETH or in the token with an ERC-2612 permit (one transaction, no approve),
 * and reads the request id from the `InferenceRequested` event.
 */
export class InferenceClient {
  constructor(
    readonly market: InferenceMarket,
    readonly token: TesseraToken,
    readonly store: ContentStore,
  ) {}

  async requestWithEth(signer: Signer, options: RequestOptions): Promise<SentRequest> {
    const args = await this.#args(options);
    const tx = await this.market.connect(signer).requestInference(args, { value: options.fee });
    return this.#sent(await tx.wait(), "eth", options.inputKind);
  }

  async requestWithTokenPermit(signer: Signer, options: RequestOptions): Promise<SentRequest> {
    const args = await this.#args(options);
    const permit = await this.signPermit(signer, options.fee, BigInt(options.deadline));
    const tx = await this.market.connect(signer).requestInferenceWithToken(args, options.fee, permit);
    return this.#sent(await tx.wait(), "token", options.inputKind);
  }

  /** An ERC-2612 permit for the market to pull `value` tokens from `signer`. */
  async signPermit(signer: Signer, value: bigint, deadline: bigint): Promise<PermitArgsStruct> {
    return signPermit(this.token, signer, await this.market.getAddress(), value, deadline);
  }

  async #args(options: RequestOptions): Promise<RequestArgsStruct> {
    const input = options.inputKind === InputKind.Cid ? CID.parse(await this.store.add(options.pixels)).bytes : options.pixels;
    return {
      modelVersionId: options.versionId,
      deadline: options.deadline,
      callbackGasLimit: options.callbackGasLimit ?? 0,
      salt: options.salt,
      inputKind: options.inputKind,
      input,
    };
  }

  #sent(receipt: ContractTransactionReceipt | null, payment: "eth" | "token", inputKind: InputKind): SentRequest {
    if (receipt === null) throw new Error("request transaction was dropped");
    return { ...requestedEventOf(this.market, receipt), payment, inputKind, receipt, minedAtMs: Date.now() };
  }
}

/** A client's values (pixel bytes, token ids, floats) as request bytes, by the manifest's input codec. */
export function encodeInput(manifest: ModelCodecs, values: ArrayLike<number>): Uint8Array {
  return codecsOf(manifest).input.encode(values);
}

/** What an answer says, by the manifest's output codec. */
export function decodeAnswer(manifest: ModelCodecs, output: Uint8Array): DecodedOutput {
  return codecsOf(manifest).output.decode(output);
}

/**
 * The answers an honest worker posts for these request bytes, computed here with the same codecs
 * and the same prediction path (`predictEncoded`): a requester's check of an on-chain answer.
 */
export function predictLocally(model: InferenceModel, manifest: ModelCodecs, inputs: readonly Uint8Array[]): Promise<Uint8Array[]> {
  return predictEncoded(model, manifest, inputs);
}

export interface Fulfilment {
  readonly requestId: bigint;
  readonly worker: string;
  readonly output: Uint8Array;
  readonly txHash: string;
  readonly blockNumber: number;
  /** Wall-clock time the fulfilment was first seen (polling), for latency figures. */
  readonly seenAtMs: number;
}

/**
 * Waits until every id has an `InferenceFulfilled` event, polling the chain (as the dApp does).
 * Rejects after `timeoutMs` naming how many are still missing.
 */
export async function waitForFulfilments(
  market: InferenceMarket,
  requestIds: readonly bigint[],
  options: { fromBlock: number; timeoutMs: number; pollMs?: number },
): Promise<Map<bigint, Fulfilment>> {
  const wanted = new Set(requestIds);
  const found = new Map<bigint, Fulfilment>();
  const started = Date.now();
  let fromBlock = options.fromBlock;
  const provider = market.runner!.provider!;
  while (found.size < wanted.size) {
    const head = await provider.getBlockNumber();
    if (head >= fromBlock) {
      const events = await market.queryFilter(market.filters.InferenceFulfilled(), fromBlock, head);
      const now = Date.now();
      for (const e of events) {
        const id = e.args.requestId;
        if (wanted.has(id) && !found.has(id)) {
          found.set(id, {
            requestId: id,
            worker: e.args.worker,
            output: Buffer.from(e.args.output.slice(2), "hex"),
            txHash: e.transactionHash,
            blockNumber: e.blockNumber,
            seenAtMs: now,
          });
        }
      }
      fromBlock = head + 1;
    }
    if (found.size >= wanted.size) break;
    if (Date.now() - started > options.timeoutMs) {
      throw new Error(`${wanted.size - found.size} of ${wanted.size} requests not fulfilled after ${options.timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, options.pollMs ?? 50));
  }
  return found;
}
