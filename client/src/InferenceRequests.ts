import { getBytes, type ContractTransactionReceipt, type Result } from "ethers";
import type { InferenceMarket, TesseraToken } from "../../typechain-types/index.js";
import { signPermit } from "../../worker/src/chain/Permit.js";
import type { InferenceRequestStruct } from "../../typechain-types/inference/InferenceMarket.js";
import { nextBlockTime } from "./ChainTime.js";

/** InputKind in InferenceTypes.sol. */
export const INLINE_INPUT = 0;

export interface PaidRequest {
  readonly requestId: bigint;
  readonly requester: string;
  readonly deadline: number;
  readonly txHash: string;
  /** The terms as the market recorded them (what `refund` takes back). */
  readonly request: InferenceRequestStruct;
}

export interface PaidRequestOptions {
  readonly versionId: bigint;
  /** The input bytes, encoded with the version's input codec. */
  readonly input: Uint8Array;
  /** The version's price in the currency paid (wei, or token wei for TSR): the market takes at least that. */
  readonly fee: bigint;
  /** Seconds from the next block to the deadline. */
  readonly lifetimeSeconds: number;
  /** Makes two requests with the same input distinct. */
  readonly salt: bigint;
}

/** Sends a paid request in ETH with an inline input and reads its id from the `InferenceRequested` event. */
export async function requestWithEth(market: InferenceMarket, options: PaidRequestOptions): Promise<PaidRequest> {
  const provider = market.runner?.provider;
  if (provider == null) throw new Error("the market contract needs a signer connected to a provider");
  const deadline = (await nextBlockTime(provider)) + options.lifetimeSeconds;
  const tx = await market.requestInference(
    { modelVersionId: options.versionId, deadline, callbackGasLimit: 0, salt: options.salt, inputKind: INLINE_INPUT, input: options.input },
    { value: options.fee },
  );
  return paidRequestOf(market, await tx.wait(), deadline);
}

/**
 * Sends a paid request in TSR: the fee is pulled by an ERC-2612 permit the wallet signs (no approve transaction),
 * valid until the request's own deadline.
 */
export async function requestWithTokenPermit(market: InferenceMarket, token: TesseraToken, options: PaidRequestOptions): Promise<PaidRequest> {
  const signer = market.runner;
  if (signer?.provider == null || !("signTypedData" in signer)) throw new Error("the market contract needs a signer connected to a provider");
  const deadline = (await nextBlockTime(signer.provider)) + options.lifetimeSeconds;
  const permit = await signPermit(token, signer as Parameters<typeof signPermit>[1], await market.getAddress(), options.fee, BigInt(deadline));
  const tx = await market.requestInferenceWithToken(
    { modelVersionId: options.versionId, deadline, callbackGasLimit: 0, salt: options.salt, inputKind: INLINE_INPUT, input: options.input },
    options.fee,
    permit,
  );
  return paidRequestOf(market, await tx.wait(), deadline);
}

function paidRequestOf(market: InferenceMarket, receipt: ContractTransactionReceipt | null, deadline: number): PaidRequest {
  if (receipt === null) throw new Error("the request transaction was dropped");
  for (const log of receipt.logs) {
    const parsed = market.interface.parseLog(log);
    if (parsed?.name === "InferenceRequested") {
      return {
        requestId: parsed.args.requestId as bigint,
        requester: parsed.args.requester as string,
        deadline,
        txHash: receipt.hash,
        request: (parsed.args.request as Result).toObject() as InferenceRequestStruct,
      };
    }
  }
  throw new Error(`no InferenceRequested event in ${receipt.hash}`);
}

/** Where a request stands, as its events and state say. */
export type RequestProgress =
  | { readonly stage: "sent"; readonly deadline: number }
  | { readonly stage: "claimed"; readonly deadline: number; readonly claimant: string }
  | { readonly stage: "answered"; readonly worker: string; readonly output: Uint8Array; readonly txHash: string }
  | { readonly stage: "expired"; readonly deadline: number }
  | { readonly stage: "refunded"; readonly txHash: string };

/**
 * The request's stage: answered or refunded by their events (from `fromBlock`), else open or claimed by the market's
 * `requestState`, and expired once the next block is past its deadline unanswered (the fee is then refundable).
 */
export async function requestProgress(market: InferenceMarket, requestId: bigint, fromBlock: number): Promise<RequestProgress> {
  const [fulfilled, refunded] = await Promise.all([
    market.queryFilter(market.filters.InferenceFulfilled(requestId), fromBlock),
    market.queryFilter(market.filters.InferenceRefunded(requestId), fromBlock),
  ]);
  const answer = fulfilled[0];
  if (answer !== undefined) return { stage: "answered", worker: answer.args.worker, output: getBytes(answer.args.output), txHash: answer.transactionHash };
  if (refunded[0] !== undefined) return { stage: "refunded", txHash: refunded[0].transactionHash };
  const state = await market.requestState(requestId);
  const deadline = Number(state.deadline);
  const now = await nextBlockTime(market.runner!.provider!);
  if (now > deadline) return { stage: "expired", deadline };
  if (Number(state.status) === 2) return { stage: "claimed", deadline, claimant: state.claimant };
  return { stage: "sent", deadline };
}
