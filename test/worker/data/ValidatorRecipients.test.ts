import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { hexlify, randomBytes } from "ethers";
import { network } from "hardhat";
import { ensureStakedWorker } from "../../../scripts/lib/EmbeddedStaking.js";
import { EmbeddedStack } from "../../../scripts/lib/EmbeddedStack.js";
import { CAP_VALIDATE } from "../../../worker/src/chain/Capabilities.js";
import { currentValidatorRecipients } from "../../../worker/src/data/DataRegistryClient.js";
import { generateEncryptionKey, openEnvelope, sealKeyEnvelopes } from "../../../worker/src/data/KeyEnvelopes.js";

/**
 * Anyone with the stake may register as a validator, with any 33 bytes as its encryption key: the list a contributor
 * seals its dataset key for must not let one such registration make sealing fail for everyone.
 */
describe("The validators a dataset key is sealed for (currentValidatorRecipients)", function () {
  this.timeout(120_000);
  let stack: EmbeddedStack;
  let dataDir: string;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tessera-recipients-"));
    stack = await EmbeddedStack.start(await network.create(), { dataDir, queuePrefix: `tessera-test-recipients-${process.pid}` });
  });

  after(async () => {
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("attack: a copy of an honest validator's key, and a key off the curve, are left out; sealing for the rest works and each opens its own envelope", async () => {
    const { workerRegistry, dataRegistry, token } = stack.contracts;
    const [honest, copier, offCurve, second] = stack.signers.users.slice(0, 4);
    await (await token.grantRole(await token.MINTER_ROLE(), stack.signers.deployer.address)).wait();
    const stake = (await workerRegistry.minStake()) * 2n;
    const k1 = generateEncryptionKey();
    const k2 = generateEncryptionKey();
    // x = 2^256 - 1 is above the field's prime: no point has it.
    const notAPoint = "0x02" + "ff".repeat(32);
    const register = (signer: typeof honest, key: string, i: number) => ensureStakedWorker(stack, signer!, { stake, capabilities: CAP_VALIDATE, encryptionPublicKey: key, endpoint: `embedded://v${i}` });
    await register(honest, k1.publicKey, 1);
    await register(copier, k1.publicKey, 2);
    await register(offCurve, notAPoint, 3);
    await register(second, k2.publicKey, 4);
    // Without the filter, sealing for these four fails for everyone.
    expect(() => sealKeyEnvelopes(randomBytes(32), hexlify(randomBytes(32)), [k1, k1, { publicKey: notAPoint }, k2].map((k, i) => ({ address: [honest, copier, offCurve, second][i]!.address, publicKey: k.publicKey })), honest!.address)).to.throw();

    const recipients = await currentValidatorRecipients(workerRegistry, dataRegistry, stack.deployment.startBlock);
    expect(recipients).to.deep.equal([
      { address: honest!.address, publicKey: k1.publicKey },
      { address: second!.address, publicKey: k2.publicKey },
    ]);
    const datasetKey = randomBytes(32);
    const commitment = hexlify(randomBytes(32));
    const document = sealKeyEnvelopes(datasetKey, commitment, recipients, stack.signers.users[5]!.address);
    expect(hexlify(openEnvelope(document, k1.privateKey))).to.equal(hexlify(datasetKey));
    expect(hexlify(openEnvelope(document, k2.privateKey))).to.equal(hexlify(datasetKey));

    // The honest validator moves to a new key: the copier's (older now) copy of the old one is its alone.
    const k3 = generateEncryptionKey();
    await (await workerRegistry.connect(honest!).updateProfile(CAP_VALIDATE, k3.publicKey, "embedded://v1")).wait();
    expect(await currentValidatorRecipients(workerRegistry, dataRegistry, stack.deployment.startBlock)).to.deep.equal([
      { address: copier!.address, publicKey: k1.publicKey },
      { address: second!.address, publicKey: k2.publicKey },
      { address: honest!.address, publicKey: k3.publicKey },
    ]);
  });
});
