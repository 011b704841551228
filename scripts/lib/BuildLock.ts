import { mkdirSync } from "node:fs";
import lockfile from "proper-lockfile";

/**
 * Runs `build` while holding the project's build lock on Hardhat's cache directory `cacheDir`, which every build
 * rewrites (proper-lockfile: a `cache.lock` directory beside it),
 * so that builds in separate processes run one after the other. Two Hardhat builds at once in one project (a worker
 * starting while a task builds, as the README's session does) race on `cache/compile-cache.json.tmp`, and one fails
 * with ENOENT. A lock left by a killed process is taken over after 30 s without updates.
 */
export async function withBuildLock<T>(cacheDir: string, build: () => Promise<T>): Promise<T> {
  mkdirSync(cacheDir, { recursive: true });
  const release = await lockfile.lock(cacheDir, { stale: 30_000, update: 5_000, retries: { retries: 600, minTimeout: 100, maxTimeout: 500 } });
  try {
    return await build();
  } finally {
    await release();
  }
}
