import { expect } from "chai";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Wallet, hexlify } from "ethers";
import { encryptDataset } from "../../../worker/src/data/DatasetCipher.js";
import { contributeDataset } from "../../../worker/src/data/DatasetContribution.js";
import { NotAuthorizedError } from "../../../worker/src/data/DatasetError.js";
import {
  DATASET_HEADER_BYTES,
  RECORD_BYTES,
  commitmentOf,
  encodeDataset,
  sampleHashes,
  type LabelledImages,
} from "../../../worker/src/data/DatasetFormat.js";
import {
  DatasetValidator,
  ValidationReason,
  type ValidationVerdict,
} from "../../../worker/src/data/DatasetValidator.js";
import { generateEncryptionKey, parseKeyEnvelopeDocument } from "../../../worker/src/data/KeyEnvelopes.js";
import { MNIST_SCHEMA } from "../../../worker/src/data/schema/BuiltinSchemas.js";
import { SchemaUnavailableError } from "../../../worker/src/data/schema/SchemaDocument.js";
import { addJson, getJson } from "../../../worker/src/ipfs/ContentStore.js";
import { sharedReferenceClassifier } from "../../../worker/src/data/ReferenceClassifier.js";
import { seededPermutation } from "../../../worker/src/ml/MnistDataset.js";
import { EmbeddedContentStore } from "../../../worker/src/ipfs/EmbeddedContentStore.js";
import { realDigits } from "../../helpers/realDigits.js";

const CONTRIBUTOR = "0xC0C0c0c0C0C0c0c0c0C0c0C0C0C0C0C0C0C0c0c0";

/** Samples `from`..`to` (exclusive) of `set`. */
function slice(set: LabelledImages, from: number, to: number): LabelledImages {
  return { count: to - from, pixels: set.pixels.slice(from * 784, to * 784), labels: set.labels.slice(from, to) };
}

function concat(a: LabelledImages, b: LabelledImages): LabelledImages {
  const pixels = new Uint8Array(a.pixels.length + b.pixels.length);
  pixels.set(a.pixels);
  pixels.set(b.pixels, a.pixels.length);
  const labels = new Uint8Array(a.count + b.count);
  labels.set(a.labels);
  labels.set(b.labels, a.count);
  return { count: a.count + b.count, pixels, labels };
}

describe("DatasetValidator", () => {
  let validator: DatasetValidator;
  let digits: LabelledImages;
  const none = new Set<string>();

  /** Encrypts canonical `bytes` and validates them against a claim (by default the honest one). */
  async function check(
    bytes: Uint8Array,
    claim: { commitment?: string; sampleCount?: number; schemaId?: string } = {},
    accepted = none,
  ): Promise<ValidationVerdict> {
    const { envelope, key } = await encryptDataset(bytes);
    const sampleCount = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8);
    return validator.validate({
      encrypted: envelope,
      key,
      claim: { commitment: claim.commitment ?? commitmentOf(bytes), sampleCount: claim.sampleCount ?? sampleCount, ...(claim.schemaId === undefined ? {} : { schemaId: claim.schemaId }) },
      acceptedSampleHashes: accepted,
    });
  }

  before(async () => {
    const reference = await sharedReferenceClassifier();
    expect(await sharedReferenceClassifier()).to.equal(reference); // trained once, reused
    console.log(`      reference 2NN: ${((reference.heldOutAccuracy ?? 0) * 100).toFixed(1)}% on the held-out split`);
    expect(reference.heldOutAccuracy).to.be.at.least(0.85);
    validator = new DatasetValidator({ reference });
    digits = await realDigits(1_000);
  });

  it("accepts a clean slice of real digits (0) and returns its sample hashes", async () => {
    const clean = slice(digits, 0, 400);
    const verdict = await check(encodeDataset(clean));
    expect(verdict.accept, verdict.details).to.equal(true);
    expect(verdict.reasonCode).to.equal(ValidationReason.Ok);
    expect(verdict.labelAgreement).to.be.at.least(0.8);
    expect(verdict.duplicateFraction).to.equal(0);
    expect(verdict.sampleHashes).to.deep.equal(sampleHashes(clean));
  });

  it("rejects a slice with shuffled labels as label noise (4)", async () => {
    const clean = slice(digits, 400, 800);
    const order = seededPermutation(clean.count, 5);
    const shuffled = { ...clean, labels: clean.labels.map((_, i) => clean.labels[order[i]]) };
    const verdict = await check(encodeDataset(shuffled));
    expect(verdict.accept).to.equal(false);
    expect(verdict.reasonCode).to.equal(ValidationReason.LabelNoise);
    expect(verdict.labelAgreement).to.be.below(0.3);
    expect(verdict.details).to.match(/agrees with .*% of labels; at least 60\.0% needed/);
  });

  it("rejects a flipped ciphertext bit as an integrity failure (5)", async () => {
    const { envelope, key } = await encryptDataset(encodeDataset(slice(digits, 0, 50)));
    envelope[envelope.length >> 1] ^= 0x10;
    const verdict = await validator.validate({
      encrypted: envelope,
      key,
      claim: { commitment: "0x" + "00".repeat(32), sampleCount: 50 },
      acceptedSampleHashes: none,
    });
    expect(verdict).to.deep.include({ accept: false, reasonCode: ValidationReason.Integrity });
    expect(verdict.details).to.match(/authentication failed/);
  });

  it("rejects data that does not match the on-chain commitment (6)", async () => {
    const committed = encodeDataset(slice(digits, 0, 50));
    const delivered = encodeDataset(slice(digits, 50, 100));
    const verdict = await check(delivered, { commitment: commitmentOf(committed) });
    expect(verdict).to.deep.include({ accept: false, reasonCode: ValidationReason.CommitmentMismatch });
    expect(verdict.details).to.include(commitmentOf(delivered));
  });

  it("rejects schema violations (1): a label out of range, a wrong length, an unknown schema, no samples", async () => {
    const bytes = encodeDataset(slice(digits, 0, 50));
    const badLabel = bytes.slice();
    badLabel[DATASET_HEADER_BYTES + 7 * RECORD_BYTES + 784] = 13;
    const truncated = bytes.slice(0, bytes.length - 100);
    const badSchema = bytes.slice();
    badSchema[12] ^= 0xff;
    const unknownId = hexlify(badSchema.subarray(12, 44));
    const empty = encodeDataset({ count: 0, pixels: new Uint8Array(0), labels: new Uint8Array(0) });
    const verdicts = [await check(badLabel), await check(truncated), await check(badSchema, { schemaId: MNIST_SCHEMA.id }), await check(empty)];
    for (const verdict of verdicts)
      expect(verdict).to.deep.include({ accept: false, reasonCode: ValidationReason.Schema });
    expect(verdicts.map((v) => v.details)).to.deep.equal([
      "sample 7: label 13 is not a class index in 0..9",
      `body: ${bytes.length - 100} bytes, but 50 samples of 786 bytes need ${bytes.length}`,
      `the data is of schema ${unknownId}, the dataset declares ${MNIST_SCHEMA.id}`,
      "the dataset has no samples",
    ]);
    // With no declared schema to hold it to, a header naming a schema this validator cannot read makes it abstain.
    const abstained = await check(badSchema).catch((e: Error) => e);
    expect(abstained).to.be.instanceOf(SchemaUnavailableError);
    expect((abstained as Error).message).to.equal(`schema ${unknownId} is not built in, and no IPFS store was given to fetch it`);
  });

  it("rejects a sample count that differs from the claim (2)", async () => {
    const verdict = await check(encodeDataset(slice(digits, 0, 60)), { sampleCount: 100 });
    expect(verdict).to.deep.include({
      accept: false,
      reasonCode: ValidationReason.SampleCount,
      details: "60 samples, but 100 were claimed",
    });
  });

  it("rejects more than 5% duplicates of accepted data (3), allows up to 5%", async () => {
    const accepted = new Set(sampleHashes(slice(digits, 0, 400)));
    const fresh = slice(digits, 400, 590);
    const withTenCopies = concat(fresh, slice(digits, 0, 10)); // 10 of 200 = 5%
    const withTwentyCopies = concat(fresh, slice(digits, 0, 20)); // 20 of 210 = 9.5%
    const selfRepeating = concat(fresh, slice(digits, 400, 420)); // repeats within the dataset
    expect(await check(encodeDataset(withTenCopies), {}, accepted)).to.deep.include({
      accept: true,
      reasonCode: ValidationReason.Ok,
    });
    const rejected = await check(encodeDataset(withTwentyCopies), {}, accepted);
    expect(rejected).to.deep.include({ accept: false, reasonCode: ValidationReason.Duplicates });
    // (Hardhat's chai matchers redefine closeTo for bigints, so compare the difference.)
    expect(Math.abs(rejected.duplicateFraction! - 20 / 210)).to.be.lessThan(1e-9);
    expect(await check(encodeDataset(selfRepeating))).to.deep.include({
      accept: false,
      reasonCode: ValidationReason.Duplicates,
    });
  });

  describe("on a contribution in the IPFS store", () => {
    let directory: string;
    let store: EmbeddedContentStore;

    beforeEach(async () => {
      directory = await mkdtemp(path.join(tmpdir(), "tessera-validate-"));
      store = await EmbeddedContentStore.open(directory);
    });

    afterEach(async () => {
      await store.close();
      await rm(directory, { recursive: true, force: true });
    });

    it("accepts when opened with an authorized key, throws NotAuthorizedError for an unlisted validator", async () => {
      const authorized = generateEncryptionKey();
      const outsider = generateEncryptionKey();
      const contribution = await contributeDataset({
        store,
        source: { samples: slice(digits, 800, 1_000) },
        recipients: [{ address: Wallet.createRandom().address, publicKey: authorized.publicKey }],
      contributor: CONTRIBUTOR,
      });
      const input = {
        store,
        datasetCid: contribution.datasetCid,
        envelopesCid: contribution.envelopesCid,
        claim: { commitment: contribution.commitment, sampleCount: contribution.sampleCount },
        acceptedSampleHashes: none,
      };
      const verdict = await validator.validateStored({ ...input, encryptionPrivateKey: authorized.privateKey });
      expect(verdict).to.deep.include({ accept: true, reasonCode: ValidationReason.Ok });

      let thrown: unknown;
      try {
        await validator.validateStored({ ...input, encryptionPrivateKey: outsider.privateKey });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).to.be.instanceOf(NotAuthorizedError);
    });

    it("rejects a copied contribution (6): the key was sealed by another account than the on-chain contributor", async () => {
      const authorized = generateEncryptionKey();
      const contribution = await contributeDataset({
        store,
        source: { samples: slice(digits, 800, 900) },
        recipients: [{ address: Wallet.createRandom().address, publicKey: authorized.publicKey }],
        contributor: CONTRIBUTOR,
      });
      const copier = Wallet.createRandom().address;
      const input = {
        store,
        datasetCid: contribution.datasetCid,
        envelopesCid: contribution.envelopesCid,
        encryptionPrivateKey: authorized.privateKey,
        acceptedSampleHashes: none,
      };
      const copied = await validator.validateStored({
        ...input,
        claim: { commitment: contribution.commitment, sampleCount: contribution.sampleCount, contributor: copier },
      });
      expect(copied).to.deep.include({ accept: false, reasonCode: ValidationReason.CommitmentMismatch });
      expect(copied.details).to.include(`the key was sealed by ${CONTRIBUTOR}, the dataset was contributed by ${copier}`);
      const original = await validator.validateStored({
        ...input,
        claim: { commitment: contribution.commitment, sampleCount: contribution.sampleCount, contributor: CONTRIBUTOR.toLowerCase() },
      });
      expect(original).to.deep.include({ accept: true, reasonCode: ValidationReason.Ok });
    });

    it("rejects as an integrity failure (5) when the validator's key envelope was tampered with", async () => {
      const authorized = generateEncryptionKey();
      const contribution = await contributeDataset({
        store,
        source: { samples: slice(digits, 800, 850) },
        recipients: [{ address: Wallet.createRandom().address, publicKey: authorized.publicKey }],
      contributor: CONTRIBUTOR,
      });
      const document = parseKeyEnvelopeDocument(await getJson(store, contribution.envelopesCid));
      const ciphertext = document.envelopes[0].ciphertext;
      document.envelopes[0].ciphertext =
        ciphertext.slice(0, 100) + (ciphertext[100] === "0" ? "1" : "0") + ciphertext.slice(101);
      const verdict = await validator.validateStored({
        store,
        datasetCid: contribution.datasetCid,
        envelopesCid: await addJson(store, document),
        encryptionPrivateKey: authorized.privateKey,
        claim: { commitment: contribution.commitment, sampleCount: contribution.sampleCount },
        acceptedSampleHashes: none,
      });
      expect(verdict).to.deep.include({ accept: false, reasonCode: ValidationReason.Integrity });
      expect(verdict.details).to.match(/^key envelope: .*does not decrypt/);
    });
  });
});
