import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";

/**
 * The page never deploys a contract: the typechain factories it uses for their ABIs lose their creation bytecode
 * (about half the bundle otherwise). A page that tried to deploy would send empty code and fail at once.
 */
function withoutCreationBytecode(): Plugin {
  return {
    name: "tessera-without-creation-bytecode",
    transform(code, id) {
      if (!/typechain-types\/factories\/.*__factory\.ts$/.test(id)) return null;
      return { code: code.replace(/const _bytecode =\s*"0x[0-9a-fA-F]*";/, 'const _bytecode = "0x";'), map: null };
    },
  };
}

/**
 * The dApp: a static page (app/index.html, app/src) built into app/dist. `npm run app` builds it and serves it with
 * `vite preview` plus the Tessera backend plugin (scripts/app/TesseraBackendPlugin.ts: app config, JSON-RPC proxy,
 * IPFS gateway) on one port.
 */
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  // Relative asset URLs: the page works under any path prefix a host serves it from.
  base: "./",
  plugins: [withoutCreationBytecode()],
  resolve: {
    // csv-parse's Node build uses Node's global Buffer; its browser build carries its own (the dataset parsers the page
    // shares with the tasks and validators read CSV files with it).
    alias: { "csv-parse/sync": "csv-parse/browser/esm/sync" },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
    // ethers, zod and the contracts' ABIs are most of the page's chunk (about 620 kB, 180 kB gzipped; measured in the
    // README); TensorFlow.js (about 1.1 MB) is a chunk of its own, loaded only when a person scores a job's rounds.
    chunkSizeWarningLimit: 1_200,
  },
  // Read by the browser tests and `npm run app`; a fixed port would clash with a second run.
  preview: { strictPort: false },
  logLevel: "warn",
});
