import { getAddress, isHexString, keccak256, type Interface } from "ethers";
import { z } from "zod";
import { payloadArgs, type EventPayload } from "../chain/EventPayload.js";
import { UnrecoverableError } from "../errors.js";

/** The immutable terms of a request, as `InferenceRequest` in contracts/types/InferenceTypes.sol. */
export interface InferenceTerms {
  readonly requester: string;
  readonly modelVersionId: bigint;
  readonly paymentToken: string;
  readonly fee: bigint;
  readonly deadline: bigint;
  readonly callbackGasLimit: bigint;
  readonly royaltyBps: bigint;
  readonly protocolFeeBps: bigint;
  readonly salt: bigint;
  readonly inputHash: string;
}

export enum InputKind {
  Inline = 0,
  Cid = 1,
}

/** An `InferenceRequested` event, validated, as the processor works on it. */
export interface PendingInference {
  readonly requestId: bigint;
  readonly terms: InferenceTerms;
  readonly inputKind: InputKind;
  /** The input bytes as the event carried them: pixels (inline) or a binary CID. */
  readonly input: Uint8Array;
  readonly blockNumber: number;
  readonly txHash: string;
}

const address = z.string().refine((v) => isHexString(v, 20), "not an address").transform((v) => getAddress(v));
const bytes32 = z.string().refine((v) => isHexString(v, 32), "not a bytes32");
const uint = z.bigint().nonnegative();

const requestedArgs = z.object({
  requestId: uint,
  request: z.object({
    requester: address,
    modelVersionId: uint,
    paymentToken: address,
    fee: uint,
    deadline: uint,
    callbackGasLimit: uint,
    royaltyBps: uint,
    protocolFeeBps: uint,
    salt: uint,
    inputHash: bytes32,
  }),
  inputKind: z.union([z.bigint(), z.number()]).transform((v) => Number(v)).pipe(z.enum(InputKind)),
  input: z.string().refine((v) => isHexString(v) && v.length > 2, "empty or not hex bytes"),
});

/**
 * Validates an `InferenceRequested` payload from the queue. Anything malformed is unrecoverable
 * (retrying cannot fix it); an input whose hash does not match the terms is refused as well,
 * since fulfilling it would answer a question nobody paid for.
 */
export function parsePendingInference(payload: EventPayload, marketInterface: Interface): PendingInference {
  if (payload.event !== "InferenceRequested") {
    throw new UnrecoverableError(`expected an InferenceRequested event, got ${payload.event}`);
  }
  const parsed = requestedArgs.safeParse(payloadArgs(payload, marketInterface));
  if (!parsed.success) {
    throw new UnrecoverableError(`malformed InferenceRequested payload in ${payload.txHash}: ${z.prettifyError(parsed.error)}`);
  }
  const { requestId, request, inputKind, input } = parsed.data;
  if (keccak256(input) !== request.inputHash.toLowerCase()) {
    throw new UnrecoverableError(`request ${requestId}: input does not hash to the committed inputHash`);
  }
  return {
    requestId,
    terms: request,
    inputKind,
    input: Buffer.from(input.slice(2), "hex"),
    blockNumber: payload.blockNumber,
    txHash: payload.txHash,
  };
}
