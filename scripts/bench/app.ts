/**
 * `npm run -s bench:app`: the dApp's weight and speed in Debian's Chromium against `npm run app`'s stack. Bundle: every
 * file Vite built, raw and gzipped. Page load (BENCH_APP_LOADS [5] fresh browser contexts): navigation to the page
 * ready (app config read, registry listed, wallets discovered), DOMContentLoaded, and bytes transferred. Ask
 * (BENCH_APP_ASKS [5]): a digit written, "Pay and ask" pressed, until the page shows the answer, against the
 * baseline of the same paid request sent by the client library from Node (sent to answer seen, polled every 100 ms).
 * Last line JSON.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { chromium } from "playwright-core";
import { InjectedTestWallet } from "../../test/app/InjectedTestWallet.js";
import { requestProgress, requestWithEth } from "../../client/src/InferenceRequests.js";
import { AppStack } from "../app/AppStack.js";
import { devWallet } from "../lib/ShardedStack.js";

const LOADS = Number(process.env.BENCH_APP_LOADS ?? 5);
const ASKS = Number(process.env.BENCH_APP_ASKS ?? 5);
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const account = devWallet;

const app = await AppStack.start({ trainEpochs: 1 });
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"] });
try {
  const dist = join(app.dataDir, "app-dist");
  const files = readdirSync(dist, { recursive: true, withFileTypes: true })
    .filter((f) => f.isFile() && !f.name.endsWith(".map"))
    .map((f) => {
      const bytes = readFileSync(join(f.parentPath, f.name));
      return { file: join(f.parentPath, f.name).slice(dist.length + 1), bytes: bytes.length, gzipBytes: gzipSync(bytes).length };
    });

  const loads: { readyMs: number; domContentLoadedMs: number; transferredBytes: number }[] = [];
  for (let i = 0; i < LOADS; i++) {
    const context = await browser.newContext();
    const wallet = new InjectedTestWallet(account(13).privateKey, app.chain.rpcUrl, app.stack.deployment.chainId);
    await wallet.install(context);
    const page = await context.newPage();
    await page.goto(app.url);
    await page.locator("body[data-ready=true]").waitFor();
    // Evaluated in the page (no DOM types in this project's tsconfig): the navigation and resource timings.
    loads.push(
      (await page.evaluate(`(() => {
        const nav = performance.getEntriesByType("navigation")[0];
        const resources = performance.getEntriesByType("resource");
        return {
          readyMs: performance.getEntriesByName("tessera-ready")[0].startTime,
          domContentLoadedMs: nav.domContentLoadedEventEnd,
          transferredBytes: nav.transferSize + resources.reduce((sum, r) => sum + r.transferSize, 0),
        };
      })()`)) as { readyMs: number; domContentLoadedMs: number; transferredBytes: number },
    );
    await context.close();
  }

  const context = await browser.newContext();
  const wallet = new InjectedTestWallet(account(13).privateKey, app.chain.rpcUrl, app.stack.deployment.chainId);
  await wallet.install(context);
  const page = await context.newPage();
  const versionId = app.stack.trained!.versionId;
  await page.goto(`${app.url}/#/ask/${versionId}`);
  await page.getByRole("button", { name: "Connect Test Wallet" }).click();
  const pageAsks: number[] = [];
  for (let i = 0; i < ASKS; i++) {
    await page.goto(`${app.url}/#/ask/${versionId}`);
    await page.getByLabel("Or write a digit for me").selectOption(String(i % 10));
    // The page may still show the previous request answered: the clock stops when this request's answer is shown.
    const previous = (await page.evaluate(`document.querySelector("[data-testid=request-id]")?.textContent ?? null`)) as string | null;
    const t = performance.now();
    await page.getByRole("button", { name: /^Pay .* and ask$/ }).click();
    await page.waitForFunction(
      `(() => { const id = document.querySelector("[data-testid=request-id]")?.textContent ?? null; return id !== null && id !== ${JSON.stringify(previous)} && document.querySelector("[data-testid=progress][data-stage=answered]") !== null; })()`,
      undefined,
      { timeout: 120_000, polling: 10 },
    );
    pageAsks.push(performance.now() - t);
  }
  // Baseline: the same request from Node through the client library, polled every 100 ms (the page polls every 500 ms,
  // so its figure also holds up to one poll interval of waiting).
  const market = app.stack.contracts.market.connect(wallet.signer);
  const input = new Uint8Array(784).fill(0).map((_, j) => (j % 28 > 12 && j % 28 < 16 ? 255 : 0));
  const libraryAsks: number[] = [];
  for (let i = 0; i < ASKS; i++) {
    const t = performance.now();
    const fromBlock = await wallet.provider.getBlockNumber();
    const paid = await requestWithEth(market, { versionId, input, fee: 10n ** 14n, lifetimeSeconds: 600, salt: BigInt(i + 1) });
    while ((await requestProgress(market, paid, fromBlock)).stage !== "answered") await new Promise((r) => setTimeout(r, 100));
    libraryAsks.push(performance.now() - t);
  }

  const js = files.filter((f) => f.file.endsWith(".js"));
  const result = {
    bench: "app",
    bundle: { files, jsBytes: js.reduce((s, f) => s + f.bytes, 0), jsGzipBytes: js.reduce((s, f) => s + f.gzipBytes, 0) },
    load: { runs: loads.length, readyMsP50: median(loads.map((l) => l.readyMs)), domContentLoadedMsP50: median(loads.map((l) => l.domContentLoadedMs)), transferredBytes: median(loads.map((l) => l.transferredBytes)) },
    ask: { runs: ASKS, pageMsP50: median(pageAsks), libraryMsP50: median(libraryAsks), ratio: median(pageAsks) / median(libraryAsks) },
  };
  console.log("\nbench:app (Chromium headless, embedded stack, loopback)\n");
  for (const f of files) console.log(`  ${f.file.padEnd(36)} ${(f.bytes / 1024).toFixed(1).padStart(8)} kB  ${(f.gzipBytes / 1024).toFixed(1).padStart(7)} kB gzip`);
  console.log(`\n  page ready (config, registry, wallets) p50 ${result.load.readyMsP50.toFixed(0)} ms; DOMContentLoaded p50 ${result.load.domContentLoadedMsP50.toFixed(0)} ms; ${(result.load.transferredBytes / 1024).toFixed(0)} kB transferred`);
  console.log(`  ask (click to answer shown) p50 ${result.ask.pageMsP50.toFixed(0)} ms against ${result.ask.libraryMsP50.toFixed(0)} ms from Node with the client library: ${result.ask.ratio.toFixed(2)}x\n`);
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
  await app.stop();
}
process.exit(0);
