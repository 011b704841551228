import { keccak256 } from "ethers";
import { createKeccak } from "hash-wasm";

/**
 * The process's one WebAssembly Keccak-256 (hash-wasm), about 20x faster than ethers' JavaScript one on large inputs.
 * Used synchronously (init, update and digest run without a yield), so concurrent callers never interleave.
 */
const hasher = await createKeccak(256);

/** keccak256 of `bytes` as 32 bytes. */
export function keccakBytes(bytes: Uint8Array): Uint8Array {
  return hasher.init().update(bytes).digest("binary");
}

/** keccak256 of `bytes` as 0x and 64 lowercase hex digits, as ethers' `keccak256` gives it. */
export function keccakHex(bytes: Uint8Array): string {
  return "0x" + hasher.init().update(bytes).digest("hex");
}

let installed = false;

/**
 * Makes ethers' `keccak256` compute with the hasher above instead of its JavaScript one, for the whole process: every
 * transaction signed (the hash of tens of kilobytes of batch calldata), every transaction hash, event topic and
 * address checksum. Same function, same bytes out (test/worker/chain/WasmKeccak.test.ts); ethers' own was a
 * twentieth of a batching worker's CPU in the load benchmark's profile. Idempotent.
 */
export function installWasmKeccak(): void {
  if (installed) return;
  keccak256.register(keccakBytes);
  installed = true;
}
