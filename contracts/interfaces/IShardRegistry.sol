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

/// @title IShardRegistry
/// @notice Who hosts which shard of a sharded model version, and the check of a request's signed pipeline.
interface IShardRegistry {
    /// @notice Where a host stands on one shard.
    enum HostStatus {
        None,
        Announced, // routed to; its stage signatures count; its stake is bound
        Withdrawn // no longer routed to; its signatures still count and its stake stays bound until `releasableAt`
    }

    /// @notice A host's record on one shard.
    struct HostRecord {
        HostStatus status;
        uint32 releasableAt; // Withdrawn: when `release` may unbind the stake (and the signatures stop counting)
        string endpoint; // where the host takes this shard's activations (e.g. https://host:8443 or a multiaddr)
    }

    error ShardRegistryZeroAddress();
    /// @notice The version is unknown, deprecated, or not sharded; or `shardIndex` is beyond its shards.
    error ShardRegistryNoSuchShard(uint64 modelVersionId, uint16 shardIndex);
    /// @notice Announcing needs a registered, staked inference worker that is not unstaking.
    error ShardRegistryHostNotEligible(address host);
    /// @notice The endpoint is empty or longer than MAX_ENDPOINT_BYTES.
    error ShardRegistryInvalidEndpoint();
    /// @notice `withdraw` of a shard the caller does not announce now.
    error ShardRegistryNotAnnounced(address host, uint64 modelVersionId, uint16 shardIndex);
    /// @notice `release` before the host's signatures stop counting, or of a shard it did not withdraw from.
    error ShardRegistryNotReleasable(address host, uint64 modelVersionId, uint16 shardIndex, uint32 releasableAt);
    /// @notice The pipeline has another number of stages than the version has shards (or the version is not sharded).
    error ShardPipelineLength(uint64 modelVersionId, uint256 stages, uint256 shards);
    /// @notice Stage `index`'s input is not what the previous stage produced (stage 0: not the request's input).
    error ShardPipelineBrokenLink(uint256 index);
    /// @notice The last stage's output is not the answer.
    error ShardPipelineWrongAnswer(bytes32 lastOutputHash, bytes32 outputHash);
    /// @notice Stage `index` is not signed by its host.
    error ShardPipelineBadSignature(uint256 index);
    /// @notice Stage `index`'s host does not host (or no longer answers for) that shard.
    error ShardPipelineNotHost(uint256 index, address host);

    event HostAnnounced(uint64 indexed modelVersionId, uint16 indexed shardIndex, address indexed host, string endpoint);
    event HostWithdrawn(
        uint64 indexed modelVersionId, uint16 indexed shardIndex, address indexed host, uint32 releasableAt
    );
    event HostReleased(uint64 indexed modelVersionId, uint16 indexed shardIndex, address indexed host);

    /// @notice Announces (or updates the endpoint of) the caller as a host of shard `shardIndex` of a sharded version.
    /// Binds the caller's stake (WorkerRegistry obligation) until it withdraws and releases.
    function announce(uint64 modelVersionId, uint16 shardIndex, string calldata endpoint) external;
    /// @notice Stops routing to the caller for this shard. Its stage signatures keep counting, and its stake stays
    /// bound, for `releaseDelay` seconds: requests it took part in can still be fulfilled with them.
    function withdraw(uint64 modelVersionId, uint16 shardIndex) external;
    /// @notice After `releaseDelay`, unbinds the stake the announcement bound. Anyone may call it for the host.
    function release(address host, uint64 modelVersionId, uint16 shardIndex) external;

    /// @notice The hosts announced now for one shard and still eligible inference workers (not slashed below the
    /// minimum stake, not unstaking), with their endpoints: what a worker routes to. An ineligible host's stage
    /// signatures still count (its stake stays bound), so requests already routed through it can be fulfilled.
    function hostsOf(uint64 modelVersionId, uint16 shardIndex)
        external
        view
        returns (address[] memory hosts, string[] memory endpoints);
    /// @notice Number of hosts announced now for one shard, eligible or not (hostsOf lists the eligible ones).
    function hostCount(uint64 modelVersionId, uint16 shardIndex) external view returns (uint256);
    /// @notice A host's record on one shard.
    function hostRecord(address host, uint64 modelVersionId, uint16 shardIndex)
        external
        view
        returns (HostRecord memory);
    /// @notice Seconds between a withdrawal and the release of the stake it bound.
    function releaseDelay() external view returns (uint32);

    /// @notice The EIP-712 digest a host signs for one stage.
    function stageDigest(
        uint256 requestId,
        uint64 modelVersionId,
        uint16 shardIndex,
        bytes32 inputHash,
        bytes32 outputHash
    ) external view returns (bytes32);

    /// @notice Checks a request's pipeline and returns what each host is paid by: reverts unless there is one stage per
    /// shard, stage 0's input is `inputHash`, each stage's input is the previous stage's output, the last output is
    /// `outputHash`, and each stage is signed by a host of its shard (announced, or withdrawn within `releaseDelay`).
    /// @return hosts The stages' hosts, in order.
    /// @return costWeights The shards' cost weights, in order.
    function verifyPipeline(
        uint256 requestId,
        uint64 modelVersionId,
        bytes32 inputHash,
        bytes32 outputHash,
        ShardStage[] calldata stages
    ) external view returns (address[] memory hosts, uint32[] memory costWeights);
}
