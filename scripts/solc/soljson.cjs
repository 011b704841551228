// solc's WASM build (the npm package `solc`, 0.8.28) with one change: the standard-JSON input is handed to the
// compiler through the heap instead of the stack.
//
// Emscripten's `cwrap(..., ["string"])`, which Hardhat's solc-js runner uses for `solidity_compile`, copies a string
// argument onto the WASM stack, reserving 4 bytes per character, and this build's stack is 5 MiB: any input longer
// than ~1.31 MB overflows it and solc dies with "RuntimeError: memory access out of bounds" (Hardhat: HHE908)
// before it has parsed anything. Coverage instrumentation makes every source larger, and the compile job holding
// the Solidity tests with forge-std (safeconsole.sol alone is 0.43 MB) went past that limit.
//
// Here `solidity_compile` gets a malloc'ed copy of the input (the heap grows as needed), freed after the call. The
// compiler and what it is given are unchanged, so is its output.
"use strict";
const solc = require("solc/soljson.js");

const cwrap = solc.cwrap;
solc.cwrap = function (ident, returnType, argTypes, opts) {
  if (ident !== "solidity_compile") return cwrap.call(this, ident, returnType, argTypes, opts);
  return (input, readCallback, readCallbackContext) => {
    const size = solc.lengthBytesUTF8(input) + 1;
    const pointer = solc._malloc(size);
    if (!pointer) throw new Error(`solc: could not allocate ${size} bytes for the compiler input`);
    try {
      solc.stringToUTF8(input, pointer, size);
      return solc.UTF8ToString(solc._solidity_compile(pointer, readCallback ?? 0, readCallbackContext ?? 0));
    } finally {
      solc._free(pointer);
    }
  };
};

module.exports = solc;
