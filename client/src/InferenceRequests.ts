import { getBytes, type ContractTransactionReceipt, type ContractTransactionResponse, type Result } from "ethers";
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
  return paidRequestOf(market, await minedReceipt(tx), deadline);
}

/**
 * The receipt of `tx`, or of the transaction that replaced it when the wallet only repriced it ("speed up": same
 * call, higher fee). A cancelled or otherwise replaced transaction is an error: that request was never sent.
 */
async function minedReceipt(tx: ContractTransactionResponse): Promise<ContractTransactionReceipt | null> {
  try {
    return await tx.wait();
  } catch (err) {
    const e = err as { code?: string; reason?: string; receipt?: ContractTransactionReceipt };
    if (e.code === "TRANSACTION_REPLACED" && e.reason === "repriced" && e.receipt != null) return e.receipt;
    throw err;
  }
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
  return paidRequestOf(market, await minedReceipt(tx), deadline);
}

function paidRequestOf(market: InferenceMarket, receipt: ContractTransactionReceipt | null, deadline: number): PaidRequest {
  if (receipt === null) throw new Error("the request transaction was dropped");
  return { ...requestedEventOf(market, receipt), deadline, txHash: receipt.hash };
}

/** The `InferenceRequested` event of a request's receipt: its id, requester and terms (what `refund` takes back). */
export function requestedEventOf(market: InferenceMarket, receipt: ContractTransactionReceipt): { requestId: bigint; requester: string; request: InferenceRequestStruct } {
  for (const log of receipt.logs) {
    const parsed = market.interface.parseLog(log);
    if (parsed?.name === "InferenceRequested") {
      return {
        requestId: parsed.args.requestId as bigint,
        requester: parsed.args.requester as string,
        request: (parsed.args.request as Result).toObject() as InferenceRequestStruct,
      };
    }
  }
  throw new Error(`no InferenceRequested event in ${receipt.hash}`);
}

/** Every request `requester` sent since `fromBlock` (the deployment's start block), newest first, at most `limit`. */
export async function requestsOf(market: InferenceMarket, requester: string, fromBlock: number, limit = 20): Promise<PaidRequest[]> {
  const events = await market.queryFilter(market.filters.InferenceRequested(undefined, requester), fromBlock);
  return events
    .slice(-limit)
    .reverse()
    .map((e) => {
      const request = (e.args.request as unknown as Result).toObject() as InferenceRequestStruct;
      return { requestId: e.args.requestId, requester: e.args.requester, deadline: Number(request.deadline), txHash: e.transactionHash, request };
    });
}

/** Where a request stands, as its events and state say. */
export type RequestProgress =
  | { readonly stage: "sent"; readonly deadline: number }
  | { readonly stage: "claimed"; readonly deadline: number; readonly claimant: string }
  | { readonly stage: "answered"; readonly worker: string; readonly output: Uint8Array; readonly txHash: string }
  | { readonly stage: "expired"; readonly deadline: number }
  | { readonly stage: "refunded"; readonly txHash: string };

/**
 * The request's stage at one block (the latest): answered or refunded by their events up to it, else open or claimed
 * by the market's `requestState` at it, and expired once that block's time is past the deadline unanswered (the fee
 * is then refundable: the next block is later still). Every read is pinned to that block, so an answer landing between
 * two reads is never taken for an expiry; the browser's clock plays no part.
 */
export async function requestProgress(market: InferenceMarket, request: PaidRequest, fromBlock: number): Promise<RequestProgress> {
  const provider = market.runner?.provider;
  if (provider == null) throw new Error("the market contract needs a provider");
  const head = await provider.getBlock("latest");
  if (head === null) throw new Error("the node returned no latest block");
  const [fulfilled, refunded, state] = await Promise.all([
    market.queryFilter(market.filters.InferenceFulfilled(request.requestId), fromBlock, head.number),
    market.queryFilter(market.filters.InferenceRefunded(request.requestId), fromBlock, head.number),
    market.requestState(request.requestId, { blockTag: head.number }),
  ]);
  const answer = fulfilled[0];
  if (answer !== undefined) return { stage: "answered", worker: answer.args.worker, output: getBytes(answer.args.output), txHash: answer.transactionHash };
  if (refunded[0] !== undefined) return { stage: "refunded", txHash: refunded[0].transactionHash };
  if (head.timestamp > request.deadline) return { stage: "expired", deadline: request.deadline };
  if (Number(state.status) === 2) return { stage: "claimed", deadline: request.deadline, claimant: state.claimant };
  return { stage: "sent", deadline: request.deadline };
}

/** The stages after which nothing changes. */
export const isFinal = (p: RequestProgress): boolean => p.stage === "answered" || p.stage === "refunded";
