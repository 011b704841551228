/**
 * `npm run worker`'s build step: `hardhat build` under the project's build lock (BuildLock.ts), so a worker started
 * while a task is building waits for it instead of racing it on Hardhat's cache; then the worker's bundle
 * (Bundles.ts), which the script runs with plain node.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { withBuildLock } from "../lib/BuildLock.js";
import { WORKER_BUNDLE, WORKER_ENTRY, bundle } from "./Bundles.js";

const cacheDir = fileURLToPath(new URL("../../cache", import.meta.url));
const status = await withBuildLock(cacheDir, async () => {
  const built = spawnSync("npx", ["hardhat", "build", "--quiet"], { stdio: "inherit" }).status;
  if (built === 0) bundle(WORKER_ENTRY, WORKER_BUNDLE);
  return built;
});
process.exit(status ?? 1);
