import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

/**
 * The dApp: a static page (app/index.html, app/src) built into app/dist. `npm run app` builds it and serves it with
 * `vite preview` plus the Tessera backend plugin (scripts/app/TesseraBackendPlugin.ts: app config, JSON-RPC proxy,
 * IPFS gateway) on one port.
 */
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  // Relative asset URLs: the page works under any path prefix a host serves it from.
  base: "./",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
  },
  // Read by the browser tests and `npm run app`; a fixed port would clash with a second run.
  preview: { strictPort: false },
  logLevel: "warn",
});
