/**
 * The worker as operators run it: one ES module that esbuild bundles from the project's TypeScript (the worker, the
 * typechain types it imports), run by plain `node`; packages stay imports of node_modules. Running the sources
 * through tsx instead costs every process about 100 MB (its loader thread and the transpiled modules with their
 * source maps: a host that loads a 460 MB model held 813 MB under tsx, 704 MB bundled), a lot for shard hosts, which
 * are many small processes.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildSync } from "esbuild";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** The worker daemon's entry and its bundle (what `npm run worker` runs). */
export const WORKER_ENTRY = "worker/src/main.ts";
export const WORKER_BUNDLE = "dist/worker/main.mjs";

/** The shard host's stage thread (ThreadedStageRunner), bundled beside every bundle as `stage-thread.mjs`. */
export const STAGE_THREAD_ENTRY = "worker/src/shards/thread/StageThread.ts";

/**
 * Bundles `entry` into `outfile` (both relative to the repository root; the output beside a linked source map), with
 * the stage thread beside it (a bundle that hosts shards starts it from there), and returns the output's absolute
 * path. Each file is written under a temporary name and renamed, so that a process starting it never reads half a
 * file while another bundles.
 */
export function bundle(entry: string, outfile: string): string {
  const out = join(ROOT, outfile);
  if (!out.endsWith(".mjs")) throw new Error(`a bundle is an ES module (.mjs): ${outfile}`);
  const result = buildSync({
    entryPoints: { [basename(out, ".mjs")]: join(ROOT, entry), "stage-thread": join(ROOT, STAGE_THREAD_ENTRY) },
    outdir: dirname(out),
    outExtension: { ".js": ".mjs" },
    // One id for the bundle and its stage thread: a worker refuses a thread from another build (StageThreadProtocol.ts).
    define: { TESSERA_BUILD_ID: JSON.stringify(randomUUID()) },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    packages: "external",
    sourcemap: "linked",
    write: false,
    logLevel: "silent",
  });
  for (const file of result.outputFiles) {
    mkdirSync(dirname(file.path), { recursive: true });
    const temporary = `${file.path}.${process.pid}.tmp`;
    writeFileSync(temporary, file.contents);
    renameSync(temporary, file.path);
  }
  return out;
}

const bundled = new Map<string, string>();

/** `bundle`, once per process for each entry: the processes a test or the demo starts run the sources as they are now. */
export function bundleOnce(entry: string, outfile: string): string {
  let out = bundled.get(entry);
  if (out === undefined) {
    out = bundle(entry, outfile);
    bundled.set(entry, out);
  }
  return out;
}
