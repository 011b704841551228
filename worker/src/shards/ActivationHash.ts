import { keccakHex } from "../chain/WasmKeccak.js";

/**
 * keccak256 of activation bytes, as 0x and 64 lowercase hex digits: the same function as ethers' `keccak256` (the
 * hash `fulfillSharded` checks answers and inputs with), computed by the process's WebAssembly Keccak (WasmKeccak),
 * about 20x faster than ethers' JavaScript one on activations (0.05 ms against 1.0 ms for 16 KiB on this machine).
 * Every hop of a pipeline hashes each activation three times (the host its input and output, the caller the
 * output), so this sits on the critical path of a sharded answer.
 */
export function activationHash(bytes: Uint8Array): string {
  return keccakHex(bytes);
}
