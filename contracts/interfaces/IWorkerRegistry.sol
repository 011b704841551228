// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IWorkerRegistry
/// @notice Workers stake TesseraToken, declare capabilities and served model versions, and can be
/// slashed by protocol contracts (SLASHER_ROLE) that prove a fault. Stake leaves only after an
/// unbonding delay that is never shorter than `MIN_UNBONDING_DELAY`, so that every obligation a
/// worker took before unstaking can still be enforced.
interface IWorkerRegistry {
    /// @notice A worker's full record, as returned by `workerOf`.
    struct WorkerInfo {
        uint96 stake;
        uint8 capabilities;
        uint32 unstakeRequestedAt;
        bool registered;
        bytes encryptionPublicKey;
        string endpoint;
    }

    /// @notice Thrown when an already registered worker registers again.
    error WorkerRegistryAlreadyRegistered(address worker);
    /// @notice Thrown when a call needs a registered worker.
    error WorkerRegistryNotRegistered(address worker);
    /// @notice Thrown when a registration stake is below the minimum.
    error WorkerRegistryStakeBelowMinimum(uint256 stake, uint256 minStake);
    /// @notice Thrown for a zero stake top-up.
    error WorkerRegistryZeroAmount();
    /// @notice Thrown when capabilities are zero or have unknown bits.
    error WorkerRegistryInvalidCapabilities(uint8 capabilities);
    /// @notice Thrown when the encryption key is not a 33-byte compressed secp256k1 point.
    error WorkerRegistryInvalidEncryptionKey();
    /// @notice Thrown when a worker that asked to unstake tries to act as an active worker.
    error WorkerRegistryUnstaking(address worker, uint32 unstakeRequestedAt);
    /// @notice Thrown by `withdrawStake` for a worker that has not asked to unstake.
    error WorkerRegistryUnstakeNotRequested(address worker);
    /// @notice Thrown by `withdrawStake` before the unbonding delay has passed.
    error WorkerRegistryStakeLocked(address worker, uint256 unlocksAt);
    /// @notice Thrown when the admin sets an unbonding delay below the floor.
    error WorkerRegistryUnbondingDelayTooShort(uint32 delay, uint32 floor);
    /// @notice Thrown by `withdrawStake` while protocol contracts still hold obligations of the worker.
    error WorkerRegistryStakeBonded(address worker, uint256 obligations);
    /// @notice Thrown when a stake locker releases an obligation it does not hold.
    error WorkerRegistryNoObligation(address worker, address locker);
    /// @notice Thrown when validator stake is looked up at the current or a future block (not final yet).
    error WorkerRegistryFutureLookup(uint48 blockNumber, uint256 currentBlock);

    /// @notice Emitted when a worker registers.
    /// @param worker The worker's address.
    /// @param stake Tokens staked.
    /// @param capabilities Capability bits (CAP_TRAIN | CAP_INFER | CAP_VALIDATE).
    /// @param encryptionPublicKey 33-byte compressed secp256k1 key for ECIES.
    /// @param endpoint Optional network endpoint.
    event WorkerRegistered(
        address indexed worker, uint96 stake, uint8 capabilities, bytes encryptionPublicKey, string endpoint
    );
    /// @notice Emitted when a worker changes its profile.
    /// @param worker The worker's address.
    /// @param capabilities New capability bits.
    /// @param encryptionPublicKey New encryption key.
    /// @param endpoint New endpoint.
    event WorkerProfileUpdated(address indexed worker, uint8 capabilities, bytes encryptionPublicKey, string endpoint);
    /// @notice Emitted when a worker tops up its stake.
    /// @param worker The worker's address.
    /// @param amount Tokens added.
    /// @param stake The new stake.
    event StakeAdded(address indexed worker, uint96 amount, uint96 stake);
    /// @notice Emitted when a worker starts or stops serving model versions.
    /// @param worker The worker's address.
    /// @param versionIds The ModelRegistry version ids.
    /// @param serving Whether the worker now serves them.
    event ServedModelsUpdated(address indexed worker, uint64[] versionIds, bool serving);
    /// @notice Emitted when a worker asks to unstake (it stops being eligible at once).
    /// @param worker The worker's address.
    /// @param unlocksAt When `withdrawStake` becomes possible.
    event UnstakeRequested(address indexed worker, uint256 unlocksAt);
    /// @notice Emitted when a worker withdraws its stake and leaves the registry.
    /// @param worker The worker's address.
    /// @param amount Tokens returned.
    event StakeWithdrawn(address indexed worker, uint96 amount);
    /// @notice Emitted when a worker is slashed.
    /// @param worker The slashed worker.
    /// @param recipient Receiver of the slashed tokens.
    /// @param requested Amount the slasher asked for.
    /// @param slashed Amount actually taken (at most the stake).
    event WorkerSlashed(address indexed worker, address indexed recipient, uint256 requested, uint96 slashed);
    /// @notice Emitted when the admin changes the minimum stake.
    /// @param minStake The new minimum.
    event MinStakeUpdated(uint96 minStake);
    /// @notice Emitted when `refreshEligibility` changes a worker's cached `stake >= minStake` bit.
    /// @param worker The worker.
    /// @param stakeOk Whether its stake now meets the minimum.
    event StakeEligibilityRefreshed(address indexed worker, bool stakeOk);
    /// @notice Emitted when a protocol contract binds a worker's stake to an obligation (a training job, ...).
    /// @param worker The worker.
    /// @param locker The protocol contract (STAKE_LOCKER_ROLE).
    /// @param obligations The worker's open obligations across all lockers after the change.
    event StakeLocked(address indexed worker, address indexed locker, uint256 obligations);
    /// @notice Emitted when a protocol contract releases one obligation of a worker.
    /// @param worker The worker.
    /// @param locker The protocol contract (STAKE_LOCKER_ROLE).
    /// @param obligations The worker's open obligations across all lockers after the change.
    event StakeReleased(address indexed worker, address indexed locker, uint256 obligations);
    /// @notice Emitted when a worker's validator stake (the stake that counts for validator committees) changes.
    /// @param worker The worker.
    /// @param stake Its validator stake now: its stake while registered with CAP_VALIDATE, at or above the minimum
    /// stake and not unstaking; zero otherwise.
    /// @param totalStake The total validator stake of all workers now.
    event ValidatorStakeCheckpointed(address indexed worker, uint256 stake, uint256 totalStake);
    /// @notice Emitted when the admin changes the unbonding delay.
    /// @param unbondingDelay The new delay in seconds.
    event UnbondingDelayUpdated(uint32 unbondingDelay);

    /// @notice Registers the caller, pulling `stake` tokens (approve first).
    function register(uint96 stake, uint8 capabilities, bytes calldata encryptionPublicKey, string calldata endpoint)
        external;
    /// @notice Replaces the caller's capabilities, encryption key and endpoint.
    function updateProfile(uint8 capabilities, bytes calldata encryptionPublicKey, string calldata endpoint) external;
    /// @notice Adds `amount` tokens to the caller's stake.
    function addStake(uint96 amount) external;
    /// @notice Marks model versions as served (or not) by the caller.
    function setServedModels(uint64[] calldata versionIds, bool serving) external;
    /// @notice Starts the unbonding delay; the caller is no longer eligible for new work.
    function requestUnstake() external;
    /// @notice Returns the whole stake after the unbonding delay and removes the worker.
    function withdrawStake() external;
    /// @notice Slashes up to `amount` from `worker`, sending it to `recipient`. SLASHER_ROLE only.
    /// @return slashed The amount taken: min(amount, stake). Never reverts for an under-staked worker.
    function slash(address worker, uint256 amount, address recipient) external returns (uint256 slashed);
    /// @notice Binds the worker's stake to one more obligation of the caller (STAKE_LOCKER_ROLE): `withdrawStake`
    /// reverts while any locker holds an obligation, so that a fault during a long job can still be slashed.
    function lockStake(address worker) external;
    /// @notice Releases one obligation the caller holds on the worker (STAKE_LOCKER_ROLE).
    function releaseStake(address worker) external;
    /// @notice Open obligations of `worker` across all lockers.
    function obligationsOf(address worker) external view returns (uint256);
    /// @notice Sets the minimum stake for registration and eligibility.
    /// @dev Eligibility reads one cached bit per worker (`stake >= minStake`, recomputed on every stake change), so a
    /// new minimum applies to registered workers once `refreshEligibility` is called for them.
    function setMinStake(uint96 minStake) external;
    /// @notice Recomputes each registered worker's cached `stake >= minStake` bit (anyone may call; unregistered
    /// addresses are skipped). Call it for the affected workers after `setMinStake`.
    function refreshEligibility(address[] calldata workers) external;
    /// @notice Sets the unbonding delay (>= MIN_UNBONDING_DELAY).
    function setUnbondingDelay(uint32 unbondingDelay) external;

    /// @notice Floor of the unbonding delay; the InferenceMarket's obligation windows must fit below it.
    function MIN_UNBONDING_DELAY() external view returns (uint32);
    /// @notice The worker's full record.
    function workerOf(address worker) external view returns (WorkerInfo memory);
    /// @notice Whether `worker` serves `versionId`.
    function serves(address worker, uint64 versionId) external view returns (bool);
    /// @notice registered && stake >= minStake (as of its last stake change or `refreshEligibility`) && not
    /// unstaking && CAP_INFER && serves(versionId). Reads one storage slot unless the worker serves more than four
    /// versions.
    function isEligibleInferrer(address worker, uint64 versionId) external view returns (bool);
    /// @notice The worker's stake if `isEligibleInferrer(worker, versionId)`, else 0 (same single slot read): what
    /// the InferenceMarket bounds a worker's open claims by.
    function eligibleInferrerStake(address worker, uint64 versionId) external view returns (uint96);
    /// @notice registered && stake >= minStake (as of its last stake change or `refreshEligibility`) && not
    /// unstaking && has every bit of `capabilities` (e.g. CAP_VALIDATE). Reads one storage slot.
    function isEligible(address worker, uint8 capabilities) external view returns (bool);
    /// @notice The worker's validator stake at the end of block `blockNumber` (< the current block): its stake while
    /// registered with CAP_VALIDATE, at or above the minimum stake and not unstaking, else zero. Checkpointed per block
    /// (OpenZeppelin Checkpoints), so committees drawn from a past block cannot be changed by later stake moves.
    function validatorStakeAt(address worker, uint48 blockNumber) external view returns (uint256);
    /// @notice The total validator stake at the end of block `blockNumber` (< the current block).
    function totalValidatorStakeAt(uint48 blockNumber) external view returns (uint256);
    /// @notice The worker's validator stake now.
    function validatorStake(address worker) external view returns (uint256);
    /// @notice The total validator stake now.
    function totalValidatorStake() external view returns (uint256);
    /// @notice Minimum stake.
    function minStake() external view returns (uint96);
    /// @notice Unbonding delay in seconds.
    function unbondingDelay() external view returns (uint32);
    /// @notice The staking token.
    function stakingToken() external view returns (address);
}
