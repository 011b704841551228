/**
 * `npm run bench:data`: throughput of the contributor's data path on a 50 MB dataset (BENCH_DATA_MB)
 * of real MNIST digits, cycled: canonical encoding, sha256 commitment, AES-256-GCM encryption and
 * decryption, pinning the ciphertext to the embedded IPFS store (a temp dir), and the whole
 * contribution path end to end (encode + commit + encrypt + pin), and a validator's full check
 * (decrypt, commitment, decode, duplicate hashes, label check of 2,000 samples by the reference 2NN).
 * Parsing contributors' files (JSON, CSV) is timed on a 5 MB slice, as the text of 50 MB of
 * samples is 130-200 MB. Each step runs BENCH_RUNS times (default 3); the table shows the median.
 * MB/s is in MB (2^20 bytes) of canonical plaintext per second.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { decryptDataset, encryptDataset } from "../../worker/src/data/DatasetCipher.js";
import { parseCsvDataset, parseJsonDataset } from "../../worker/src/data/DatasetFileParser.js";
import { RECORD_BYTES, commitmentOf, encodeDataset, fromDigitSet, type LabelledImages } from "../../worker/src/data/DatasetFormat.js";
import { DatasetValidator } from "../../worker/src/data/DatasetValidator.js";
import { sharedReferenceClassifier } from "../../worker/src/data/ReferenceClassifier.js";
import { EmbeddedContentStore } from "../../worker/src/ipfs/EmbeddedContentStore.js";
import { MNIST_PIXELS, loadMnist } from "../../worker/src/ml/MnistDataset.js";

const TARGET_MB = Number(process.env.BENCH_DATA_MB ?? 50);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const MB = 1024 * 1024;

async function buildDataset(): Promise<LabelledImages> {
  const { train, test } = await loadMnist({ testCount: 2_000, seed: 42 });
  const real = [fromDigitSet(train), fromDigitSet(test)];
  const pool = real[0].count + real[1].count;
  const count = Math.ceil((TARGET_MB * MB) / RECORD_BYTES);
  const pixels = new Uint8Array(count * MNIST_PIXELS);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const k = i % pool;
    const [source, j] = k < real[0].count ? [real[0], k] : [real[1], k - real[0].count];
    pixels.set(source.pixels.subarray(j * MNIST_PIXELS, (j + 1) * MNIST_PIXELS), i * MNIST_PIXELS);
    labels[i] = source.labels[j];
  }
  return { count, pixels, labels };
}

interface TempStore {
  store: EmbeddedContentStore;
  directory: string;
}

async function openTempStore(): Promise<TempStore> {
  const directory = await mkdtemp(path.join(tmpdir(), "tessera-bench-data-"));
  return { store: await EmbeddedContentStore.open(directory), directory };
}

async function removeTempStore({ store, directory }: TempStore): Promise<void> {
  await store.close();
  await rm(directory, { recursive: true, force: true });
}

/** Median seconds of `RUNS` runs of `step`; `prepare` and `cleanUp` run outside the timed part. */
async function measure<P>(
  prepare: () => Promise<P> | P,
  step: (prepared: P) => Promise<unknown> | unknown,
  cleanUp: (prepared: P) => Promise<void> | void = () => {},
): Promise<number> {
  const seconds: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const prepared = await prepare();
    try {
      const started = performance.now();
      await step(prepared);
      seconds.push((performance.now() - started) / 1000);
    } finally {
      await cleanUp(prepared);
    }
  }
  seconds.sort((a, b) => a - b);
  return seconds[Math.floor(seconds.length / 2)];
}

const dataset = await buildDataset();
const canonical = encodeDataset(dataset);
const plaintextMb = canonical.length / MB;
const { envelope, key } = await encryptDataset(canonical);
const nothing = () => undefined;

const steps: Array<{ name: string; label: string; seconds: number; megabytes?: number }> = [
  { name: "encode", label: "canonical encode", seconds: await measure(nothing, () => encodeDataset(dataset)) },
  { name: "commit", label: "sha256 commitment", seconds: await measure(nothing, () => commitmentOf(canonical)) },
  { name: "encrypt", label: "AES-256-GCM encrypt", seconds: await measure(nothing, () => encryptDataset(canonical)) },
  { name: "decrypt", label: "AES-256-GCM decrypt", seconds: await measure(nothing, () => decryptDataset(envelope, key)) },
  {
    name: "pin",
    label: "pin to embedded IPFS",
    seconds: await measure(openTempStore, ({ store }) => store.add(envelope), removeTempStore),
  },
  {
    name: "endToEnd",
    label: "end to end (encode+commit+encrypt+pin)",
    seconds: await measure(
      openTempStore,
      async ({ store }) => {
        const bytes = encodeDataset(dataset);
        commitmentOf(bytes);
        return store.add((await encryptDataset(bytes)).envelope);
      },
      removeTempStore,
    ),
  },
];

const PARSE_MB = 5;
const parseSlice: LabelledImages = (() => {
  const count = Math.ceil((PARSE_MB * MB) / RECORD_BYTES);
  return { count, pixels: dataset.pixels.subarray(0, count * MNIST_PIXELS), labels: dataset.labels.subarray(0, count) };
})();
const pixelsOf = (i: number) => Array.from(parseSlice.pixels.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS));
const jsonFile = JSON.stringify(Array.from({ length: parseSlice.count }, (_, i) => ({ pixels: pixelsOf(i), label: parseSlice.labels[i] })));
const csvFile = Array.from({ length: parseSlice.count }, (_, i) => `${parseSlice.labels[i]},${pixelsOf(i).join(",")}`).join("\n");
const parseMb = encodeDataset(parseSlice).length / MB;

// Cycled digits repeat each other; the validator bench measures cost, not the duplicate verdict.
const validator = new DatasetValidator({ reference: await sharedReferenceClassifier(), maxDuplicateFraction: 1 });
const claim = { commitment: commitmentOf(canonical), sampleCount: dataset.count };
const noneAccepted = new Set<string>();

steps.push(
  {
    name: "parseJson",
    label: `parse JSON (${PARSE_MB} MB slice)`,
    seconds: await measure(nothing, () => parseJsonDataset(jsonFile)),
    megabytes: parseMb,
  },
  {
    name: "parseCsv",
    label: `parse CSV (${PARSE_MB} MB slice)`,
    seconds: await measure(nothing, () => parseCsvDataset(csvFile)),
    megabytes: parseMb,
  },
  {
    name: "validate",
    label: "validate (decrypt+all checks)",
    seconds: await measure(nothing, async () => {
      const verdict = await validator.validate({ encrypted: envelope, key, claim, acceptedSampleHashes: noneAccepted });
      if (!verdict.accept) throw new Error(`the bench dataset was rejected: ${verdict.details}`);
    }),
  },
);

console.log(`dataset: ${dataset.count} samples, ${plaintextMb.toFixed(1)} MB canonical, median of ${RUNS} runs`);
console.log(`${"step".padEnd(40)} ${"seconds".padStart(8)} ${"MB/s".padStart(9)}`);
const rate = ({ seconds, megabytes }: (typeof steps)[number]) => (megabytes ?? plaintextMb) / seconds;
for (const step of steps) {
  console.log(`${step.label.padEnd(40)} ${step.seconds.toFixed(3).padStart(8)} ${rate(step).toFixed(1).padStart(9)}`);
}
console.log(
  JSON.stringify({
    bench: "data",
    samples: dataset.count,
    megabytes: Number(plaintextMb.toFixed(2)),
    runs: RUNS,
    mbPerSecond: Object.fromEntries(steps.map((step) => [step.name, Number(rate(step).toFixed(1))])),
    seconds: Object.fromEntries(steps.map(({ name, seconds }) => [name, Number(seconds.toFixed(4))])),
  }),
);
