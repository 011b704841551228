import { createRequire } from "node:module";
import hardhatToolboxMochaEthers from "@nomicfoundation/hardhat-toolbox-mocha-ethers";
import { configVariable, defineConfig } from "hardhat/config";
import { tesseraTasks } from "./tasks/index.js";

const require = createRequire(import.meta.url);

// solc is taken from the npm package (WASM) so that builds never download a compiler. It is loaded through
// scripts/solc/soljson.cjs, which hands solc its input on the heap: solc-js copies it onto the 5 MiB WASM stack
// (4 bytes per character), so any compile job whose standard-JSON input exceeds ~1.31 MB crashed with HHE908
// ("memory access out of bounds") - the Solidity tests' job did under coverage instrumentation. Same compiler,
// same input, byte-identical output.
const SOLC_VERSION = "0.8.28";
const solcPath = require.resolve("./scripts/solc/soljson.cjs");
const solc = (viaIR: boolean, runs = 10_000) => ({
  version: SOLC_VERSION,
  path: solcPath,
  settings: { viaIR, optimizer: { enabled: true, runs }, evmVersion: "cancun" },
});
// The market's hot paths are gas-budgeted (docs/inference-market.md): the IR pipeline saves ~1.6k gas per
// request and per claim+fulfil there, and ~400 more per request in the registry view it calls. Everything
// else keeps the faster legacy pipeline, except TrainingJobs: IR with runs = 1 keeps it well under the 24,576-byte
// contract size limit (its round protocol lives in the linked library TrainingRounds, IR at 10k runs, ~13 kB).
// The training sources and their Solidity tests compile in jobs of their own (the tests: legacy, runs = 200).
const trainingSolidityTests = [
  "test/contracts/training/TrainingJobsBase.sol",
  "test/contracts/training/TrainingJobs.t.sol",
  "test/contracts/training/TrainingJobs.invariants.t.sol",
];
// Hardhat merges root files into one solc job only when their settings are the same object, and drops the
// build info of a job that emitted no artifact: a types-only file alone in a job (TrainingTypes.sol) was
// recompiled by every build. So each distinct setting is built once and shared.
const buildProfile = () => {
  const gasTuned = solc(true);
  const training = solc(true, 1);
  const trainingRounds = solc(true);
  return {
    compilers: [solc(false)],
    overrides: {
      "contracts/inference/InferenceMarket.sol": gasTuned,
      "contracts/models/ModelRegistry.sol": gasTuned,
      "contracts/models/ShardRegistry.sol": gasTuned,
      "contracts/training/TrainingJobs.sol": training,
      "contracts/training/TrainingRounds.sol": trainingRounds,
      "contracts/interfaces/ITrainingJobs.sol": training,
      "contracts/types/TrainingTypes.sol": training,
      ...Object.fromEntries(trainingSolidityTests.map((file) => [file, solc(false, 200)])),
    },
  };
};

export default defineConfig({
  plugins: [hardhatToolboxMochaEthers],
  tasks: tesseraTasks,
  solidity: {
    profiles: { default: buildProfile(), production: buildProfile() },
  },
  typechain: { outDir: "typechain-types" },
  paths: { tests: { mocha: "test", solidity: "test" } },
  test: { mocha: { timeout: 120_000 } },
  networks: {
    // The embedded chain: Hardhat's EDR in-process (used by tests, the demo and the benchmarks).
    default: { type: "edr-simulated", chainType: "l1", hardfork: "cancun" },
    // A standalone node on this machine (`npx hardhat node`, or anvil).
    localhost: { type: "http", chainType: "l1", url: "http://127.0.0.1:8545" },
    // Any remote EVM chain: RPC URL and deployer key come from the environment / keystore.
    remote: {
      type: "http",
      chainType: "l1",
      url: configVariable("TESSERA_RPC_URL"),
      accounts: [configVariable("TESSERA_DEPLOYER_KEY")],
    },
  },
});
