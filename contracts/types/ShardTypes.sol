// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice One shard of a sharded model version: a contiguous range of the model's layers and the weights a host
/// loads to run it. Shards are ordered: shard 0 takes the request's input, the last one produces the answer.
struct Shard {
    uint32 firstLayer; // index of the shard's first layer in the whole model (shard 0 starts at 0)
    uint32 endLayer; // one past its last layer (= the next shard's firstLayer)
    uint32 costWeight; // the shard's share of the hosts' pay is costWeight / (sum of the version's weights)
    uint64 byteSize; // size of the shard's weights (what a host must hold)
    bytes32 contentHash; // sha256 of the shard's weights bytes (as a version's contentHash)
    bytes weightsCid; // what a host of this shard fetches
}

/// @notice One stage of a sharded request's pipeline, signed by the host that ran it (EIP-712, `ShardRegistry`):
/// "for request `requestId` I ran shard `shardIndex` of version `modelVersionId` on the activations hashed
/// `inputHash` and produced those hashed `outputHash`".
struct ShardStage {
    address host;
    bytes32 inputHash; // stage 0: the request's inputHash; stage i > 0: stage i-1's outputHash
    bytes32 outputHash; // the last stage: the fulfilment's outputHash
    bytes signature; // 65-byte ECDSA signature of the stage's typed data by `host`
}
