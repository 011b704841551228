import { expect } from "chai";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Wallet, getBytes } from "ethers";
import { decryptDataset } from "../../../worker/src/data/DatasetCipher.js";
import { contributeDataset } from "../../../worker/src/data/DatasetContribution.js";
import { MNIST_SCHEMA } from "../../../worker/src/data/schema/BuiltinSchemas.js";
import { commitmentOf, encodeDataset, type LabelledImages } from "../../../worker/src/data/DatasetFormat.js";
import {
  generateEncryptionKey,
  openEnvelope,
  parseKeyEnvelopeDocument,
} from "../../../worker/src/data/KeyEnvelopes.js";
import { getJson } from "../../../worker/src/ipfs/ContentStore.js";
import { EmbeddedContentStore } from "../../../worker/src/ipfs/EmbeddedContentStore.js";
import { realDigits } from "../../helpers/realDigits.js";

const CONTRIBUTOR = "0xC0C0c0c0C0C0c0c0c0C0c0C0C0C0C0C0C0C0c0c0";

async function readBlockFiles(directory: string): Promise<Buffer[]> {
  const entries = await readdir(directory, { recursive: true, withFileTypes: true });
  const files = entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
  return Promise.all(files.map((file) => readFile(file)));
}

/** The 64-byte window of `bytes` with the most distinct values: one that cannot occur by chance. */
function distinctiveWindow(bytes: Uint8Array): Buffer {
  let best = 0;
  let bestDistinct = 0;
  for (let start = 0; start + 64 <= bytes.length; start += 7) {
    const distinct = new Set(bytes.subarray(start, start + 64)).size;
    if (distinct > bestDistinct) [best, bestDistinct] = [start, distinct];
  }
  return Buffer.from(bytes.subarray(best, best + 64));
}

function pixelJson(digits: LabelledImages): string {
  return JSON.stringify(
    Array.from({ length: digits.count }, (_, i) => ({
      pixels: Array.from(digits.pixels.subarray(i * 784, (i + 1) * 784)),
      label: digits.labels[i],
    })),
  );
}

describe("DatasetContribution", () => {
  let directory: string;
  let store: EmbeddedContentStore;
  let digits: LabelledImages;

  before(async () => {
    digits = await realDigits(700);
  });

  beforeEach(async () => {
    directory = await mkdtemp(path.join(tmpdir(), "tessera-data-"));
    store = await EmbeddedContentStore.open(directory);
  });

  afterEach(async () => {
    await store.close();
    await rm(directory, { recursive: true, force: true });
  });

  it("stores only ciphertext and envelopes: no plaintext window or pixel JSON in any block file", async () => {
    const file = pixelJson(digits);
    const canonical = encodeDataset(digits);
    const window = distinctiveWindow(canonical);
    const jsonWindow = Buffer.from(file.slice(file.length / 2, file.length / 2 + 64));
    const validator = generateEncryptionKey();

    const contribution = await contributeDataset({
      store,
      source: { file: new TextEncoder().encode(file), parse: { fileName: "digits.json" } },
      recipients: [{ address: Wallet.createRandom().address, publicKey: validator.publicKey }],
      contributor: CONTRIBUTOR,
    });
    expect(contribution.commitment).to.equal(commitmentOf(canonical));
    expect(contribution.sampleCount).to.equal(700);
    expect(contribution.schemaId).to.equal(MNIST_SCHEMA.id);
    expect(contribution).to.not.have.property("keyHex");

    const blocks = await readBlockFiles(directory);
    expect(blocks.length).to.be.at.least(4); // 550 KB of ciphertext in 256 KiB leaves, a root, the envelopes
    for (const block of blocks) {
      expect(block.indexOf(window)).to.equal(-1);
      expect(block.indexOf(jsonWindow)).to.equal(-1);
    }

    // The scan does find plaintext when plaintext is stored: it is not vacuous.
    const controlDirectory = await mkdtemp(path.join(tmpdir(), "tessera-data-control-"));
    const control = await EmbeddedContentStore.open(controlDirectory);
    try {
      await control.add(canonical);
      await control.add(new TextEncoder().encode(file));
      const controlBlocks = await readBlockFiles(controlDirectory);
      expect(controlBlocks.some((b) => b.indexOf(window) !== -1)).to.equal(true);
      expect(controlBlocks.some((b) => b.indexOf(jsonWindow) !== -1)).to.equal(true);
    } finally {
      await control.close();
      await rm(controlDirectory, { recursive: true, force: true });
    }

    // A listed validator recovers exactly the committed plaintext from the store.
    const document = parseKeyEnvelopeDocument(await getJson(store, contribution.envelopesCid));
    expect(document.datasetCommitment).to.equal(contribution.commitment);
    const plaintext = await decryptDataset(
      await store.get(contribution.datasetCid),
      openEnvelope(document, validator.privateKey),
    );
    expect(Buffer.from(plaintext).equals(Buffer.from(canonical))).to.equal(true);
  });

  it("returns the key only when asked to keep it locally", async () => {
    const contribution = await contributeDataset({
      store,
      source: { samples: digits },
      recipients: [{ address: Wallet.createRandom().address, publicKey: generateEncryptionKey().publicKey }],
      contributor: CONTRIBUTOR,
      keepKey: true,
    });
    expect(contribution.keyHex).to.match(/^0x[0-9a-f]{64}$/);
    const plaintext = await decryptDataset(await store.get(contribution.datasetCid), getBytes(contribution.keyHex!));
    expect(commitmentOf(plaintext)).to.equal(contribution.commitment);
  });
});
