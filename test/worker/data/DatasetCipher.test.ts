import { expect } from "chai";
import { randomBytes } from "node:crypto";
import {
  DATASET_KEY_BYTES,
  decryptDataset,
  encryptDataset,
  envelopeByteLength,
  generateDatasetKey,
} from "../../../worker/src/data/DatasetCipher.js";
import { DatasetIntegrityError } from "../../../worker/src/data/DatasetError.js";

async function expectIntegrityError(promise: Promise<unknown>, message: RegExp): Promise<void> {
  let thrown: unknown;
  try {
    await promise;
  } catch (error) {
    thrown = error;
  }
  expect(thrown, "expected a DatasetIntegrityError").to.be.instanceOf(DatasetIntegrityError);
  expect((thrown as Error).message).to.match(message);
}

describe("DatasetCipher", () => {
  it("round-trips with a fresh key and nonce every time", async () => {
    const plaintext = new Uint8Array(randomBytes(10_000));
    const a = await encryptDataset(plaintext);
    const b = await encryptDataset(plaintext);
    expect(a.key.length).to.equal(DATASET_KEY_BYTES);
    expect(Buffer.from(a.key).equals(Buffer.from(b.key))).to.equal(false);
    expect(a.envelope.length).to.equal(envelopeByteLength(plaintext.length));
    expect(Buffer.from(a.envelope.subarray(0, 5)).toString("latin1")).to.equal("TSDE\x01");
    expect(Buffer.from(a.envelope.subarray(5, 17)).equals(Buffer.from(b.envelope.subarray(5, 17)))).to.equal(false);
    expect(Buffer.from(await decryptDataset(a.envelope, a.key)).equals(Buffer.from(plaintext))).to.equal(true);
  });

  it("detects a flipped bit anywhere: header, nonce, ciphertext or tag", async () => {
    const plaintext = new Uint8Array(randomBytes(4_096));
    const { envelope, key } = await encryptDataset(plaintext);
    for (const position of [4, 5, 16, 17, 2_000, envelope.length - 17, envelope.length - 1]) {
      const tampered = envelope.slice();
      tampered[position] ^= 0x01;
      await expectIntegrityError(decryptDataset(tampered, key), position === 4 ? /version/ : /authentication failed/);
    }
    await expectIntegrityError(decryptDataset(envelope, generateDatasetKey()), /authentication failed/);
    await expectIntegrityError(decryptDataset(envelope.subarray(0, envelope.length - 1), key), /authentication failed/);
    await expectIntegrityError(decryptDataset(envelope.subarray(0, 20), key), /too short/);
    await expectIntegrityError(decryptDataset(plaintext, key), /bad magic/);
  });

  it("encrypts and decrypts 50 MB in linear time", async () => {
    const plaintext = new Uint8Array(50 * 1024 * 1024);
    for (let i = 0; i < plaintext.length; i += 4096) plaintext[i] = i & 0xff;
    const started = performance.now();
    const { envelope, key } = await encryptDataset(plaintext);
    const decrypted = await decryptDataset(envelope, key);
    const seconds = (performance.now() - started) / 1000;
    expect(Buffer.from(decrypted).equals(Buffer.from(plaintext))).to.equal(true);
    expect(seconds).to.be.below(5);
  });
});
