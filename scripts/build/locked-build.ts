/**
 * `npm run worker`'s build step: `hardhat build` under the project's build lock (BuildLock.ts), so a worker started
 * while a task is building waits for it instead of racing it on Hardhat's cache.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { withBuildLock } from "../lib/BuildLock.js";

const cacheDir = fileURLToPath(new URL("../../cache", import.meta.url));
const status = await withBuildLock(cacheDir, async () => spawnSync("npx", ["hardhat", "build", "--quiet"], { stdio: "inherit" }).status);
process.exit(status ?? 1);
