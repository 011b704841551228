// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IInferenceMarket} from "../interfaces/IInferenceMarket.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {Shard} from "../interfaces/IShardRegistry.sol";

/// @title ModelRegistry
/// @notice Registry of models and their versions, with the terms the InferenceMarket charges.
contract ModelRegistry is IModelRegistry, Ownable2Step {
    /// @notice Version ids must stay below this bound (the market packs them in 24 bits).
    uint64 public constant VERSION_ID_LIMIT = 1 << 24;
    /// @notice Most shards a version may be cut into.
    uint16 public constant MAX_SHARDS = 16;
    uint16 private constant _MAX_BPS = 10_000;

    struct Model {
        address owner;
        address pendingOwner;
        string name;
        string metadataURI;
        uint64[] versionIds;
    }

    /// @dev Slot A (owner|royaltyBps|status|modelId) and slot B (priceWei|priceToken|shardCount|publishedAt)
    /// are all `inferenceTerms` reads.
    struct Version {
        address owner;
        uint16 royaltyBps;
        VersionStatus status;
        uint64 modelId;
        uint96 priceWei;
        uint96 priceToken;
        uint16 shardCount;
        uint32 publishedAt;
        bytes32 contentHash;
        bytes manifestCid;
        bytes weightsCid;
        uint32[] inputShape;
        uint32[] outputShape;
    }

    uint64 private _modelCount;
    uint64 private _versionCount;
    mapping(uint64 modelId => Model) private _models;
    mapping(uint64 versionId => Version) private _versions;
    /// @dev The ordered shards of a sharded version (empty for a whole-model version).
    mapping(uint64 versionId => Shard[]) private _shards;
    /// @dev Receives every version's inference terms when they are set or change (see `setInferenceMarket`).
    IInferenceMarket private _market;

    /// @param admin Owner of the registry itself (not of any model): the only power is `setInferenceMarket`, once.
    constructor(address admin) Ownable(admin) {}

    modifier onlyModelOwner(uint64 modelId) {
        _checkModelOwner(modelId);
        _;
    }

    /// @inheritdoc IModelRegistry
    function registerModel(string calldata name, string calldata metadataURI) external returns (uint64 modelId) {
        modelId = ++_modelCount;
        Model storage model = _models[modelId];
        model.owner = msg.sender;
        model.name = name;
        model.metadataURI = metadataURI;
        emit ModelRegistered(modelId, msg.sender, name, metadataURI);
    }

    /// @inheritdoc IModelRegistry
    function publishVersion(uint64 modelId, VersionInput calldata v)
        external
        onlyModelOwner(modelId)
        returns (uint64 versionId)
    {
        versionId = _publish(modelId, v, 1);
    }

    /// @inheritdoc IModelRegistry
    /// @dev The shards are checked whole before anything is stored: they start at layer 0, follow each other without
    /// gap or overlap, and each has weights (a CID, a size) and a positive cost weight.
    function publishShardedVersion(uint64 modelId, VersionInput calldata v, Shard[] calldata shards)
        external
        onlyModelOwner(modelId)
        returns (uint64 versionId)
    {
        uint256 n = shards.length;
        if (n < 2 || n > MAX_SHARDS) revert ModelRegistryShardCount(n, MAX_SHARDS);
        uint32 expectedFirst;
        for (uint256 i; i < n; ++i) {
            Shard calldata shard = shards[i];
            if (shard.firstLayer != expectedFirst || shard.endLayer <= shard.firstLayer) {
                revert ModelRegistryShardLayers(i, shard.firstLayer, shard.endLayer, expectedFirst);
            }
            if (shard.costWeight == 0 || shard.byteSize == 0 || shard.weightsCid.length == 0) {
                revert ModelRegistryShardInvalid(i);
            }
            expectedFirst = shard.endLayer;
        }
        versionId = _publish(modelId, v, uint16(n));
        Shard[] storage stored = _shards[versionId];
        for (uint256 i; i < n; ++i) {
            Shard calldata shard = shards[i];
            stored.push(shard);
            emit ShardPublished(
                versionId,
                uint16(i),
                shard.firstLayer,
                shard.endLayer,
                shard.costWeight,
                shard.byteSize,
                shard.contentHash,
                shard.weightsCid
            );
        }
    }

    function _publish(uint64 modelId, VersionInput calldata v, uint16 shardCount) private returns (uint64 versionId) {
        if (v.royaltyBps > _MAX_BPS) revert ModelRegistryRoyaltyTooHigh(v.royaltyBps);
        if (v.manifestCid.length == 0 || v.weightsCid.length == 0) revert ModelRegistryEmptyCid();
        versionId = _versionCount + 1;
        if (versionId >= VERSION_ID_LIMIT) revert ModelRegistryVersionIdOverflow(versionId);
        _versionCount = versionId;

        Version storage version = _versions[versionId];
        version.owner = msg.sender;
        version.royaltyBps = v.royaltyBps;
        version.status = VersionStatus.Active;
        version.modelId = modelId;
        version.priceWei = v.priceWei;
        version.priceToken = v.priceToken;
        version.shardCount = shardCount;
        version.publishedAt = uint32(block.timestamp);
        version.contentHash = v.contentHash;
        version.manifestCid = v.manifestCid;
        version.weightsCid = v.weightsCid;
        version.inputShape = v.inputShape;
        version.outputShape = v.outputShape;
        _models[modelId].versionIds.push(versionId);
        emit VersionPublished(
            versionId, modelId, v.contentHash, v.manifestCid, v.weightsCid, v.priceWei, v.priceToken, v.royaltyBps
        );
        IInferenceMarket market = _market;
        if (address(market) != address(0)) {
            market.onVersionTermsUpdated(
                versionId, v.priceWei, v.priceToken, v.royaltyBps, _inputElements(v.inputShape), true, shardCount > 1
            );
        }
    }

    /// @inheritdoc IModelRegistry
    function deprecateVersion(uint64 versionId) external {
        Version storage version = _versions[versionId];
        if (version.status == VersionStatus.None) revert ModelRegistryUnknownVersion(versionId);
        uint64 modelId = version.modelId;
        _checkModelOwner(modelId);
        if (version.status == VersionStatus.Deprecated) revert ModelRegistryVersionAlreadyDeprecated(versionId);
        version.status = VersionStatus.Deprecated;
        emit VersionDeprecated(versionId, modelId);
        IInferenceMarket market = _market;
        if (address(market) != address(0)) {
            market.onVersionTermsUpdated(
                versionId,
                version.priceWei,
                version.priceToken,
                version.royaltyBps,
                _inputElements(version.inputShape),
                false,
                version.shardCount > 1
            );
        }
    }

    /// @inheritdoc IModelRegistry
    /// @dev Only before the first version: the market's cache of terms is then complete by construction.
    function setInferenceMarket(address market) external onlyOwner {
        if (market == address(0)) revert ModelRegistryZeroAddress();
        if (address(_market) != address(0)) revert ModelRegistryInferenceMarketAlreadySet(address(_market));
        if (_versionCount != 0) revert ModelRegistryVersionsAlreadyPublished(_versionCount);
        _market = IInferenceMarket(market);
        emit InferenceMarketSet(market);
    }

    /// @inheritdoc IModelRegistry
    function transferModelOwnership(uint64 modelId, address newOwner) external onlyModelOwner(modelId) {
        _models[modelId].pendingOwner = newOwner;
        emit ModelOwnershipTransferStarted(modelId, msg.sender, newOwner);
    }

    /// @inheritdoc IModelRegistry
    function acceptModelOwnership(uint64 modelId) external {
        Model storage model = _models[modelId];
        if (model.pendingOwner != msg.sender || msg.sender == address(0)) {
            revert ModelRegistryNotPendingOwner(modelId, msg.sender);
        }
        address previousOwner = model.owner;
        model.owner = msg.sender;
        delete model.pendingOwner;
        uint64[] storage versionIds = model.versionIds;
        for (uint256 i; i < versionIds.length; ++i) {
            _versions[versionIds[i]].owner = msg.sender;
        }
        emit ModelOwnershipTransferred(modelId, previousOwner, msg.sender);
    }

    /// @inheritdoc IModelRegistry
    function getModel(uint64 modelId) external view returns (ModelInfo memory) {
        Model storage model = _models[modelId];
        if (model.owner == address(0)) revert ModelRegistryUnknownModel(modelId);
        return ModelInfo({
            owner: model.owner,
            pendingOwner: model.pendingOwner,
            name: model.name,
            metadataURI: model.metadataURI,
            versionIds: model.versionIds
        });
    }

    /// @inheritdoc IModelRegistry
    function getVersion(uint64 versionId) external view returns (VersionInfo memory) {
        Version storage v = _versions[versionId];
        if (v.status == VersionStatus.None) revert ModelRegistryUnknownVersion(versionId);
        return VersionInfo({
            modelId: v.modelId,
            owner: v.owner,
            status: v.status,
            royaltyBps: v.royaltyBps,
            priceWei: v.priceWei,
            priceToken: v.priceToken,
            shardCount: v.shardCount,
            publishedAt: v.publishedAt,
            contentHash: v.contentHash,
            manifestCid: v.manifestCid,
            weightsCid: v.weightsCid,
            inputShape: v.inputShape,
            outputShape: v.outputShape
        });
    }

    /// @inheritdoc IModelRegistry
    function inferenceTerms(uint64 versionId)
        external
        view
        returns (address owner, uint96 priceWei, uint96 priceToken, uint16 royaltyBps, bool active)
    {
        Version storage v = _versions[versionId];
        return (v.owner, v.priceWei, v.priceToken, v.royaltyBps, v.status == VersionStatus.Active);
    }

    /// @inheritdoc IModelRegistry
    function getShards(uint64 versionId) external view returns (Shard[] memory) {
        if (_versions[versionId].status == VersionStatus.None) revert ModelRegistryUnknownVersion(versionId);
        return _shards[versionId];
    }

    /// @inheritdoc IModelRegistry
    function shardPlan(uint64 versionId) external view returns (bool active, uint32[] memory costWeights) {
        Version storage v = _versions[versionId];
        if (v.status == VersionStatus.None) revert ModelRegistryUnknownVersion(versionId);
        active = v.status == VersionStatus.Active;
        Shard[] storage shards = _shards[versionId];
        uint256 n = shards.length;
        costWeights = new uint32[](n);
        for (uint256 i; i < n; ++i) {
            costWeights[i] = shards[i].costWeight;
        }
    }

    /// @inheritdoc IModelRegistry
    function inferenceMarket() external view returns (address) {
        return address(_market);
    }

    /// @notice Number of registered models (ids are 1..modelCount).
    function modelCount() external view returns (uint64) {
        return _modelCount;
    }

    /// @notice Number of published versions (ids are 1..versionCount).
    function versionCount() external view returns (uint64) {
        return _versionCount;
    }

    /// @dev Values in one input: the product of the declared shape, or 0 (unknown: the market checks no size) for an
    /// empty shape, a zero dimension or a product beyond uint32.
    function _inputElements(uint32[] memory shape) private pure returns (uint32) {
        if (shape.length == 0) return 0;
        uint256 product = 1;
        for (uint256 i; i < shape.length; ++i) {
            product *= shape[i];
            if (product == 0 || product > type(uint32).max) return 0;
        }
        return uint32(product);
    }

    function _checkModelOwner(uint64 modelId) private view {
        address owner = _models[modelId].owner;
        if (owner == address(0)) revert ModelRegistryUnknownModel(modelId);
        if (owner != msg.sender) revert ModelRegistryNotModelOwner(modelId, msg.sender);
    }
}
