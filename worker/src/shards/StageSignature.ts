import { type Signer, TypedDataEncoder, verifyTypedData } from "ethers";

/**
 * A host's word on one stage of a sharded request's pipeline: "for request `requestId` I ran shard `shardIndex` of
 * version `modelVersionId` on the activations hashed `inputHash` and produced those hashed `outputHash`". Signed
 * with EIP-712 under the ShardRegistry's domain; the InferenceMarket pays hosts only on a chain of these.
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

/** Signs one stage with the host's key. */
export async function signStage(host: Signer, chainId: bigint | number, shardRegistry: string, stage: StageClaim): Promise<SignedStage> {
  const signature = await host.signTypedData(stageDomain(chainId, shardRegistry), STAGE_TYPES, stage);
  return { host: await host.getAddress(), inputHash: stage.inputHash, outputHash: stage.outputHash, signature };
}

/** The address that signed a stage (to check a peer's signature before passing its activations on). */
export function stageSigner(chainId: bigint | number, shardRegistry: string, stage: StageClaim, signature: string): string {
  return verifyTypedData(stageDomain(chainId, shardRegistry), STAGE_TYPES, stage, signature);
}

/** The digest a host signs (equal to `ShardRegistry.stageDigest`). */
export function stageDigest(chainId: bigint | number, shardRegistry: string, stage: StageClaim): string {
  return TypedDataEncoder.hash(stageDomain(chainId, shardRegistry), STAGE_TYPES, stage);
}
