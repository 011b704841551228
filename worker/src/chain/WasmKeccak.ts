import { keccak256 } from "ethers";
import { createKeccak } from "hash-wasm";

let installed = false;

/**
 * Makes ethers' `keccak256` compute with hash-wasm's WebAssembly Keccak instead of its JavaScript one, for the
 * whole process: every transaction signed (the hash of tens of kilobytes of batch calldata), every transaction
 * hash, event topic and address checksum. Same function, same bytes out (test/worker/chain/WasmKeccak.test.ts);
 * ethers' own was a twentieth of a batching worker's CPU in the load benchmark's profile. One hasher, used
 * synchronously (init, update and digest run without a yield), so callers never interleave. Idempotent.
 */
export async function installWasmKeccak(): Promise<void> {
  if (installed) return;
  const hasher = await createKeccak(256);
  keccak256.register((data: Uint8Array) => hasher.init().update(data).digest("binary"));
  installed = true;
}
