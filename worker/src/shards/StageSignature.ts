import { BaseWallet, getAddress, keccak256, type Signer, TypedDataEncoder } from "ethers";
import secp256k1 from "secp256k1";
import { keccakBytes } from "../chain/WasmKeccak.js";
import { activationHash } from "./ActivationHash.js";

/**
 * A host's word on one stage of a sharded request's pipeline: "for request `requestId` I ran shard `shardIndex` of
 * version `modelVersionId` on the activations hashed `inputHash` and produced those hashed `outputHash`". Signed
 * with EIP-712 under the ShardRegistry's domain; the InferenceMarket pays hosts only on a chain of these.
 *
 * Every hop of a pipeline signs one (the host) and recovers one (the caller), so both sit on the critical path of a
 * sharded answer: the digest is built from a cached domain separator and type hash, and the signature is made and
 * recovered by libsecp256k1 (the `secp256k1` package's native binding: 0.05 ms to recover against 1.5 ms for ethers'
 * JavaScript; tests check both agree). A signer that is not a local key (a remote or hardware signer) signs through
 * its own `signTypedData`.
 */
export interface StageClaim {
  requestId: bigint;
  modelVersionId: bigint;
  shardIndex: number;
  inputHash: string;
  outputHash: string;
}

/** A signed stage, as `InferenceMarket.fulfillSharded` takes it (struct ShardStage). */
export interface SignedStage {
  host: string;
  inputHash: string;
  outputHash: string;
  signature: string;
}

/** The ShardRegistry's EIP-712 types (STAGE_TYPEHASH). */
export const STAGE_TYPES = {
  ShardStage: [
    { name: "requestId", type: "uint256" },
    { name: "modelVersionId", type: "uint64" },
    { name: "shardIndex", type: "uint16" },
    { name: "inputHash", type: "bytes32" },
    { name: "outputHash", type: "bytes32" },
  ],
};

/** The ShardRegistry's EIP-712 domain on one chain. */
export function stageDomain(chainId: bigint | number, shardRegistry: string) {
  return { name: "Tessera Shards", version: "1", chainId, verifyingContract: shardRegistry };
}

const STAGE_TYPEHASH = TypedDataEncoder.from(STAGE_TYPES).encodeType("ShardStage");
const STAGE_TYPEHASH_BYTES = Buffer.from(keccak256(new TextEncoder().encode(STAGE_TYPEHASH)).slice(2), "hex");
const domainSeparators = new Map<string, Buffer>();
/** secp256k1's order n, halved: OpenZeppelin's ECDSA (and so the market) refuses a signature whose s is above it. */
const HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

function domainSeparator(chainId: bigint | number, shardRegistry: string): Buffer {
  const key = `${chainId}:${shardRegistry.toLowerCase()}`;
  let separator = domainSeparators.get(key);
  if (separator === undefined) {
    separator = Buffer.from(TypedDataEncoder.hashDomain(stageDomain(chainId, shardRegistry)).slice(2), "hex");
    domainSeparators.set(key, separator);
  }
  return separator;
}

/** An unsigned integer as its 32-byte ABI word; out of the type's range (or not an integer) throws, as ethers' coder does. */
function uintWord(value: bigint | number, bits: number, name: string): Buffer {
  const v = BigInt(value); // a fractional number throws here
  if (v < 0n || v >= 1n << BigInt(bits)) throw new RangeError(`${name} ${v} does not fit a uint${bits}`);
  return Buffer.from(v.toString(16).padStart(64, "0"), "hex");
}

function bytes32Word(hex: string, name: string): Buffer {
  if (!/^0x[0-9a-fA-F]{64}$/.test(hex)) throw new TypeError(`${name} is not 32 bytes of hex`);
  return Buffer.from(hex.slice(2), "hex");
}

/**
 * The digest a host signs (equal to `ShardRegistry.stageDigest`): keccak256(0x1901 ‖ domain separator ‖ struct hash),
 * the struct hash over the type hash and the five fields as 32-byte words (all of static types, so their ABI encoding
 * is the words side by side). Packed here and hashed by WebAssembly: ethers' ABI coder and JavaScript Keccak cost
 * each hop about half a millisecond on each side (a pipeline's host signs one digest, its caller recovers one).
 */
export function stageDigest(chainId: bigint | number, shardRegistry: string, stage: StageClaim): string {
  const structHash = keccakBytes(
    Buffer.concat([
      STAGE_TYPEHASH_BYTES,
      uintWord(stage.requestId, 256, "requestId"),
      uintWord(stage.modelVersionId, 64, "modelVersionId"),
      uintWord(stage.shardIndex, 16, "shardIndex"),
      bytes32Word(stage.inputHash, "inputHash"),
      bytes32Word(stage.outputHash, "outputHash"),
    ]),
  );
  return activationHash(Buffer.concat([Buffer.from([0x19, 0x01]), domainSeparator(chainId, shardRegistry), structHash]));
}

/** Signs one stage with the host's key. */
export async function signStage(host: Signer, chainId: bigint | number, shardRegistry: string, stage: StageClaim): Promise<SignedStage> {
  let signature: string;
  if (host instanceof BaseWallet) {
    const digest = Buffer.from(stageDigest(chainId, shardRegistry, stage).slice(2), "hex");
    const { signature: rs, recid } = secp256k1.ecdsaSign(digest, Buffer.from(host.privateKey.slice(2), "hex"));
    signature = "0x" + Buffer.from(rs).toString("hex") + (27 + recid).toString(16);
  } else {
    signature = await host.signTypedData(stageDomain(chainId, shardRegistry), STAGE_TYPES, stage);
  }
  return { host: await host.getAddress(), inputHash: stage.inputHash, outputHash: stage.outputHash, signature };
}

/**
 * The address that signed a stage (to check a peer's signature before passing its activations on). Throws on a
 * signature the market would refuse: not 65 bytes, v not 27 or 28, s above n/2, or not a point on the curve.
 */
export function stageSigner(chainId: bigint | number, shardRegistry: string, stage: StageClaim, signature: string): string {
  return recoverSigner(stageDigest(chainId, shardRegistry, stage), signature);
}

/**
 * The address whose key signed the 32-byte `digest` (0x hex) with a 65-byte (r, s, v) `signature`, by libsecp256k1.
 * Throws on a signature OpenZeppelin's ECDSA would refuse: not 65 bytes, v not 27 or 28, s above n/2, not on the curve.
 */
export function recoverSigner(digest: string, signature: string): string {
  if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) throw new Error("a signature is 65 bytes");
  const bytes = Buffer.from(signature.slice(2), "hex");
  const v = bytes[64]!;
  if (v !== 27 && v !== 28) throw new Error("the signature's v is not 27 or 28");
  if (BigInt("0x" + bytes.subarray(32, 64).toString("hex")) > HALF_N) throw new Error("the signature's s is not canonical (above n/2)");
  const publicKey = secp256k1.ecdsaRecover(bytes.subarray(0, 64), v - 27, Buffer.from(digest.slice(2), "hex"), false);
  return getAddress("0x" + activationHash(publicKey.subarray(1)).slice(-40));
}
