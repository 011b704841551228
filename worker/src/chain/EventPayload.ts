import type { EventFragment, Interface, Log, LogDescription, ParamType, Result } from "ethers";

/** JSON value: what survives BullMQ's JSON round trip unchanged. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * A decoded contract event as it travels through the queue. Integers (uintN and intN) are decimal
 * strings in `args`; `decodeEventArgs` turns them back into bigints using the event's ABI.
 */
export interface EventPayload {
  /** Name of the listener source (e.g. "InferenceMarket"). */
  readonly source: string;
  readonly event: string;
  /** Canonical event signature, e.g. `Pinged(uint256,address,uint256,string)`. */
  readonly signature: string;
  readonly address: string;
  readonly blockNumber: number;
  readonly blockHash: string;
  readonly txHash: string;
  readonly logIndex: number;
  /** Arguments by name (by position when the ABI leaves a parameter unnamed). */
  readonly args: { readonly [name: string]: JsonValue };
}

/** Indexed strings, bytes, arrays and tuples are logged only as the keccak hash of their value. */
function isHashedTopic(param: ParamType): boolean {
  return param.indexed === true && (param.isArray() || param.isTuple() || param.type === "string" || param.type === "bytes");
}

function argKey(param: ParamType, index: number): string {
  return param.name === "" ? String(index) : param.name;
}

function encodeValue(param: ParamType, value: unknown): JsonValue {
  if (param.isArray()) {
    return (value as unknown[]).map((v) => encodeValue(param.arrayChildren, v));
  }
  if (param.isTuple()) {
    const out: { [key: string]: JsonValue } = {};
    param.components.forEach((c, i) => {
      out[argKey(c, i)] = encodeValue(c, (value as Result)[i]);
    });
    return out;
  }
  if (typeof value === "bigint") return value.toString(10);
  return value as JsonValue;
}

function decodeValue(param: ParamType, value: JsonValue): unknown {
  if (param.isArray()) return (value as JsonValue[]).map((v) => decodeValue(param.arrayChildren, v));
  if (param.isTuple()) {
    const obj = value as { [key: string]: JsonValue };
    const out: { [key: string]: unknown } = {};
    param.components.forEach((c, i) => {
      const key = argKey(c, i);
      out[key] = decodeValue(c, obj[key]);
    });
    return out;
  }
  if (/^u?int\d*$/.test(param.baseType) && typeof value === "string") return BigInt(value);
  return value;
}

/** JSON-safe arguments of a decoded event, keyed by parameter name. */
export function encodeEventArgs(fragment: EventFragment, args: Result): { [name: string]: JsonValue } {
  const out: { [name: string]: JsonValue } = {};
  fragment.inputs.forEach((param, i) => {
    const value = args[i];
    out[argKey(param, i)] = isHashedTopic(param) ? (value as { hash: string }).hash : encodeValue(param, value);
  });
  return out;
}

/** Inverse of `encodeEventArgs`: integers back to bigint, tuples as objects keyed by component name. */
export function decodeEventArgs(
  fragment: EventFragment,
  args: { readonly [name: string]: JsonValue },
): { [name: string]: unknown } {
  const out: { [name: string]: unknown } = {};
  fragment.inputs.forEach((param, i) => {
    const key = argKey(param, i);
    const value = args[key];
    out[key] = isHashedTopic(param) ? value : decodeValue(param, value);
  });
  return out;
}

/** Builds the queue payload for one log that `iface` has already parsed into `parsed`. */
export function toEventPayload(source: string, log: Log, parsed: LogDescription): EventPayload {
  return {
    source,
    event: parsed.name,
    signature: parsed.signature,
    address: log.address,
    blockNumber: log.blockNumber,
    blockHash: log.blockHash,
    txHash: log.transactionHash,
    logIndex: log.index,
    args: encodeEventArgs(parsed.fragment, parsed.args),
  };
}

/**
 * Each interface's event fragments by their own signatures, found once: ethers' `getEvent` searches and re-parses on
 * every call. Only the interface's events are keys, so a payload naming anything else (a queue is written by whoever
 * reaches its Redis) cannot grow it.
 */
const fragmentsBySignature = new WeakMap<Interface, Map<string, EventFragment>>();

/** Arguments of a payload with their ABI types restored (bigints for integers). */
export function payloadArgs(payload: EventPayload, iface: Interface): { [name: string]: unknown } {
  let fragments = fragmentsBySignature.get(iface);
  if (fragments === undefined) {
    fragments = new Map();
    iface.forEachEvent((f) => fragments!.set(f.format("sighash"), f));
    fragmentsBySignature.set(iface, fragments);
  }
  const fragment = fragments.get(payload.signature) ?? iface.getEvent(payload.signature);
  if (fragment === null) throw new Error(`event ${payload.signature} is not in the given interface`);
  return decodeEventArgs(fragment, payload.args);
}
