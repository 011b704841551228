// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Shard} from "../interfaces/IShardRegistry.sol";

/// @title IModelRegistry
/// @notice Models and their published versions: content addresses, shapes and inference prices.
/// @dev This is the part the InferenceMarket needs. Later issues add per-shard records (layer range,
/// weights CID and hash per shard, hosts per shard) under `shardCount`, and training provenance
/// (job, datasets, metrics) per version; both hang off the version id without changing the two
/// slots that `inferenceTerms` reads.
interface IModelRegistry {
    /// @notice Lifecycle of a version.
    enum VersionStatus {
        None,
        Active,
        Deprecated
    }

    /// @notice What a model owner supplies to publish a version.
    struct VersionInput {
        bytes manifestCid; // tfjs model.json (architecture + weight manifest)
        bytes weightsCid; // weights blob
        bytes32 contentHash; // sha256 of the weights bytes
        uint32[] inputShape;
        uint32[] outputShape;
        uint96 priceWei; // price per request in ETH (0 = free)
        uint96 priceToken; // price per request in TesseraToken (0 = free)
        uint16 royaltyBps; // owner's share of each fee, <= 10_000
    }

    /// @notice A model as returned by `getModel`.
    struct ModelInfo {
        address owner;
        address pendingOwner;
        string name;
        string metadataURI;
        uint64[] versionIds;
    }

    /// @notice A version as returned by `getVersion`.
    struct VersionInfo {
        uint64 modelId;
        address owner;
        VersionStatus status;
        uint16 royaltyBps;
        uint96 priceWei;
        uint96 priceToken;
        uint16 shardCount; // 1 = whole model; > 1 = sharded (the shards: getShards)
        uint32 publishedAt;
        bytes32 contentHash;
        bytes manifestCid;
        bytes weightsCid;
        uint32[] inputShape;
        uint32[] outputShape;
    }

    /// @notice Thrown for a model id that was never registered.
    error ModelRegistryUnknownModel(uint64 modelId);
    /// @notice Thrown for a version id that was never published.
    error ModelRegistryUnknownVersion(uint64 versionId);
    /// @notice Thrown when the caller does not own the model.
    error ModelRegistryNotModelOwner(uint64 modelId, address caller);
    /// @notice Thrown when the caller is not the pending owner of the model.
    error ModelRegistryNotPendingOwner(uint64 modelId, address caller);
    /// @notice Thrown when deprecating a version twice.
    error ModelRegistryVersionAlreadyDeprecated(uint64 versionId);
    /// @notice Thrown when a royalty exceeds 10_000 bps.
    error ModelRegistryRoyaltyTooHigh(uint16 royaltyBps);
    /// @notice Thrown when a manifest or weights CID is empty.
    error ModelRegistryEmptyCid();
    /// @notice Thrown when the global version id space (< 2^24) is exhausted.
    error ModelRegistryVersionIdOverflow(uint64 versionId);
    /// @notice A sharded version needs 2..maxShards shards.
    error ModelRegistryShardCount(uint256 count, uint256 maxShards);
    /// @notice Shard `index` does not start where the previous one ended (layer 0 for the first), or is empty.
    error ModelRegistryShardLayers(uint256 index, uint32 firstLayer, uint32 endLayer, uint32 expectedFirstLayer);
    /// @notice Shard `index` has no weights CID, a zero byte size or a zero cost weight.
    error ModelRegistryShardInvalid(uint256 index);

    /// @notice Thrown when `setInferenceMarket` is given address(0).
    error ModelRegistryZeroAddress();
    /// @notice Thrown when `setInferenceMarket` is called a second time.
    error ModelRegistryInferenceMarketAlreadySet(address market);
    /// @notice Thrown when `setInferenceMarket` is called after versions were published (they would be missing
    /// from the market's cache of terms).
    error ModelRegistryVersionsAlreadyPublished(uint64 versionCount);

    /// @notice Emitted once, when the inference market that caches version terms is set.
    /// @param market The InferenceMarket.
    event InferenceMarketSet(address indexed market);
    /// @notice Emitted when a model is registered.
    /// @param modelId The new model id.
    /// @param owner The model owner (the caller).
    /// @param name Human-readable name.
    /// @param metadataURI Off-chain metadata.
    event ModelRegistered(uint64 indexed modelId, address indexed owner, string name, string metadataURI);
    /// @notice Emitted when a version is published.
    /// @param versionId The new global version id.
    /// @param modelId The model.
    /// @param contentHash sha256 of the weights.
    /// @param manifestCid The manifest CID bytes.
    /// @param weightsCid The weights CID bytes.
    /// @param priceWei Price in ETH.
    /// @param priceToken Price in tokens.
    /// @param royaltyBps Owner's share.
    event VersionPublished(
        uint64 indexed versionId,
        uint64 indexed modelId,
        bytes32 contentHash,
        bytes manifestCid,
        bytes weightsCid,
        uint96 priceWei,
        uint96 priceToken,
        uint16 royaltyBps
    );
    /// @notice Emitted when a version is deprecated (no new inference requests).
    /// @param versionId The version.
    /// @param modelId Its model.
    event VersionDeprecated(uint64 indexed versionId, uint64 indexed modelId);
    /// @notice One shard of a sharded version, emitted in order right after its VersionPublished.
    event ShardPublished(
        uint64 indexed versionId,
        uint16 index,
        uint32 firstLayer,
        uint32 endLayer,
        uint32 costWeight,
        uint64 byteSize,
        bytes32 contentHash,
        bytes weightsCid
    );
    /// @notice Emitted when an ownership transfer is started.
    /// @param modelId The model.
    /// @param owner Current owner.
    /// @param pendingOwner Proposed owner.
    event ModelOwnershipTransferStarted(uint64 indexed modelId, address indexed owner, address indexed pendingOwner);
    /// @notice Emitted when an ownership transfer completes.
    /// @param modelId The model.
    /// @param previousOwner Former owner.
    /// @param newOwner New owner (receives future royalties).
    event ModelOwnershipTransferred(uint64 indexed modelId, address indexed previousOwner, address indexed newOwner);

    /// @notice Registers a model owned by the caller.
    function registerModel(string calldata name, string calldata metadataURI) external returns (uint64 modelId);
    /// @notice Publishes a version of a model the caller owns. Version ids are global and start at 1.
    function publishVersion(uint64 modelId, VersionInput calldata v) external returns (uint64 versionId);
    /// @notice Publishes a version cut into 2..MAX_SHARDS shards, each served by its own hosts (ShardRegistry); its
    /// requests are fulfilled with the signed chain of the pipeline (InferenceMarket.fulfillSharded).
    /// `v.weightsCid` and `v.contentHash` name the whole model's weights (what a challenger re-runs).
    function publishShardedVersion(uint64 modelId, VersionInput calldata v, Shard[] calldata shards)
        external
        returns (uint64 versionId);
    /// @notice Deprecates a version: it can no longer be requested. Open requests still settle.
    function deprecateVersion(uint64 versionId) external;
    /// @notice Starts a two-step ownership transfer.
    function transferModelOwnership(uint64 modelId, address newOwner) external;
    /// @notice Completes a transfer; the caller must be the pending owner.
    function acceptModelOwnership(uint64 modelId) external;

    /// @notice Sets, once and before the first version, the InferenceMarket that receives every version's
    /// inference terms (`IInferenceMarket.onVersionTermsUpdated`) on publish and deprecation. Owner only.
    /// @dev A version's royaltyBps and prices never change after publication; only its status does.
    function setInferenceMarket(address market) external;
    /// @notice The InferenceMarket set by `setInferenceMarket` (address(0) before).
    function inferenceMarket() external view returns (address);

    /// @notice The model record.
    function getModel(uint64 modelId) external view returns (ModelInfo memory);
    /// @notice The full version record.
    function getVersion(uint64 versionId) external view returns (VersionInfo memory);
    /// @notice What the InferenceMarket needs, read from exactly two storage slots.
    /// @dev Returns zeros (owner == address(0)) for an unknown version; never reverts.
    /// @notice The shards of a version, in pipeline order (empty for a whole-model version).
    function getShards(uint64 versionId) external view returns (Shard[] memory);
    /// @notice What the pipeline check needs: whether the version is active and each shard's cost weight (empty for a
    /// whole-model version).
    function shardPlan(uint64 versionId) external view returns (bool active, uint32[] memory costWeights);
    function inferenceTerms(uint64 versionId)
        external
        view
        returns (address owner, uint96 priceWei, uint96 priceToken, uint16 royaltyBps, bool active);
}
