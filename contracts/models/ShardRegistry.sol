// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {IShardRegistry, ShardStage} from "../interfaces/IShardRegistry.sol";
import {IWorkerRegistry} from "../interfaces/IWorkerRegistry.sol";

/// @title ShardRegistry
/// @notice The hosts of each shard of a sharded model version, and the check of a request's signed pipeline that
/// the InferenceMarket pays hosts by. See docs/shards.md.
/// @dev A host's announcement binds its stake (a WorkerRegistry obligation, this contract holds STAKE_LOCKER_ROLE):
/// while its stage signatures may still be put on chain, it cannot leave with the stake that answers for them.
contract ShardRegistry is IShardRegistry, EIP712 {
    using EnumerableSet for EnumerableSet.AddressSet;

    /// @notice The typed data a host signs for each stage it runs.
    bytes32 public constant STAGE_TYPEHASH = keccak256(
        "ShardStage(uint256 requestId,uint64 modelVersionId,uint16 shardIndex,bytes32 inputHash,bytes32 outputHash)"
    );
    /// @notice Longest accepted endpoint.
    uint256 public constant MAX_ENDPOINT_BYTES = 256;
    /// @dev WorkerRegistry.CAP_INFER.
    uint8 private constant _CAP_INFER = 2;

    IWorkerRegistry private immutable _workers;
    IModelRegistry private immutable _models;
    uint32 private immutable _releaseDelay;

    /// @dev Keyed by `modelVersionId << 16 | shardIndex`.
    mapping(uint256 shardKey => EnumerableSet.AddressSet) private _announced;
    mapping(uint256 shardKey => mapping(address host => HostRecord)) private _records;

    /// @param workers_ The WorkerRegistry (this contract needs its STAKE_LOCKER_ROLE).
    /// @param models_ The ModelRegistry (shard counts and cost weights).
    /// @param releaseDelay_ Seconds a withdrawn host's signatures keep counting and its stake stays bound: at least
    /// the market's longest request lifetime, so that every request a host took part in can still be fulfilled.
    constructor(IWorkerRegistry workers_, IModelRegistry models_, uint32 releaseDelay_) EIP712("Tessera Shards", "1") {
        if (address(workers_) == address(0) || address(models_) == address(0)) revert ShardRegistryZeroAddress();
        _workers = workers_;
        _models = models_;
        _releaseDelay = releaseDelay_;
    }

    /// @inheritdoc IShardRegistry
    function announce(uint64 modelVersionId, uint16 shardIndex, string calldata endpoint) external {
        uint256 length = bytes(endpoint).length;
        if (length == 0 || length > MAX_ENDPOINT_BYTES) revert ShardRegistryInvalidEndpoint();
        (bool active, uint32[] memory weights) = _models.shardPlan(modelVersionId);
        if (!active || shardIndex >= weights.length) revert ShardRegistryNoSuchShard(modelVersionId, shardIndex);
        if (!_workers.isEligible(msg.sender, _CAP_INFER)) revert ShardRegistryHostNotEligible(msg.sender);
        uint256 key = _key(modelVersionId, shardIndex);
        HostRecord storage record = _records[key][msg.sender];
        // A withdrawn host that comes back keeps the obligation it still holds; a new one binds its stake.
        if (record.status == HostStatus.None) _workers.lockStake(msg.sender);
        record.status = HostStatus.Announced;
        record.releasableAt = 0;
        record.endpoint = endpoint;
        _announced[key].add(msg.sender);
        emit HostAnnounced(modelVersionId, shardIndex, msg.sender, endpoint);
    }

    /// @inheritdoc IShardRegistry
    function withdraw(uint64 modelVersionId, uint16 shardIndex) external {
        uint256 key = _key(modelVersionId, shardIndex);
        HostRecord storage record = _records[key][msg.sender];
        if (record.status != HostStatus.Announced) revert ShardRegistryNotAnnounced(msg.sender, modelVersionId, shardIndex);
        uint32 releasableAt = uint32(block.timestamp) + _releaseDelay;
        record.status = HostStatus.Withdrawn;
        record.releasableAt = releasableAt;
        _announced[key].remove(msg.sender);
        emit HostWithdrawn(modelVersionId, shardIndex, msg.sender, releasableAt);
    }

    /// @inheritdoc IShardRegistry
    function release(address host, uint64 modelVersionId, uint16 shardIndex) external {
        uint256 key = _key(modelVersionId, shardIndex);
        HostRecord storage record = _records[key][host];
        uint32 releasableAt = record.releasableAt;
        if (record.status != HostStatus.Withdrawn || block.timestamp <= releasableAt) {
            revert ShardRegistryNotReleasable(host, modelVersionId, shardIndex, releasableAt);
        }
        delete _records[key][host];
        _workers.releaseStake(host);
        emit HostReleased(modelVersionId, shardIndex, host);
    }

    /// @inheritdoc IShardRegistry
    function hostsOf(uint64 modelVersionId, uint16 shardIndex)
        external
        view
        returns (address[] memory hosts, string[] memory endpoints)
    {
        uint256 key = _key(modelVersionId, shardIndex);
        address[] memory announced = _announced[key].values();
        hosts = new address[](announced.length);
        endpoints = new string[](announced.length);
        uint256 n;
        for (uint256 i; i < announced.length; ++i) {
            // A host slashed below the minimum stake, unstaking or without CAP_INFER is not routed to.
            if (!_workers.isEligible(announced[i], _CAP_INFER)) continue;
            hosts[n] = announced[i];
            endpoints[n] = _records[key][announced[i]].endpoint;
            ++n;
        }
        assembly ("memory-safe") {
            mstore(hosts, n)
            mstore(endpoints, n)
        }
    }

    /// @inheritdoc IShardRegistry
    function hostCount(uint64 modelVersionId, uint16 shardIndex) external view returns (uint256) {
        return _announced[_key(modelVersionId, shardIndex)].length();
    }

    /// @inheritdoc IShardRegistry
    function hostRecord(address host, uint64 modelVersionId, uint16 shardIndex)
        external
        view
        returns (HostRecord memory)
    {
        return _records[_key(modelVersionId, shardIndex)][host];
    }

    /// @inheritdoc IShardRegistry
    function releaseDelay() external view returns (uint32) {
        return _releaseDelay;
    }

    /// @inheritdoc IShardRegistry
    function stageDigest(
        uint256 requestId,
        uint64 modelVersionId,
        uint16 shardIndex,
        bytes32 inputHash,
        bytes32 outputHash
    ) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(STAGE_TYPEHASH, requestId, modelVersionId, shardIndex, inputHash, outputHash))
        );
    }

    /// @inheritdoc IShardRegistry
    /// @dev Not tied to the version being active: a request opened before a deprecation still settles.
    function verifyPipeline(
        uint256 requestId,
        uint64 modelVersionId,
        bytes32 inputHash,
        bytes32 outputHash,
        ShardStage[] calldata stages
    ) external view returns (address[] memory hosts, uint32[] memory costWeights) {
        (, costWeights) = _models.shardPlan(modelVersionId);
        uint256 n = stages.length;
        if (costWeights.length < 2 || n != costWeights.length) {
            revert ShardPipelineLength(modelVersionId, n, costWeights.length);
        }
        hosts = new address[](n);
        bytes32 expectedInput = inputHash;
        for (uint256 i; i < n; ++i) {
            ShardStage calldata stage = stages[i];
            if (stage.inputHash != expectedInput) revert ShardPipelineBrokenLink(i);
            hosts[i] = _stageHost(requestId, modelVersionId, i, stage);
            expectedInput = stage.outputHash;
        }
        if (expectedInput != outputHash) revert ShardPipelineWrongAnswer(expectedInput, outputHash);
    }

    /// @dev The host that signed stage `i`, which must answer for shard `i` now.
    function _stageHost(uint256 requestId, uint64 modelVersionId, uint256 i, ShardStage calldata stage)
        private
        view
        returns (address signer)
    {
        bytes32 digest = stageDigest(requestId, modelVersionId, uint16(i), stage.inputHash, stage.outputHash);
        ECDSA.RecoverError err;
        (signer, err,) = ECDSA.tryRecover(digest, stage.signature);
        if (err != ECDSA.RecoverError.NoError || signer != stage.host) revert ShardPipelineBadSignature(i);
        if (!_answersFor(_records[_key(modelVersionId, uint16(i))][signer])) revert ShardPipelineNotHost(i, signer);
    }

    /// @dev Whether a host's signature on its shard counts now: announced, or withdrawn less than `releaseDelay` ago.
    function _answersFor(HostRecord storage record) private view returns (bool) {
        HostStatus status = record.status;
        return status == HostStatus.Announced
            || (status == HostStatus.Withdrawn && block.timestamp <= record.releasableAt);
    }

    function _key(uint64 modelVersionId, uint16 shardIndex) private pure returns (uint256) {
        return (uint256(modelVersionId) << 16) | shardIndex;
    }
}
