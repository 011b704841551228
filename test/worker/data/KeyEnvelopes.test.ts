import { expect } from "chai";
import { Wallet, hexlify } from "ethers";
import { generateDatasetKey } from "../../../worker/src/data/DatasetCipher.js";
import { KeyEnvelopeError, NotAuthorizedError } from "../../../worker/src/data/DatasetError.js";
import {
  encryptionPublicKeyOf,
  generateEncryptionKey,
  openEnvelope,
  parseKeyEnvelopeDocument,
  sealKeyEnvelopes,
  type EncryptionKeyPair,
} from "../../../worker/src/data/KeyEnvelopes.js";

const COMMITMENT = "0x" + "ab".repeat(32);
const CONTRIBUTOR = "0xC0C0c0c0C0C0c0c0c0C0c0C0C0C0C0C0C0C0c0c0";

function thrownBy(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error("expected an error");
}

describe("KeyEnvelopes", () => {
  let alice: EncryptionKeyPair;
  let bob: EncryptionKeyPair;
  let mallory: EncryptionKeyPair;
  const aliceAddress = Wallet.createRandom().address;
  const bobAddress = Wallet.createRandom().address;

  before(() => {
    [alice, bob, mallory] = [generateEncryptionKey(), generateEncryptionKey(), generateEncryptionKey()];
  });

  it("generates separate random keypairs with 33-byte compressed public keys", () => {
    expect(alice.publicKey).to.match(/^0x0[23][0-9a-f]{64}$/);
    expect(alice.privateKey).to.match(/^0x[0-9a-f]{64}$/);
    expect(encryptionPublicKeyOf(alice.privateKey)).to.equal(alice.publicKey);
    expect(alice.privateKey).to.not.equal(bob.privateKey);
  });

  it("lets each listed worker open the dataset key, and nobody else (NotAuthorizedError)", () => {
    const key = generateDatasetKey();
    const document = sealKeyEnvelopes(key, COMMITMENT, [
      { address: aliceAddress, publicKey: alice.publicKey },
      { address: bobAddress, publicKey: bob.publicKey.slice(2) },
    ], CONTRIBUTOR);
    const stored = parseKeyEnvelopeDocument(JSON.parse(JSON.stringify(document)));
    expect(stored.version).to.equal(2);
    expect(stored.contributor).to.equal(CONTRIBUTOR);
    expect(stored.envelopes.map((e) => e.recipient)).to.deep.equal([aliceAddress, bobAddress]);
    expect(JSON.stringify(stored)).to.not.include(hexlify(key).slice(2));

    expect(hexlify(openEnvelope(stored, alice.privateKey))).to.equal(hexlify(key));
    expect(hexlify(openEnvelope(stored, bob.privateKey.slice(2)))).to.equal(hexlify(key));

    const refused = thrownBy(() => openEnvelope(stored, mallory.privateKey));
    expect(refused).to.be.instanceOf(NotAuthorizedError);
    expect((refused as NotAuthorizedError).publicKey).to.equal(mallory.publicKey);
  });

  it("refuses an envelope moved to another dataset's document or tampered with", () => {
    const document = sealKeyEnvelopes(generateDatasetKey(), COMMITMENT, [
      { address: aliceAddress, publicKey: alice.publicKey },
    ], CONTRIBUTOR);
    const moved = { ...document, datasetCommitment: "0x" + "cd".repeat(32) };
    expect(thrownBy(() => openEnvelope(moved, alice.privateKey)))
      .to.be.instanceOf(KeyEnvelopeError)
      .and.match(/another dataset/);
    const ciphertext = document.envelopes[0].ciphertext;
    const tampered = {
      ...document,
      envelopes: [
        { ...document.envelopes[0], ciphertext: ciphertext.slice(0, -2) + (ciphertext.endsWith("00") ? "01" : "00") },
      ],
    };
    expect(thrownBy(() => openEnvelope(tampered, alice.privateKey)))
      .to.be.instanceOf(KeyEnvelopeError)
      .and.match(/does not decrypt/);
  });

  it("binds every envelope to its contributor: a copier cannot claim the document (issue 8 item 4)", () => {
    const document = sealKeyEnvelopes(generateDatasetKey(), COMMITMENT, [{ address: aliceAddress, publicKey: alice.publicKey }], CONTRIBUTOR);
    // The copier renames the contributor in the public document: the sealed binding no longer matches.
    const claimed = { ...document, contributor: bobAddress };
    expect(thrownBy(() => openEnvelope(claimed, alice.privateKey)))
      .to.be.instanceOf(KeyEnvelopeError)
      .and.match(/sealed by another contributor/);
    expect(thrownBy(() => sealKeyEnvelopes(generateDatasetKey(), COMMITMENT, [{ address: aliceAddress, publicKey: alice.publicKey }], "0x12"))).to.match(
      /contributor 0x12 is not an address/,
    );
  });

  it("rejects bad recipients and malformed documents clearly", () => {
    const key = generateDatasetKey();
    expect(thrownBy(() => sealKeyEnvelopes(key, COMMITMENT, [], CONTRIBUTOR))).to.match(/at least one recipient/);
    expect(
      thrownBy(() =>
        sealKeyEnvelopes(key, COMMITMENT, [{ address: aliceAddress, publicKey: "0x04" + "11".repeat(32) }], CONTRIBUTOR),
      ),
    ).to.match(/not a point on secp256k1|not 33-byte/);
    expect(
      thrownBy(() => sealKeyEnvelopes(key, COMMITMENT, [{ address: "0x1234", publicKey: alice.publicKey }], CONTRIBUTOR)),
    ).to.match(/not an address/);
    expect(
      thrownBy(() =>
        sealKeyEnvelopes(key, COMMITMENT, [
          { address: aliceAddress, publicKey: alice.publicKey },
          { address: bobAddress, publicKey: alice.publicKey },
        ], CONTRIBUTOR),
      ),
    ).to.match(/listed twice/);
    expect(thrownBy(() => parseKeyEnvelopeDocument({ version: 1, datasetCommitment: COMMITMENT, contributor: CONTRIBUTOR, envelopes: [] })))
      .to.be.instanceOf(KeyEnvelopeError)
      .and.match(/version/);
    expect(thrownBy(() => parseKeyEnvelopeDocument({ version: 2, datasetCommitment: "0x12", contributor: CONTRIBUTOR, envelopes: [] }))).to.match(
      /datasetCommitment/,
    );
  });
});
