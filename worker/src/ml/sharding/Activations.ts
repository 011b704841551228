import type { Tensor } from "@tensorflow/tfjs";
import { keccak256 } from "ethers";
import { ActivationFormatError } from "./ShardingError.js";

/**
 * The wire format of an activation tensor passed from one shard's host to the next (binary,
 * little-endian, no JSON):
 *
 * | offset | size       | field                                            |
 * |--------|------------|--------------------------------------------------|
 * | 0      | 4          | magic, ASCII "TACT"                               |
 * | 4      | 1          | format version, 1                                |
 * | 5      | 1          | dtype code, 1 = float32 (the only one defined)   |
 * | 6      | 1          | rank r, 1..8                                     |
 * | 7      | 1          | reserved, 0                                      |
 * | 8      | 4 r        | dims, uint32 LE each, each ≥ 1 (dim 0: the batch) |
 * | 8 + 4r | 4 ∏ dims   | values, row-major, float32 LE                    |
 *
 * The header is a multiple of 4 bytes, so the values are aligned. Values are carried bit for bit
 * (NaN payloads and -0 included): the bytes one host hashes are the bytes the next one reads.
 */
export const ACTIVATION_MAGIC = Uint8Array.from([0x54, 0x41, 0x43, 0x54]); // "TACT"
export const ACTIVATION_VERSION = 1;
export const ACTIVATION_DTYPES = { float32: 1 } as const;
export const ACTIVATION_HEADER_BYTES = 8;
export const MAX_ACTIVATION_RANK = 8;
/** 2^28 values (1 GiB of float32): more is taken as a corrupt header, not as an activation. */
export const MAX_ACTIVATION_VALUES = 2 ** 28;

/** An activation as plain data: its shape (batch first) and its values, row-major. */
export interface Activation {
  shape: number[];
  data: Float32Array;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/**
 * Encodes an activation (a float32 tensor, or a shape with its values) in the wire format; an
 * ActivationFormatError if the shape is not one the format carries or the values do not fill it.
 * A tensor is read with `dataSync`; callers on an asynchronous backend pass `{ shape, data: await t.data() }`.
 */
export function encodeActivation(activation: Tensor | { shape: readonly number[]; data: ArrayLike<number> }): Uint8Array {
  let shape: readonly number[];
  let data: ArrayLike<number>;
  if (isTensor(activation)) {
    if (activation.dtype !== "float32") throw new ActivationFormatError(`activations are float32, got a tensor of dtype ${activation.dtype}`);
    shape = activation.shape;
    data = activation.dataSync() as Float32Array;
  } else {
    ({ shape, data } = activation);
  }
  const count = checkShape(shape);
  if (data.length !== count) throw new ActivationFormatError(`shape ${JSON.stringify(shape)} holds ${count} values, got ${data.length}`);
  const headerBytes = ACTIVATION_HEADER_BYTES + 4 * shape.length;
  const bytes = new Uint8Array(headerBytes + 4 * count);
  bytes.set(ACTIVATION_MAGIC, 0);
  bytes[4] = ACTIVATION_VERSION;
  bytes[5] = ACTIVATION_DTYPES.float32;
  bytes[6] = shape.length;
  const view = new DataView(bytes.buffer);
  shape.forEach((d, i) => view.setUint32(ACTIVATION_HEADER_BYTES + 4 * i, d, true));
  const values = data instanceof Float32Array ? data : Float32Array.from(data);
  if (LITTLE_ENDIAN_HOST) bytes.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), headerBytes);
  else values.forEach((v, i) => view.setFloat32(headerBytes + 4 * i, v, true));
  return bytes;
}

/**
 * Decodes wire-format bytes into the activation's shape and values (a copy: the bytes may be
 * reused); an ActivationFormatError naming what is wrong for truncated input, a wrong magic,
 * version or dtype, an absurd rank or dims, or a byte length the shape does not account for.
 */
export function decodeActivation(bytes: Uint8Array): Activation {
  if (bytes.length < ACTIVATION_HEADER_BYTES) {
    throw new ActivationFormatError(`activation truncated: ${bytes.length} bytes, the header alone takes ${ACTIVATION_HEADER_BYTES}`);
  }
  if (!ACTIVATION_MAGIC.every((b, i) => bytes[i] === b)) {
    throw new ActivationFormatError(`not an activation: magic is 0x${hex(bytes.subarray(0, 4))}, expected 0x${hex(ACTIVATION_MAGIC)} ("TACT")`);
  }
  if (bytes[4] !== ACTIVATION_VERSION) throw new ActivationFormatError(`activation format version ${bytes[4]} is not supported (only ${ACTIVATION_VERSION})`);
  if (bytes[5] !== ACTIVATION_DTYPES.float32) throw new ActivationFormatError(`activation dtype code ${bytes[5]} is unknown (1 = float32)`);
  const rank = bytes[6];
  if (rank < 1 || rank > MAX_ACTIVATION_RANK) throw new ActivationFormatError(`activation rank ${rank} is out of range 1..${MAX_ACTIVATION_RANK}`);
  if (bytes[7] !== 0) throw new ActivationFormatError(`activation header byte 7 is ${bytes[7]}, must be 0`);
  const headerBytes = ACTIVATION_HEADER_BYTES + 4 * rank;
  if (bytes.length < headerBytes) {
    throw new ActivationFormatError(`activation truncated: ${bytes.length} bytes, a rank-${rank} header takes ${headerBytes}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(ACTIVATION_HEADER_BYTES + 4 * i, true));
  const count = checkShape(shape);
  const expected = headerBytes + 4 * count;
  if (bytes.length !== expected) {
    throw new ActivationFormatError(
      `activation of shape ${JSON.stringify(shape)} takes ${expected} bytes, got ${bytes.length} (${bytes.length < expected ? "truncated" : `${bytes.length - expected} trailing bytes`})`,
    );
  }
  const data = new Float32Array(count);
  if (LITTLE_ENDIAN_HOST) new Uint8Array(data.buffer).set(bytes.subarray(headerBytes));
  else for (let i = 0; i < count; i++) data[i] = view.getFloat32(headerBytes + 4 * i, true);
  return { shape, data };
}

/** keccak256 of an activation's wire bytes (0x + 64 hex digits): what a host signs for what it received or sent. */
export function activationHash(bytes: Uint8Array): `0x${string}` {
  return keccak256(bytes) as `0x${string}`;
}

/** The value count of a shape the format can carry; an ActivationFormatError for any other. */
function checkShape(shape: readonly number[]): number {
  if (shape.length < 1 || shape.length > MAX_ACTIVATION_RANK) {
    throw new ActivationFormatError(`activation rank ${shape.length} is out of range 1..${MAX_ACTIVATION_RANK}`);
  }
  let count = 1;
  for (const [i, d] of shape.entries()) {
    if (!Number.isInteger(d) || d < 1 || d > 0xffff_ffff) throw new ActivationFormatError(`activation dim ${i} is ${d}, must be an integer in 1..4294967295`);
    count *= d;
    if (count > MAX_ACTIVATION_VALUES) {
      throw new ActivationFormatError(`activation shape ${JSON.stringify(shape)} holds more than ${MAX_ACTIVATION_VALUES} values`);
    }
  }
  return count;
}

function isTensor(value: object): value is Tensor {
  return typeof (value as Tensor).dataSync === "function" && typeof (value as Tensor).dtype === "string";
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
