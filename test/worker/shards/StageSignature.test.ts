import { expect } from "chai";
import { hexlify, randomBytes, TypedDataEncoder, verifyTypedData, Wallet } from "ethers";
import { signStage, stageDigest, stageDomain, stageSigner, STAGE_TYPES, type StageClaim } from "../../../worker/src/shards/StageSignature.js";

describe("StageSignature: native signing and recovery agree with ethers' EIP-712", () => {
  const REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
  const claim = (i: number): StageClaim => ({
    requestId: BigInt(hexlify(randomBytes(32))),
    modelVersionId: BigInt(i + 1),
    shardIndex: i % 16,
    inputHash: hexlify(randomBytes(32)),
    outputHash: hexlify(randomBytes(32)),
  });

  it("gives ethers' digest and, for a local key, the very signature ethers makes (RFC 6979), recovered to the host", async () => {
    for (let i = 0; i < 40; i++) {
      const host = Wallet.createRandom();
      const chainId = i % 2 === 0 ? 31_337n : 1n;
      const stage = claim(i);
      expect(stageDigest(chainId, REGISTRY, stage)).to.equal(TypedDataEncoder.hash(stageDomain(chainId, REGISTRY), STAGE_TYPES, stage));
      const signed = await signStage(host, chainId, REGISTRY, stage);
      expect(signed.signature).to.equal(await host.signTypedData(stageDomain(chainId, REGISTRY), STAGE_TYPES, stage));
      expect(stageSigner(chainId, REGISTRY, stage, signed.signature)).to.equal(host.address);
      expect(verifyTypedData(stageDomain(chainId, REGISTRY), STAGE_TYPES, stage, signed.signature)).to.equal(host.address);
      // Another stage, chain or registry recovers to someone else.
      expect(stageSigner(chainId + 1n, REGISTRY, stage, signed.signature)).to.not.equal(host.address);
      expect(stageSigner(chainId, REGISTRY, { ...stage, shardIndex: stage.shardIndex + 1 }, signed.signature)).to.not.equal(host.address);
    }
  });

  it("packs the digest itself at every field's edge as ethers encodes it, and refuses what ethers' coder refuses", () => {
    const max = (bits: number) => (1n << BigInt(bits)) - 1n;
    const edges: StageClaim[] = [
      { requestId: 0n, modelVersionId: 0n, shardIndex: 0, inputHash: "0x" + "00".repeat(32), outputHash: "0x" + "ff".repeat(32) },
      { requestId: max(256), modelVersionId: max(64), shardIndex: 65_535, inputHash: "0x" + "AB".repeat(32), outputHash: "0x" + "0f".repeat(32) },
    ];
    for (const stage of edges) expect(stageDigest(1n, REGISTRY, stage)).to.equal(TypedDataEncoder.hash(stageDomain(1n, REGISTRY), STAGE_TYPES, stage));
    const base = edges[0];
    const refused: [Partial<StageClaim>, RegExp][] = [
      [{ requestId: max(256) + 1n }, /requestId .* does not fit a uint256/],
      [{ requestId: -1n }, /requestId -1 does not fit/],
      [{ modelVersionId: max(64) + 1n }, /modelVersionId .* does not fit a uint64/],
      [{ shardIndex: 65_536 }, /shardIndex 65536 does not fit a uint16/],
      [{ shardIndex: 1.5 }, /1\.5/],
      [{ inputHash: "0x1234" }, /inputHash is not 32 bytes of hex/],
      [{ outputHash: "ab".repeat(32) }, /outputHash is not 32 bytes of hex/],
    ];
    for (const [change, message] of refused) {
      expect(() => stageDigest(1n, REGISTRY, { ...base, ...change }), JSON.stringify(change, (_, v) => (typeof v === "bigint" ? v.toString() : v))).to.throw(message);
      expect(() => TypedDataEncoder.hash(stageDomain(1n, REGISTRY), STAGE_TYPES, { ...base, ...change }), "ethers refuses it too").to.throw();
    }
  });

  it("refuses what the market's ECDSA refuses: a high s, a v other than 27/28, a wrong length", async () => {
    const host = Wallet.createRandom();
    const stage = claim(3);
    const { signature } = await signStage(host, 1n, REGISTRY, stage);
    const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const s = BigInt("0x" + signature.slice(66, 130));
    const v = parseInt(signature.slice(130), 16);
    const malleable = signature.slice(0, 66) + (N - s).toString(16).padStart(64, "0") + (v === 27 ? "1c" : "1b");
    expect(() => stageSigner(1n, REGISTRY, stage, malleable)).to.throw(/not canonical/);
    expect(() => stageSigner(1n, REGISTRY, stage, signature.slice(0, 130) + "00")).to.throw(/v is not 27 or 28/);
    expect(() => stageSigner(1n, REGISTRY, stage, signature.slice(0, 128))).to.throw(/65 bytes/);
  });
});
