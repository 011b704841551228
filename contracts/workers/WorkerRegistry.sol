// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IWorkerRegistry} from "../interfaces/IWorkerRegistry.sol";

/// @title WorkerRegistry
/// @notice Staking, capabilities, served models and slashing of Tessera workers.
contract WorkerRegistry is IWorkerRegistry, AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using Checkpoints for Checkpoints.Trace208;

    /// @notice Capability bit: federated training.
    uint8 public constant CAP_TRAIN = 1;
    /// @notice Capability bit: paid inference.
    uint8 public constant CAP_INFER = 2;
    /// @notice Capability bit: validation.
    uint8 public constant CAP_VALIDATE = 4;
    uint8 private constant _ALL_CAPS = CAP_TRAIN | CAP_INFER | CAP_VALIDATE;
    /// @notice Role of protocol contracts that prove faults (the InferenceMarket).
    bytes32 public constant SLASHER_ROLE = keccak256("SLASHER_ROLE");
    /// @notice Role of protocol contracts that bind a worker's stake to obligations (TrainingJobs).
    bytes32 public constant STAKE_LOCKER_ROLE = keccak256("STAKE_LOCKER_ROLE");
    /// @inheritdoc IWorkerRegistry
    uint32 public constant MIN_UNBONDING_DELAY = 2 days;

    /// @dev One slot: everything `isEligibleInferrer` needs about the worker, including up to four served
    /// versions inline (version ids are < 2^24; 0 = empty), so that eligibility is one storage read. Versions
    /// beyond four live in `_moreServed`, keyed by the worker's registration epoch (`_epochs`, a full word, so it
    /// never wraps) so that a worker that leaves and registers again starts with an empty set. A worker is registered iff `capabilities != 0` (a profile always has one).
    /// `stakeOk` caches `stake >= minStake`: it is recomputed whenever the stake changes, and by
    /// `refreshEligibility` after the admin changes `minStake`.
    struct WorkerCore {
        uint96 stake;
        uint32 unstakeRequestedAt;
        uint8 capabilities;
        bool stakeOk;
        bool servesMore;
        uint24 served0;
        uint24 served1;
        uint24 served2;
        uint24 served3;
    }

    struct WorkerProfile {
        bytes encryptionPublicKey;
        string endpoint;
    }

    IERC20 private immutable _token;
    uint96 private _minStake;
    uint32 private _unbondingDelay;
    mapping(address worker => WorkerCore) private _cores;
    mapping(address worker => WorkerProfile) private _profiles;
    mapping(address worker => mapping(uint256 epoch => mapping(uint64 versionId => bool))) private _moreServed;
    mapping(address worker => uint256) private _epochs;
    mapping(address worker => uint256) private _obligations;
    mapping(address worker => mapping(address locker => uint256)) private _obligationsBy;
    mapping(address worker => Checkpoints.Trace208) private _validatorStake;
    Checkpoints.Trace208 private _totalValidatorStake;

    /// @param admin Receives DEFAULT_ADMIN_ROLE (parameters, slasher grants).
    /// @param token_ The staking token.
    /// @param minStake_ Minimum stake.
    /// @param unbondingDelay_ Unbonding delay (>= MIN_UNBONDING_DELAY).
    constructor(address admin, IERC20 token_, uint96 minStake_, uint32 unbondingDelay_) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _token = token_;
        _setMinStake(minStake_);
        _setUnbondingDelay(unbondingDelay_);
    }

    modifier onlyActiveWorker() {
        _checkActiveWorker(msg.sender);
        _;
    }

    /// @inheritdoc IWorkerRegistry
    function register(uint96 stake, uint8 capabilities, bytes calldata encryptionPublicKey, string calldata endpoint)
        external
        nonReentrant
    {
        if (_cores[msg.sender].capabilities != 0) revert WorkerRegistryAlreadyRegistered(msg.sender);
        if (stake < _minStake) revert WorkerRegistryStakeBelowMinimum(stake, _minStake);
        _checkProfile(capabilities, encryptionPublicKey);
        WorkerCore storage core = _cores[msg.sender];
        core.stake = stake;
        core.capabilities = capabilities;
        core.stakeOk = true;
        _profiles[msg.sender] = WorkerProfile({encryptionPublicKey: encryptionPublicKey, endpoint: endpoint});
        emit WorkerRegistered(msg.sender, stake, capabilities, encryptionPublicKey, endpoint);
        _checkpointValidatorStake(msg.sender);
        _token.safeTransferFrom(msg.sender, address(this), stake);
    }

    /// @inheritdoc IWorkerRegistry
    function updateProfile(uint8 capabilities, bytes calldata encryptionPublicKey, string calldata endpoint)
        external
        onlyActiveWorker
    {
        _checkProfile(capabilities, encryptionPublicKey);
        _cores[msg.sender].capabilities = capabilities;
        _profiles[msg.sender] = WorkerProfile({encryptionPublicKey: encryptionPublicKey, endpoint: endpoint});
        emit WorkerProfileUpdated(msg.sender, capabilities, encryptionPublicKey, endpoint);
        _checkpointValidatorStake(msg.sender);
    }

    /// @inheritdoc IWorkerRegistry
    function addStake(uint96 amount) external onlyActiveWorker nonReentrant {
        if (amount == 0) revert WorkerRegistryZeroAmount();
        uint96 stake = _cores[msg.sender].stake + amount;
        _cores[msg.sender].stake = stake;
        _cores[msg.sender].stakeOk = stake >= _minStake;
        emit StakeAdded(msg.sender, amount, stake);
        _checkpointValidatorStake(msg.sender);
        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IWorkerRegistry
    function setServedModels(uint64[] calldata versionIds, bool serving) external onlyActiveWorker {
        WorkerCore memory core = _cores[msg.sender];
        mapping(uint64 => bool) storage more = _moreServed[msg.sender][_epochs[msg.sender]];
        for (uint256 i; i < versionIds.length; ++i) {
            uint64 v = versionIds[i];
            if (serving) {
                if (_servesInline(core, v) || more[v] || _placeInline(core, v)) continue;
                more[v] = true;
                core.servesMore = true;
            } else {
                _removeInline(core, v);
                delete more[v];
            }
        }
        _cores[msg.sender] = core;
        emit ServedModelsUpdated(msg.sender, versionIds, serving);
    }

    /// @inheritdoc IWorkerRegistry
    function requestUnstake() external onlyActiveWorker {
        _cores[msg.sender].unstakeRequestedAt = uint32(block.timestamp);
        emit UnstakeRequested(msg.sender, block.timestamp + _unbondingDelay);
        _checkpointValidatorStake(msg.sender);
    }

    /// @inheritdoc IWorkerRegistry
    function withdrawStake() external nonReentrant {
        WorkerCore memory core = _cores[msg.sender];
        if (core.capabilities == 0) revert WorkerRegistryNotRegistered(msg.sender);
        if (core.unstakeRequestedAt == 0) revert WorkerRegistryUnstakeNotRequested(msg.sender);
        uint256 unlocksAt = uint256(core.unstakeRequestedAt) + _unbondingDelay;
        if (block.timestamp < unlocksAt) revert WorkerRegistryStakeLocked(msg.sender, unlocksAt);
        uint256 obligations = _obligations[msg.sender];
        if (obligations != 0) revert WorkerRegistryStakeBonded(msg.sender, obligations);
        if (core.servesMore) ++_epochs[msg.sender];
        _cores[msg.sender] = WorkerCore({
            stake: 0,
            unstakeRequestedAt: 0,
            capabilities: 0,
            stakeOk: false,
            servesMore: false,
            served0: 0,
            served1: 0,
            served2: 0,
            served3: 0
        });
        delete _profiles[msg.sender];
        emit StakeWithdrawn(msg.sender, core.stake);
        if (core.stake != 0) _token.safeTransfer(msg.sender, core.stake);
    }

    /// @inheritdoc IWorkerRegistry
    function slash(address worker, uint256 amount, address recipient)
        external
        onlyRole(SLASHER_ROLE)
        nonReentrant
        returns (uint256 slashed)
    {
        uint96 stake = _cores[worker].stake;
        uint96 taken = amount < stake ? uint96(amount) : stake;
        if (taken != 0) {
            WorkerCore storage core = _cores[worker];
            core.stake = stake - taken;
            core.stakeOk = stake - taken >= _minStake;
        }
        emit WorkerSlashed(worker, recipient, amount, taken);
        if (taken != 0) _checkpointValidatorStake(worker);
        if (taken != 0) _token.safeTransfer(recipient, taken);
        return taken;
    }

    /// @inheritdoc IWorkerRegistry
    function lockStake(address worker) external onlyRole(STAKE_LOCKER_ROLE) {
        uint256 obligations = ++_obligations[worker];
        ++_obligationsBy[worker][msg.sender];
        emit StakeLocked(worker, msg.sender, obligations);
    }

    /// @inheritdoc IWorkerRegistry
    function releaseStake(address worker) external onlyRole(STAKE_LOCKER_ROLE) {
        uint256 held = _obligationsBy[worker][msg.sender];
        if (held == 0) revert WorkerRegistryNoObligation(worker, msg.sender);
        _obligationsBy[worker][msg.sender] = held - 1;
        uint256 obligations = --_obligations[worker];
        emit StakeReleased(worker, msg.sender, obligations);
    }

    /// @inheritdoc IWorkerRegistry
    function obligationsOf(address worker) external view returns (uint256) {
        return _obligations[worker];
    }

    /// @inheritdoc IWorkerRegistry
    function setMinStake(uint96 minStake_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setMinStake(minStake_);
    }

    /// @inheritdoc IWorkerRegistry
    function refreshEligibility(address[] calldata workers) external {
        uint96 min = _minStake;
        for (uint256 i; i < workers.length; ++i) {
            WorkerCore storage core = _cores[workers[i]];
            if (core.capabilities == 0) continue;
            bool stakeOk = core.stake >= min;
            if (core.stakeOk == stakeOk) continue;
            core.stakeOk = stakeOk;
            emit StakeEligibilityRefreshed(workers[i], stakeOk);
            _checkpointValidatorStake(workers[i]);
        }
    }

    /// @inheritdoc IWorkerRegistry
    function setUnbondingDelay(uint32 unbondingDelay_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setUnbondingDelay(unbondingDelay_);
    }

    /// @inheritdoc IWorkerRegistry
    function workerOf(address worker) external view returns (WorkerInfo memory) {
        WorkerCore memory core = _cores[worker];
        WorkerProfile storage profile = _profiles[worker];
        return WorkerInfo({
            stake: core.stake,
            capabilities: core.capabilities,
            unstakeRequestedAt: core.unstakeRequestedAt,
            registered: core.capabilities != 0,
            encryptionPublicKey: profile.encryptionPublicKey,
            endpoint: profile.endpoint
        });
    }

    /// @inheritdoc IWorkerRegistry
    function serves(address worker, uint64 versionId) external view returns (bool) {
        return _serves(worker, _cores[worker], versionId);
    }

    /// @inheritdoc IWorkerRegistry
    /// @dev Two SLOADs (the worker slot and `_minStake`) for a worker serving at most four versions; a third
    /// only for versions kept in the overflow mapping.
    function isEligibleInferrer(address worker, uint64 versionId) external view returns (bool) {
        WorkerCore memory core = _cores[worker];
        if (!core.stakeOk || core.unstakeRequestedAt != 0 || core.capabilities & CAP_INFER == 0) return false;
        return _serves(worker, core, versionId);
    }

    /// @inheritdoc IWorkerRegistry
    function eligibleInferrerStake(address worker, uint64 versionId) external view returns (uint96) {
        WorkerCore memory core = _cores[worker];
        if (!core.stakeOk || core.unstakeRequestedAt != 0 || core.capabilities & CAP_INFER == 0) return 0;
        return _serves(worker, core, versionId) ? core.stake : 0;
    }

    /// @inheritdoc IWorkerRegistry
    function isEligible(address worker, uint8 capabilities) external view returns (bool) {
        WorkerCore memory core = _cores[worker];
        return core.stakeOk && core.unstakeRequestedAt == 0 && core.capabilities & capabilities == capabilities;
    }

    /// @inheritdoc IWorkerRegistry
    function minStake() external view returns (uint96) {
        return _minStake;
    }

    /// @inheritdoc IWorkerRegistry
    function unbondingDelay() external view returns (uint32) {
        return _unbondingDelay;
    }

    /// @inheritdoc IWorkerRegistry
    function stakingToken() external view returns (address) {
        return address(_token);
    }

    // ---------------------------------------------------------------- validator stake history
    // Stake that counts for validator committees (DataRegistry sortition), checkpointed per block like ERC20Votes:
    // a worker's whole stake while it is registered with CAP_VALIDATE, meets the minimum stake and is not
    // unstaking; zero otherwise. Updated after every change of stake, capabilities, unstaking or eligibility.
    // (`withdrawStake` needs no checkpoint: `requestUnstake` already zeroed the worker's validator stake.)

    /// @inheritdoc IWorkerRegistry
    function validatorStakeAt(address worker, uint48 blockNumber) external view returns (uint256) {
        _checkPastBlock(blockNumber);
        return _validatorStake[worker].upperLookupRecent(blockNumber);
    }

    /// @inheritdoc IWorkerRegistry
    function totalValidatorStakeAt(uint48 blockNumber) external view returns (uint256) {
        _checkPastBlock(blockNumber);
        return _totalValidatorStake.upperLookupRecent(blockNumber);
    }

    /// @inheritdoc IWorkerRegistry
    function validatorStake(address worker) external view returns (uint256) {
        return _validatorStake[worker].latest();
    }

    /// @inheritdoc IWorkerRegistry
    function totalValidatorStake() external view returns (uint256) {
        return _totalValidatorStake.latest();
    }

    function _checkpointValidatorStake(address worker) private {
        WorkerCore storage core = _cores[worker];
        uint256 counted =
            core.stakeOk && core.unstakeRequestedAt == 0 && core.capabilities & CAP_VALIDATE != 0 ? core.stake : 0;
        Checkpoints.Trace208 storage own = _validatorStake[worker];
        uint256 previous = own.latest();
        if (counted == previous) return;
        uint48 blockNumber = SafeCast.toUint48(block.number);
        own.push(blockNumber, uint208(counted));
        // Every term is a uint96 stake, so the total of all workers' stakes fits 208 bits.
        uint256 total = _totalValidatorStake.latest() - previous + counted;
        _totalValidatorStake.push(blockNumber, uint208(total));
        emit ValidatorStakeCheckpointed(worker, counted, total);
    }

    function _checkPastBlock(uint48 blockNumber) private view {
        if (blockNumber >= block.number) revert WorkerRegistryFutureLookup(blockNumber, block.number);
    }

    // ---------------------------------------------------------------- internals

    function _serves(address worker, WorkerCore memory core, uint64 v) private view returns (bool) {
        return _servesInline(core, v) || (core.servesMore && _moreServed[worker][_epochs[worker]][v]);
    }

    function _servesInline(WorkerCore memory core, uint64 v) private pure returns (bool) {
        return v != 0 && (core.served0 == v || core.served1 == v || core.served2 == v || core.served3 == v);
    }

    /// @return placed Whether `v` fit in a free inline entry.
    function _placeInline(WorkerCore memory core, uint64 v) private pure returns (bool placed) {
        if (v == 0 || v > type(uint24).max) return false;
        uint24 id = uint24(v);
        if (core.served0 == 0) core.served0 = id;
        else if (core.served1 == 0) core.served1 = id;
        else if (core.served2 == 0) core.served2 = id;
        else if (core.served3 == 0) core.served3 = id;
        else return false;
        return true;
    }

    function _removeInline(WorkerCore memory core, uint64 v) private pure {
        if (core.served0 == v) core.served0 = 0;
        else if (core.served1 == v) core.served1 = 0;
        else if (core.served2 == v) core.served2 = 0;
        else if (core.served3 == v) core.served3 = 0;
    }

    function _checkActiveWorker(address worker) private view {
        WorkerCore memory core = _cores[worker];
        if (core.capabilities == 0) revert WorkerRegistryNotRegistered(worker);
        if (core.unstakeRequestedAt != 0) revert WorkerRegistryUnstaking(worker, core.unstakeRequestedAt);
    }

    function _checkProfile(uint8 capabilities, bytes calldata key) private pure {
        if (capabilities == 0 || capabilities & ~_ALL_CAPS != 0) revert WorkerRegistryInvalidCapabilities(capabilities);
        if (key.length != 33 || (key[0] != 0x02 && key[0] != 0x03)) revert WorkerRegistryInvalidEncryptionKey();
    }

    function _setMinStake(uint96 minStake_) private {
        _minStake = minStake_;
        emit MinStakeUpdated(minStake_);
    }

    function _setUnbondingDelay(uint32 delay) private {
        if (delay < MIN_UNBONDING_DELAY) revert WorkerRegistryUnbondingDelayTooShort(delay, MIN_UNBONDING_DELAY);
        _unbondingDelay = delay;
        emit UnbondingDelayUpdated(delay);
    }
}
