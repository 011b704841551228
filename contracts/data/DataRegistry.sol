// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {PermitPull} from "../libraries/PermitPull.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IDataRegistry} from "../interfaces/IDataRegistry.sol";
import {IWorkerRegistry} from "../interfaces/IWorkerRegistry.sol";
import {
    ContributionArgs,
    Dataset,
    DatasetValidation,
    DataParams,
    Ballot,
    DatasetStatus,
    CreditReason
} from "../types/DataTypes.sol";
import {PermitArgs} from "../types/InferenceTypes.sol";

/// @title DataRegistry
/// @notice Bonded dataset contributions decided by a committee of validators drawn per dataset by stake-weighted
/// sortition, a stake-weighted (per seat) vote over a voting window, acceptance rewards partly deferred to the
/// dataset's first real use, dissent slashing into the reward pool, and royalties from training jobs pro rata to
/// samples used. All payouts are credits.
/// @dev Committee: stakes are read from the WorkerRegistry's validator-stake checkpoints at the end of the
/// contribution block (stake added later does not count); the seed is the hash of that block (readable from the
/// next block on, so every validator can learn whether it is drawn before working), recorded by the first vote or
/// `drawCommittee`. A validator of stake s out of total T is drawn iff
/// `uint256(keccak256(abi.encode(seed, datasetId, validator))) % T < s * committeeSize` (Algorand-style sortition:
/// splitting stake over identities does not raise expected seats) and then holds `max(1, s * committeeSize / T)`
/// seats. The decision is by seats at the end of the voting window, or as soon as every validator that held stake
/// at the snapshot (but the contributor) voted. Token accounting: balanceOf(this) == bondsHeld + rewardPool +
/// Σ credits (tokens sent here by plain transfers are not accounted). Rejected bonds and dissent slashes join the
/// reward pool: no voter is ever paid from the stake or bond of the party it voted against. Ballots are packed
/// `validator | accept << 160 | reasonCode << 168 | seats << 176`, at most MAX_BALLOTS per dataset, so every loop
/// over them is bounded.
contract DataRegistry is IDataRegistry, AccessControl, Pausable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Role that tunes `DataParams`.
    bytes32 public constant PARAMS_ROLE = keccak256("PARAMS_ROLE");
    /// @notice Role that pauses new contributions.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice Role of the contracts that pay dataset royalties (the TrainingJobs contract).
    bytes32 public constant ROYALTY_PAYER_ROLE = keccak256("ROYALTY_PAYER_ROLE");
    /// @notice WorkerRegistry capability bit a voter needs.
    uint8 public constant CAP_VALIDATE = 4;
    /// @notice Reason code: accepted (the only code an accept vote may carry).
    uint8 public constant REASON_OK = 0;
    /// @notice Reason code: the samples do not match the declared schema.
    uint8 public constant REASON_SCHEMA = 1;
    /// @notice Reason code: the sample count differs from the declared one.
    uint8 public constant REASON_SAMPLE_COUNT = 2;
    /// @notice Reason code: duplicate samples (within the dataset or against known data).
    uint8 public constant REASON_DUPLICATE_SAMPLES = 3;
    /// @notice Reason code: too many wrong labels.
    uint8 public constant REASON_LABEL_NOISE = 4;
    /// @notice Reason code: the key envelope or the ciphertext could not be decrypted or failed its integrity check.
    uint8 public constant REASON_DECRYPTION = 5;
    /// @notice Reason code: the plaintext does not hash to the commitment, or the key was sealed by someone other
    /// than the contributor (a copied contribution).
    uint8 public constant REASON_COMMITMENT_MISMATCH = 6;
    /// @notice Decision reason of a dataset finalized without a decision (never a vote's reason).
    uint8 public constant REASON_UNDECIDED = 255;
    /// @notice Upper bound of `committeeSize`.
    uint8 public constant MAX_COMMITTEE_SIZE = 16;
    /// @notice Most ballots a dataset takes: far above any likely committee (P(more than 40 drawn | 16 expected
    /// seats) is about 1.3e-7), so that every loop over ballots stays bounded.
    uint8 public constant MAX_BALLOTS = 40;
    /// @notice One committee seat, in the units of `Ballot.seats`, `acceptSeats` and `rejectSeats`.
    uint32 public constant SEAT = 1_000;
    /// @notice Longest accepted CID.
    uint256 public constant MAX_CID_BYTES = 64;
    uint16 private constant _BPS = 10_000;

    IERC20 private immutable _token;
    IWorkerRegistry private immutable _workers;

    // Declared first so that they share a slot with Pausable's `_paused`: contribute reads one parameter slot.
    uint96 private _bond;
    uint32 private _votingPeriod;
    uint8 private _quorum;
    uint8 private _committeeSize;
    uint16 private _upfrontRewardBps;
    uint96 private _acceptReward;
    uint96 private _validatorReward;
    uint96 private _dissentSlash;
    // The ledger, one slot.
    uint96 private _rewardPool;
    uint96 private _bondsHeld;
    uint64 private _datasetCount;

    mapping(uint64 datasetId => Dataset) private _datasets;
    mapping(uint64 datasetId => DatasetValidation) private _validations;
    mapping(uint64 datasetId => mapping(uint256 index => uint256 packed)) private _ballots;
    mapping(bytes32 contributionKey => uint64 datasetId) private _liveByKey;
    mapping(address account => uint256) private _credits;

    /// @param admin Receives DEFAULT_ADMIN_ROLE, PARAMS_ROLE and PAUSER_ROLE (and grants ROYALTY_PAYER_ROLE).
    /// @param token_ The TesseraToken (bonds, rewards, royalties; permit).
    /// @param workers_ The WorkerRegistry (validator stake history; this registry needs its SLASHER_ROLE).
    /// @param params_ Initial parameters.
    constructor(address admin, IERC20 token_, IWorkerRegistry workers_, DataParams memory params_) {
        if (admin == address(0) || address(token_) == address(0) || address(workers_) == address(0)) {
            revert DataRegistryZeroAddress();
        }
        _token = token_;
        _workers = workers_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PARAMS_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
        _setParams(params_);
    }

    // ---------------------------------------------------------------- contributions

    /// @inheritdoc IDataRegistry
    function contribute(ContributionArgs calldata args, PermitArgs calldata permit)
        external
        whenNotPaused
        nonReentrant
        returns (uint64 datasetId)
    {
        _checkCid(args.cid, false);
        _checkCid(args.keyEnvelopesCid, true);
        if (args.commitment == bytes32(0)) revert DataRegistryZeroCommitment();
        if (args.sampleCount == 0) revert DataRegistryZeroSamples();
        bytes32 key = _contributionKey(msg.sender, args.commitment);
        uint64 existing = _liveByKey[key];
        if (existing != 0) revert DataRegistryDuplicateCommitment(args.commitment, existing);

        uint96 bond = _bond;
        uint48 blockNumber = SafeCast.toUint48(block.number);
        datasetId = ++_datasetCount;
        _bondsHeld += bond;
        _liveByKey[key] = datasetId;
        _datasets[datasetId] = Dataset({
            contributor: msg.sender,
            status: DatasetStatus.Pending,
            reasonCode: REASON_OK,
            acceptVotes: 0,
            rejectVotes: 0,
            quorum: _quorum,
            committeeSize: _committeeSize,
            votingDeadline: 0,
            bond: bond,
            royalties: 0,
            sampleCount: args.sampleCount,
            timesUsed: 0,
            commitment: args.commitment,
            schemaId: args.schemaId
        });
        DatasetValidation storage validation = _validations[datasetId];
        validation.snapshotBlock = blockNumber;
        validation.seedBlock = blockNumber;
        _emitContributed(datasetId, args, bond, blockNumber);
        if (bond != 0) PermitPull.pullWithPermit(_token, bond, permit);
    }

    /// @inheritdoc IDataRegistry
    function publishKeyEnvelopes(uint64 datasetId, bytes calldata keyEnvelopesCid) external {
        _checkCid(keyEnvelopesCid, false);
        Dataset storage d = _dataset(datasetId);
        address contributor = d.contributor;
        if (msg.sender != contributor) revert DataRegistryNotContributor(datasetId, msg.sender, contributor);
        DatasetStatus status = d.status;
        if (status != DatasetStatus.Pending && status != DatasetStatus.Accepted) {
            revert DataRegistryDatasetClosed(datasetId, status);
        }
        emit KeyEnvelopesPublished(datasetId, msg.sender, keyEnvelopesCid);
    }

    // ---------------------------------------------------------------- validation

    /// @inheritdoc IDataRegistry
    function drawCommittee(uint64 datasetId) external {
        Dataset storage d = _dataset(datasetId);
        _checkPending(datasetId, d);
        DatasetValidation storage validation = _validations[datasetId];
        if (validation.seed != bytes32(0)) revert DataRegistryCommitteeAlreadyDrawn(datasetId);
        uint48 seedBlock = validation.seedBlock;
        if (block.number <= seedBlock) revert DataRegistrySeedNotReady(datasetId, seedBlock);
        if (blockhash(seedBlock) == bytes32(0)) {
            // Nobody drew within 256 blocks: anchor on this block, whose hash the caller cannot know yet.
            uint48 blockNumber = SafeCast.toUint48(block.number);
            validation.seedBlock = blockNumber;
            emit CommitteeSeedReanchored(datasetId, blockNumber);
            return;
        }
        _draw(datasetId, d, validation);
    }

    /// @inheritdoc IDataRegistry
    function vote(uint64 datasetId, bool accept, uint8 reasonCode) external nonReentrant {
        if (accept ? reasonCode != REASON_OK : reasonCode == REASON_OK || reasonCode > REASON_COMMITMENT_MISMATCH) {
            revert DataRegistryInvalidReason(accept, reasonCode);
        }
        Dataset storage d = _dataset(datasetId);
        (uint256 index, uint256 stake, uint32 seats) = _admitVoter(datasetId, d);
        _ballots[datasetId][index] = _packBallot(msg.sender, accept, reasonCode, seats);
        DatasetValidation storage validation = _validations[datasetId];
        if (accept) {
            ++d.acceptVotes;
            validation.acceptSeats += seats;
        } else {
            ++d.rejectVotes;
            validation.rejectSeats += seats;
        }
        // stake <= unvotedStake: both come from the same checkpoints, and each voter is counted once.
        uint128 unvoted = validation.unvotedStake - uint128(stake);
        validation.unvotedStake = unvoted;
        emit DatasetVoted(datasetId, msg.sender, accept, reasonCode, seats);
        if (unvoted == 0) _settle(datasetId, d);
    }

    /// @inheritdoc IDataRegistry
    function finalize(uint64 datasetId) external nonReentrant {
        Dataset storage d = _dataset(datasetId);
        _checkPending(datasetId, d);
        if (_validations[datasetId].seed == bytes32(0)) revert DataRegistryCommitteeNotDrawn(datasetId);
        uint32 votingDeadline = d.votingDeadline;
        if (block.timestamp <= votingDeadline) revert DataRegistryVotingOpen(datasetId, votingDeadline);
        _settle(datasetId, d);
    }

    // ---------------------------------------------------------------- contributor exit

    /// @inheritdoc IDataRegistry
    function withdrawDataset(uint64 datasetId) external {
        Dataset storage d = _dataset(datasetId);
        address contributor = d.contributor;
        if (msg.sender != contributor) revert DataRegistryNotContributor(datasetId, msg.sender, contributor);
        DatasetStatus status = d.status;
        if (status != DatasetStatus.Pending && status != DatasetStatus.Accepted) {
            revert DataRegistryDatasetClosed(datasetId, status);
        }
        if (d.timesUsed != 0) revert DataRegistryDatasetAlreadyUsed(datasetId, d.timesUsed);
        // Once its committee can be known, validators may already be working on it: the contributor must face the
        // decision. Before (its own block, or a seed that expired unused) nobody can have started.
        if (status == DatasetStatus.Pending && _committeeKnowable(datasetId)) {
            revert DataRegistryValidationStarted(datasetId, _validations[datasetId].seedBlock);
        }
        d.status = DatasetStatus.Withdrawn;
        // An accepted dataset was already rewarded: its key stays taken, so withdrawing and contributing the same
        // data again cannot farm the acceptance reward.
        if (status == DatasetStatus.Pending) delete _liveByKey[_contributionKey(contributor, d.commitment)];
        _validations[datasetId].deferredReward = 0;
        emit DatasetWithdrawn(datasetId, contributor, d.bond);
        _refundBond(datasetId, d);
    }

    // ---------------------------------------------------------------- money in

    /// @inheritdoc IDataRegistry
    function creditRoyalties(uint64[] calldata datasetIds, uint32[] calldata samplesUsed, uint256 amount)
        external
        onlyRole(ROYALTY_PAYER_ROLE)
        nonReentrant
    {
        uint256 n = datasetIds.length;
        if (n == 0 || n != samplesUsed.length) revert DataRegistryLengthMismatch(n, samplesUsed.length);
        if (amount == 0) revert DataRegistryZeroAmount();
        uint256 totalSamples;
        for (uint256 i; i < n; ++i) {
            Dataset storage d = _dataset(datasetIds[i]);
            if (d.status != DatasetStatus.Accepted) revert DataRegistryDatasetNotAccepted(datasetIds[i], d.status);
            uint32 used = samplesUsed[i];
            if (used == 0 || used > d.sampleCount) {
                revert DataRegistryInvalidSamplesUsed(datasetIds[i], used, d.sampleCount);
            }
            totalSamples += used;
        }
        uint256 remaining = amount;
        for (uint256 i; i < n; ++i) {
            uint64 datasetId = datasetIds[i];
            Dataset storage d = _datasets[datasetId];
            // Pro rata, rounded down; the last item takes what rounding left over.
            uint256 share = i == n - 1 ? remaining : amount * samplesUsed[i] / totalSamples;
            remaining -= share;
            d.royalties += SafeCast.toUint96(share);
            ++d.timesUsed;
            address contributor = d.contributor;
            _credits[contributor] += share;
            emit RoyaltiesCredited(datasetId, contributor, msg.sender, samplesUsed[i], share);
            DatasetValidation storage validation = _validations[datasetId];
            uint96 deferred = validation.deferredReward;
            if (deferred != 0) {
                validation.deferredReward = 0;
                uint96 pool = _rewardPool;
                uint96 paid = deferred < pool ? deferred : pool;
                _rewardPool = pool - paid;
                if (paid != 0) _credit(contributor, datasetId, CreditReason.DeferredAcceptReward, paid);
            }
        }
        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IDataRegistry
    function fundRewardPool(uint256 amount) external nonReentrant {
        if (amount == 0) revert DataRegistryZeroAmount();
        uint96 pool = SafeCast.toUint96(_rewardPool + amount);
        _rewardPool = pool;
        emit RewardPoolFunded(msg.sender, amount, pool);
        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    // ---------------------------------------------------------------- money out

    /// @inheritdoc IDataRegistry
    function withdraw() external nonReentrant {
        uint256 amount = _credits[msg.sender];
        if (amount == 0) revert DataRegistryNothingToWithdraw(msg.sender);
        delete _credits[msg.sender];
        emit Withdrawn(msg.sender, amount);
        _token.safeTransfer(msg.sender, amount);
    }

    // ---------------------------------------------------------------- admin

    /// @notice Replaces the parameters; datasets already contributed keep their bond, quorum and committee size.
    function setParams(DataParams calldata params_) external onlyRole(PARAMS_ROLE) {
        _setParams(params_);
    }

    /// @notice Stops new contributions. Votes, finalization, withdrawals and royalties keep working.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resumes new contributions.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IDataRegistry
    function datasetOf(uint64 datasetId) external view returns (Dataset memory) {
        return _dataset(datasetId);
    }

    /// @inheritdoc IDataRegistry
    function ballotsOf(uint64 datasetId) external view returns (Ballot[] memory ballots) {
        Dataset storage d = _dataset(datasetId);
        uint256 n = uint256(d.acceptVotes) + d.rejectVotes;
        ballots = new Ballot[](n);
        for (uint256 i; i < n; ++i) {
            (address validator, bool accept, uint8 reasonCode, uint32 seats) = _unpackBallot(_ballots[datasetId][i]);
            ballots[i] = Ballot({validator: validator, accept: accept, reasonCode: reasonCode, seats: seats});
        }
    }

    /// @inheritdoc IDataRegistry
    function hasVoted(uint64 datasetId, address validator) external view returns (bool) {
        Dataset storage d = _dataset(datasetId);
        uint256 n = uint256(d.acceptVotes) + d.rejectVotes;
        for (uint256 i; i < n; ++i) {
            if (address(uint160(_ballots[datasetId][i])) == validator) return true;
        }
        return false;
    }

    /// @inheritdoc IDataRegistry
    function committeeSeed(uint64 datasetId) public view returns (bytes32) {
        Dataset storage d = _dataset(datasetId);
        DatasetValidation storage validation = _validations[datasetId];
        bytes32 seed = validation.seed;
        uint48 seedBlock = validation.seedBlock;
        if (seed != bytes32(0) || d.status != DatasetStatus.Pending || block.number <= seedBlock) return seed;
        return blockhash(seedBlock);
    }

    /// @inheritdoc IDataRegistry
    function isOnCommittee(uint64 datasetId, address validator) external view returns (bool) {
        bytes32 seed = committeeSeed(datasetId);
        Dataset storage d = _datasets[datasetId];
        if (seed == bytes32(0) || validator == d.contributor) return false;
        uint48 snapshotBlock = _validations[datasetId].snapshotBlock;
        uint256 stake = _workers.validatorStakeAt(validator, snapshotBlock);
        uint256 totalStake = _workers.totalValidatorStakeAt(snapshotBlock);
        return _isDrawn(seed, datasetId, validator, stake, totalStake, d.committeeSize);
    }

    /// @inheritdoc IDataRegistry
    function validationOf(uint64 datasetId) external view returns (DatasetValidation memory) {
        _dataset(datasetId);
        return _validations[datasetId];
    }

    /// @inheritdoc IDataRegistry
    function datasetIdOf(address contributor, bytes32 commitment) external view returns (uint64) {
        return _liveByKey[_contributionKey(contributor, commitment)];
    }

    /// @inheritdoc IDataRegistry
    function isValidator(address account) external view returns (bool) {
        return _isValidator(account);
    }

    /// @inheritdoc IDataRegistry
    function creditOf(address account) external view returns (uint256) {
        return _credits[account];
    }

    /// @inheritdoc IDataRegistry
    function rewardPool() external view returns (uint256) {
        return _rewardPool;
    }

    /// @inheritdoc IDataRegistry
    function bondsHeld() external view returns (uint256) {
        return _bondsHeld;
    }

    /// @inheritdoc IDataRegistry
    function datasetCount() external view returns (uint64) {
        return _datasetCount;
    }

    /// @inheritdoc IDataRegistry
    function params() external view returns (DataParams memory) {
        return DataParams({
            bond: _bond,
            acceptReward: _acceptReward,
            validatorReward: _validatorReward,
            dissentSlash: _dissentSlash,
            votingPeriod: _votingPeriod,
            quorum: _quorum,
            committeeSize: _committeeSize,
            upfrontRewardBps: _upfrontRewardBps
        });
    }

    /// @notice The TesseraToken.
    function token() external view returns (address) {
        return address(_token);
    }

    /// @notice The WorkerRegistry.
    function workerRegistry() external view returns (address) {
        return address(_workers);
    }

    // ---------------------------------------------------------------- internals

    function _dataset(uint64 datasetId) private view returns (Dataset storage d) {
        d = _datasets[datasetId];
        if (d.status == DatasetStatus.None) revert DataRegistryUnknownDataset(datasetId);
    }

    function _checkPending(uint64 datasetId, Dataset storage d) private view {
        DatasetStatus status = d.status;
        if (status != DatasetStatus.Pending) revert DataRegistryNotPending(datasetId, status);
    }

    /// @dev Draws the committee if needed and checks that the caller may vote now: window open, not the contributor,
    /// eligible, drawn, not voted yet, room on the ballot.
    /// @return index Its ballot index.
    /// @return stake Its stake at the snapshot.
    /// @return seats Its seats.
    function _admitVoter(uint64 datasetId, Dataset storage d)
        private
        returns (uint256 index, uint256 stake, uint32 seats)
    {
        _checkPending(datasetId, d);
        DatasetValidation storage validation = _validations[datasetId];
        bytes32 seed = validation.seed;
        if (seed == bytes32(0)) seed = _drawOrRevert(datasetId, d, validation);
        uint32 votingDeadline = d.votingDeadline;
        if (block.timestamp > votingDeadline) revert DataRegistryVotingClosed(datasetId, votingDeadline);
        if (msg.sender == d.contributor) revert DataRegistrySelfValidation(datasetId, msg.sender);
        if (!_isValidator(msg.sender)) revert DataRegistryNotValidator(msg.sender);
        stake = _workers.validatorStakeAt(msg.sender, validation.snapshotBlock);
        uint256 totalStake = validation.totalStake;
        uint8 committeeSize = d.committeeSize;
        if (!_isDrawn(seed, datasetId, msg.sender, stake, totalStake, committeeSize)) {
            revert DataRegistryNotDrawn(datasetId, msg.sender);
        }
        index = uint256(d.acceptVotes) + d.rejectVotes;
        if (index >= MAX_BALLOTS) revert DataRegistryBallotFull(datasetId, MAX_BALLOTS);
        mapping(uint256 => uint256) storage ballots = _ballots[datasetId];
        for (uint256 i; i < index; ++i) {
            if (address(uint160(ballots[i])) == msg.sender) revert DataRegistryAlreadyVoted(datasetId, msg.sender);
        }
        seats = _seatsOf(stake, totalStake, committeeSize);
    }

    /// @dev Whether anyone can know the committee: it was drawn, or the seed block is mined and its hash readable.
    function _committeeKnowable(uint64 datasetId) private view returns (bool) {
        DatasetValidation storage validation = _validations[datasetId];
        if (validation.seed != bytes32(0)) return true;
        uint48 seedBlock = validation.seedBlock;
        return block.number > seedBlock && blockhash(seedBlock) != bytes32(0);
    }

    function _drawOrRevert(uint64 datasetId, Dataset storage d, DatasetValidation storage validation)
        private
        returns (bytes32)
    {
        uint48 seedBlock = validation.seedBlock;
        if (block.number <= seedBlock) revert DataRegistrySeedNotReady(datasetId, seedBlock);
        if (blockhash(seedBlock) == bytes32(0)) revert DataRegistrySeedExpired(datasetId, seedBlock);
        return _draw(datasetId, d, validation);
    }

    /// @dev Records the seed (the seed block's hash, readable), the snapshot stakes and opens the voting window.
    function _draw(uint64 datasetId, Dataset storage d, DatasetValidation storage validation)
        private
        returns (bytes32 seed)
    {
        seed = blockhash(validation.seedBlock);
        uint48 snapshotBlock = validation.snapshotBlock;
        uint256 totalStake = _workers.totalValidatorStakeAt(snapshotBlock);
        uint256 contributorStake = _workers.validatorStakeAt(d.contributor, snapshotBlock);
        validation.seed = seed;
        validation.totalStake = SafeCast.toUint128(totalStake);
        validation.unvotedStake = SafeCast.toUint128(totalStake - contributorStake);
        uint32 votingDeadline = uint32(block.timestamp) + _votingPeriod;
        d.votingDeadline = votingDeadline;
        emit CommitteeDrawn(datasetId, seed, totalStake, votingDeadline);
    }

    /// @dev Algorand-style sortition: drawn with probability min(1, stake * committeeSize / totalStake).
    function _isDrawn(
        bytes32 seed,
        uint64 datasetId,
        address validator,
        uint256 stake,
        uint256 totalStake,
        uint8 committeeSize
    ) private pure returns (bool) {
        if (stake == 0) return false;
        return uint256(keccak256(abi.encode(seed, datasetId, validator))) % totalStake < stake * committeeSize;
    }

    /// @dev A drawn validator's seats: one, or its expected seats when its stake draws it with certainty. Expected
    /// seats are then stake * committeeSize / totalStake for everyone, however stake is split over identities.
    function _seatsOf(uint256 stake, uint256 totalStake, uint8 committeeSize) private pure returns (uint32) {
        uint256 seats = stake * committeeSize * SEAT / totalStake;
        // seats <= committeeSize * SEAT since stake <= totalStake.
        return seats < SEAT ? SEAT : uint32(seats);
    }

    /// @dev Decides a drawn dataset by seats: Undecided (bond back, nobody paid or slashed) below the quorum or on a
    /// tie, else the side with more seats wins.
    function _settle(uint64 datasetId, Dataset storage d) private {
        DatasetValidation storage validation = _validations[datasetId];
        uint32 acceptSeats = validation.acceptSeats;
        uint32 rejectSeats = validation.rejectSeats;
        if (uint256(acceptSeats) + rejectSeats < uint256(d.quorum) * SEAT || acceptSeats == rejectSeats) {
            d.status = DatasetStatus.Undecided;
            d.reasonCode = REASON_UNDECIDED;
            delete _liveByKey[_contributionKey(d.contributor, d.commitment)];
            emit DatasetDecided(datasetId, DatasetStatus.Undecided, REASON_UNDECIDED, acceptSeats, rejectSeats);
            _refundBond(datasetId, d);
            return;
        }
        _decide(datasetId, d, acceptSeats > rejectSeats, acceptSeats, rejectSeats);
    }

    /// @dev Settles a decided dataset: the bond (back to the contributor, or into the reward pool), the rewards and
    /// the dissent slashes (the only external calls), whose proceeds join the reward pool.
    function _decide(uint64 datasetId, Dataset storage d, bool accepted, uint32 acceptSeats, uint32 rejectSeats)
        private
    {
        uint256 nVotes = uint256(d.acceptVotes) + d.rejectVotes;
        uint96 bond = d.bond;
        d.bond = 0;
        _bondsHeld -= bond;
        uint256 pool = _rewardPool;
        uint8 reason = REASON_OK;
        if (accepted) {
            d.status = DatasetStatus.Accepted;
            address contributor = d.contributor;
            if (bond != 0) _credit(contributor, datasetId, CreditReason.BondRefund, bond);
            uint256 acceptReward = _acceptReward;
            uint256 upfront = _min(acceptReward * _upfrontRewardBps / _BPS, pool);
            pool -= upfront;
            if (upfront != 0) _credit(contributor, datasetId, CreditReason.AcceptReward, upfront);
            _validations[datasetId].deferredReward = uint96(acceptReward - acceptReward * _upfrontRewardBps / _BPS);
        } else {
            d.status = DatasetStatus.Rejected;
            delete _liveByKey[_contributionKey(d.contributor, d.commitment)];
            pool += bond;
            reason = _rejectReason(datasetId, nVotes);
            d.reasonCode = reason;
        }
        _rewardPool = uint96(_payWinners(datasetId, accepted, nVotes, pool));
        emit DatasetDecided(datasetId, d.status, reason, acceptSeats, rejectSeats);
        _slashDissenters(datasetId, !accepted, nVotes);
    }

    /// @dev `validatorReward` per seat to each validator that voted `winningSide`, in vote order, as far as `pool`
    /// goes.
    /// @return The pool left.
    function _payWinners(uint64 datasetId, bool winningSide, uint256 nVotes, uint256 pool) private returns (uint256) {
        uint256 validatorReward = _validatorReward;
        mapping(uint256 => uint256) storage ballots = _ballots[datasetId];
        for (uint256 i; i < nVotes && pool != 0 && validatorReward != 0; ++i) {
            (address validator, bool accept,, uint32 seats) = _unpackBallot(ballots[i]);
            if (accept != winningSide) continue;
            uint256 reward = _min(validatorReward * seats / SEAT, pool);
            pool -= reward;
            _credit(validator, datasetId, CreditReason.ValidatorReward, reward);
        }
        return pool;
    }

    /// @return reason The reject reason with the most seats, the lowest code on a tie.
    function _rejectReason(uint64 datasetId, uint256 nVotes) private view returns (uint8 reason) {
        mapping(uint256 => uint256) storage ballots = _ballots[datasetId];
        uint256[7] memory seatsByReason;
        for (uint256 i; i < nVotes; ++i) {
            (, bool accept, uint8 reasonCode, uint32 seats) = _unpackBallot(ballots[i]);
            if (!accept) seatsByReason[reasonCode] += seats;
        }
        uint256 best;
        for (uint8 code = REASON_SCHEMA; code <= REASON_COMMITMENT_MISMATCH; ++code) {
            if (seatsByReason[code] > best) (best, reason) = (seatsByReason[code], code);
        }
    }

    /// @dev Slashes `dissentSlash` per seat from every validator whose vote was `dissentingSide`, into the reward
    /// pool (never to the winning voters).
    function _slashDissenters(uint64 datasetId, bool dissentingSide, uint256 nVotes) private {
        uint256 dissentSlash = _dissentSlash;
        if (dissentSlash == 0) return;
        mapping(uint256 => uint256) storage ballots = _ballots[datasetId];
        for (uint256 i; i < nVotes; ++i) {
            (address validator, bool accept,, uint32 seats) = _unpackBallot(ballots[i]);
            if (accept != dissentingSide) continue;
            uint256 slashed = _workers.slash(validator, dissentSlash * seats / SEAT, address(this));
            // The tokens just arrived and the slash is at most the validator's uint96 stake: the pool holds them.
            _rewardPool = SafeCast.toUint96(_rewardPool + slashed);
            emit DissenterSlashed(datasetId, validator, slashed);
        }
    }

    /// @dev Credits the held bond of a dataset leaving Pending back to its contributor.
    function _refundBond(uint64 datasetId, Dataset storage d) private {
        uint96 bond = d.bond;
        if (bond == 0) return;
        d.bond = 0;
        _bondsHeld -= bond;
        _credit(d.contributor, datasetId, CreditReason.BondRefund, bond);
    }

    function _credit(address account, uint64 datasetId, CreditReason reason, uint256 amount) private {
        _credits[account] += amount;
        emit Credited(account, datasetId, reason, amount);
    }

    function _emitContributed(uint64 datasetId, ContributionArgs calldata args, uint96 bond, uint48 seedBlock)
        private
    {
        emit DatasetContributed(
            datasetId,
            msg.sender,
            args.schemaId,
            args.commitment,
            args.cid,
            args.sampleCount,
            args.licenseId,
            args.keyEnvelopesCid,
            bond,
            seedBlock
        );
    }

    function _isValidator(address account) private view returns (bool) {
        return _workers.isEligible(account, CAP_VALIDATE);
    }

    function _checkCid(bytes calldata cid, bool mayBeEmpty) private pure {
        uint256 length = cid.length;
        if (length == 0 && !mayBeEmpty) revert DataRegistryEmptyCid();
        if (length > MAX_CID_BYTES) revert DataRegistryCidTooLong(length, MAX_CID_BYTES);
    }

    /// @dev A commitment is unique per contributor: a copier of someone's pending contribution gets its own record
    /// (which validators reject) and never blocks the author.
    function _contributionKey(address contributor, bytes32 commitment) private pure returns (bytes32) {
        return keccak256(abi.encode(contributor, commitment));
    }

    function _packBallot(address validator, bool accept, uint8 reasonCode, uint32 seats)
        private
        pure
        returns (uint256)
    {
        return uint256(uint160(validator)) | (accept ? 1 << 160 : 0) | (uint256(reasonCode) << 168)
            | (uint256(seats) << 176);
    }

    function _unpackBallot(uint256 packed)
        private
        pure
        returns (address validator, bool accept, uint8 reasonCode, uint32 seats)
    {
        validator = address(uint160(packed));
        accept = (packed >> 160) & 1 == 1;
        reasonCode = uint8(packed >> 168);
        seats = uint32(packed >> 176);
    }

    function _min(uint256 a, uint256 b) private pure returns (uint256) {
        return a < b ? a : b;
    }

    /// @dev `votingPeriod` stays below the WorkerRegistry's unbonding floor, so that a validator that voted can
    /// never unbond before the deadline of the decision that may slash it.
    function _setParams(DataParams memory p) private {
        if (
            p.committeeSize == 0 || p.committeeSize > MAX_COMMITTEE_SIZE || p.quorum == 0
                || p.quorum > p.committeeSize || p.upfrontRewardBps > _BPS || p.votingPeriod == 0
                || p.votingPeriod >= _workers.MIN_UNBONDING_DELAY()
        ) revert DataRegistryInvalidParams();
        _bond = p.bond;
        _acceptReward = p.acceptReward;
        _validatorReward = p.validatorReward;
        _dissentSlash = p.dissentSlash;
        _votingPeriod = p.votingPeriod;
        _quorum = p.quorum;
        _committeeSize = p.committeeSize;
        _upfrontRewardBps = p.upfrontRewardBps;
        emit ParamsUpdated(p);
    }
}
