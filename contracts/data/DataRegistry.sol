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
import {ContributionArgs, Dataset, DataParams, Ballot, DatasetStatus, CreditReason} from "../types/DataTypes.sol";
import {PermitArgs} from "../types/InferenceTypes.sol";

/// @title DataRegistry
/// @notice Bonded dataset contributions, validator votes with a quorum, acceptance rewards from a reward pool,
/// dissent slashing, and royalties from training jobs pro rata to samples used. All payouts are credits.
/// @dev Token accounting: balanceOf(this) == bondsHeld + rewardPool + Σ credits (tokens sent here by plain
/// transfers are not accounted). Dissent slashes are sent here and join the reward pool. Ballots are kept per
/// dataset as `validator | accept << 160 | reasonCode << 168`, indexed by arrival; a dataset takes at most
/// MAX_VALIDATORS_PER_DATASET of them, so every loop over them is bounded.
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
    /// @notice Reason code: the plaintext does not hash to the commitment.
    uint8 public constant REASON_COMMITMENT_MISMATCH = 6;
    /// @notice Decision reason of a dataset finalized without quorum (never a vote's reason).
    uint8 public constant REASON_UNDECIDED = 255;
    /// @notice Upper bound of `validatorsPerDataset`.
    uint8 public constant MAX_VALIDATORS_PER_DATASET = 15;
    /// @notice Longest accepted CID.
    uint256 public constant MAX_CID_BYTES = 64;

    IERC20 private immutable _token;
    IWorkerRegistry private immutable _workers;

    // Declared first so that they share a slot with Pausable's `_paused`: contribute reads one parameter slot.
    uint96 private _bond;
    uint32 private _votingPeriod;
    uint8 private _quorum;
    uint8 private _validatorsPerDataset;
    uint96 private _acceptReward;
    uint96 private _validatorReward;
    uint96 private _dissentSlash;
    // The ledger, one slot.
    uint96 private _rewardPool;
    uint96 private _bondsHeld;
    uint64 private _datasetCount;

    mapping(uint64 datasetId => Dataset) private _datasets;
    mapping(uint64 datasetId => mapping(uint256 index => uint256 packed)) private _ballots;
    mapping(bytes32 commitment => uint64 datasetId) private _liveByCommitment;
    mapping(address account => uint256) private _credits;

    /// @param admin Receives DEFAULT_ADMIN_ROLE, PARAMS_ROLE and PAUSER_ROLE (and grants ROYALTY_PAYER_ROLE).
    /// @param token_ The TesseraToken (bonds, rewards, royalties; permit).
    /// @param workers_ The WorkerRegistry (validator eligibility; this registry needs its SLASHER_ROLE).
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
        uint64 existing = _liveByCommitment[args.commitment];
        if (existing != 0) revert DataRegistryDuplicateCommitment(args.commitment, existing);

        uint96 bond = _bond;
        uint32 votingDeadline = uint32(block.timestamp) + _votingPeriod;
        datasetId = ++_datasetCount;
        _bondsHeld += bond;
        _liveByCommitment[args.commitment] = datasetId;
        _datasets[datasetId] = Dataset({
            contributor: msg.sender,
            status: DatasetStatus.Pending,
            reasonCode: REASON_OK,
            acceptVotes: 0,
            rejectVotes: 0,
            quorum: _quorum,
            maxVotes: _validatorsPerDataset,
            votingDeadline: votingDeadline,
            bond: bond,
            royalties: 0,
            sampleCount: args.sampleCount,
            timesUsed: 0,
            commitment: args.commitment,
            schemaId: args.schemaId
        });
        _emitContributed(datasetId, args, bond, votingDeadline);
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
    function vote(uint64 datasetId, bool accept, uint8 reasonCode) external nonReentrant {
        if (accept ? reasonCode != REASON_OK : reasonCode == REASON_OK || reasonCode > REASON_COMMITMENT_MISMATCH) {
            revert DataRegistryInvalidReason(accept, reasonCode);
        }
        Dataset storage d = _dataset(datasetId);
        (uint8 acceptVotes, uint8 rejectVotes) = _checkVotable(datasetId, d);
        uint256 index = uint256(acceptVotes) + rejectVotes;
        if (msg.sender == d.contributor) revert DataRegistrySelfValidation(datasetId, msg.sender);
        if (!_isValidator(msg.sender)) revert DataRegistryNotValidator(msg.sender);
        mapping(uint256 => uint256) storage ballots = _ballots[datasetId];
        for (uint256 i; i < index; ++i) {
            if (address(uint160(ballots[i])) == msg.sender) revert DataRegistryAlreadyVoted(datasetId, msg.sender);
        }

        ballots[index] = _packBallot(msg.sender, accept, reasonCode);
        bool decided;
        if (accept) {
            d.acceptVotes = ++acceptVotes;
            decided = acceptVotes >= d.quorum;
        } else {
            d.rejectVotes = ++rejectVotes;
            decided = rejectVotes >= d.quorum;
        }
        emit DatasetVoted(datasetId, msg.sender, accept, reasonCode);
        if (decided) _decide(datasetId, d, accept, acceptVotes, rejectVotes);
    }

    /// @inheritdoc IDataRegistry
    function finalize(uint64 datasetId) external {
        Dataset storage d = _dataset(datasetId);
        DatasetStatus status = d.status;
        if (status != DatasetStatus.Pending) revert DataRegistryNotPending(datasetId, status);
        uint8 acceptVotes = d.acceptVotes;
        uint8 rejectVotes = d.rejectVotes;
        uint32 votingDeadline = d.votingDeadline;
        if (block.timestamp <= votingDeadline && uint256(acceptVotes) + rejectVotes < d.maxVotes) {
            revert DataRegistryVotingOpen(datasetId, votingDeadline);
        }
        d.status = DatasetStatus.Undecided;
        d.reasonCode = REASON_UNDECIDED;
        delete _liveByCommitment[d.commitment];
        emit DatasetDecided(datasetId, DatasetStatus.Undecided, REASON_UNDECIDED, acceptVotes, rejectVotes);
        _refundBond(datasetId, d);
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
        // Once voting started the contributor must face the decision: withdrawing would dodge a rejection.
        uint8 votes = d.acceptVotes + d.rejectVotes;
        if (votes != 0 && status == DatasetStatus.Pending) revert DataRegistryValidationStarted(datasetId, votes);
        d.status = DatasetStatus.Withdrawn;
        // An accepted dataset was already rewarded: its commitment stays taken, so withdrawing and
        // contributing the same data again cannot farm the acceptance reward.
        if (status == DatasetStatus.Pending) delete _liveByCommitment[d.commitment];
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

    /// @notice Replaces the parameters; datasets already contributed keep their bond, quorum and ballot size.
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
            (address validator, bool accept, uint8 reasonCode) = _unpackBallot(_ballots[datasetId][i]);
            ballots[i] = Ballot({validator: validator, accept: accept, reasonCode: reasonCode});
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
    function datasetIdOf(bytes32 commitment) external view returns (uint64) {
        return _liveByCommitment[commitment];
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
            validatorsPerDataset: _validatorsPerDataset
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

    /// @dev Reverts unless the dataset is Pending, before its deadline, with room on its ballot.
    function _checkVotable(uint64 datasetId, Dataset storage d)
        private
        view
        returns (uint8 acceptVotes, uint8 rejectVotes)
    {
        DatasetStatus status = d.status;
        if (status != DatasetStatus.Pending) revert DataRegistryNotPending(datasetId, status);
        uint32 votingDeadline = d.votingDeadline;
        if (block.timestamp > votingDeadline) revert DataRegistryVotingClosed(datasetId, votingDeadline);
        acceptVotes = d.acceptVotes;
        rejectVotes = d.rejectVotes;
        uint8 maxVotes = d.maxVotes;
        if (uint256(acceptVotes) + rejectVotes >= maxVotes) revert DataRegistryBallotFull(datasetId, maxVotes);
    }

    /// @dev Settles a dataset whose `accepted` side just reached the quorum: bond, rewards or rejection shares,
    /// then the dissent slashes (the only external calls), whose proceeds join the reward pool.
    function _decide(uint64 datasetId, Dataset storage d, bool accepted, uint8 acceptVotes, uint8 rejectVotes)
        private
    {
        uint256 nVotes = uint256(acceptVotes) + rejectVotes;
        uint96 bond = d.bond;
        d.bond = 0;
        _bondsHeld -= bond;
        uint8 reason = REASON_OK;
        if (accepted) {
            d.status = DatasetStatus.Accepted;
            _payAcceptance(datasetId, d.contributor, bond, nVotes);
        } else {
            d.status = DatasetStatus.Rejected;
            delete _liveByCommitment[d.commitment];
            reason = _payRejection(datasetId, bond, rejectVotes, nVotes);
            d.reasonCode = reason;
        }
        emit DatasetDecided(datasetId, d.status, reason, acceptVotes, rejectVotes);
        _slashDissenters(datasetId, !accepted, nVotes);
    }

    /// @dev Bond back and accept reward to the contributor, then `validatorReward` to each accepting validator in
    /// vote order, all from the reward pool as far as it goes.
    function _payAcceptance(uint64 datasetId, address contributor, uint96 bond, uint256 nVotes) private {
        if (bond != 0) _credit(contributor, datasetId, CreditReason.BondRefund, bond);
        uint256 pool = _rewardPool;
        uint256 reward = _min(_acceptReward, pool);
        pool -= reward;
        if (reward != 0) _credit(contributor, datasetId, CreditReason.AcceptReward, reward);
        uint256 validatorReward = _validatorReward;
        mapping(uint256 => uint256) storage ballots = _ballots[datasetId];
        for (uint256 i; i < nVotes && pool != 0 && validatorReward != 0; ++i) {
            (address validator, bool accept,) = _unpackBallot(ballots[i]);
            if (!accept) continue;
            reward = _min(validatorReward, pool);
            pool -= reward;
            _credit(validator, datasetId, CreditReason.ValidatorReward, reward);
        }
        _rewardPool = uint96(pool);
    }

    /// @dev Splits the bond equally among the rejecting validators (the last one, the decider, takes the rounding
    /// dust). @return reason The most frequent reject reason, the lowest code on a tie.
    function _payRejection(uint64 datasetId, uint96 bond, uint256 winners, uint256 nVotes)
        private
        returns (uint8 reason)
    {
        mapping(uint256 => uint256) storage ballots = _ballots[datasetId];
        uint256[7] memory reasonCounts;
        uint256 share = bond / winners;
        uint256 paid;
        for (uint256 i; i < nVotes; ++i) {
            (address validator, bool accept, uint8 reasonCode) = _unpackBallot(ballots[i]);
            if (accept) continue;
            ++reasonCounts[reasonCode];
            uint256 amount = ++paid == winners ? bond - share * (winners - 1) : share;
            if (amount != 0) _credit(validator, datasetId, CreditReason.RejectionShare, amount);
        }
        uint256 best;
        for (uint8 code = REASON_SCHEMA; code <= REASON_COMMITMENT_MISMATCH; ++code) {
            if (reasonCounts[code] > best) (best, reason) = (reasonCounts[code], code);
        }
    }

    /// @dev Slashes `dissentSlash` from every validator whose vote was `dissentingSide`, into the reward pool.
    function _slashDissenters(uint64 datasetId, bool dissentingSide, uint256 nVotes) private {
        uint96 dissentSlash = _dissentSlash;
        if (dissentSlash == 0) return;
        mapping(uint256 => uint256) storage ballots = _ballots[datasetId];
        for (uint256 i; i < nVotes; ++i) {
            (address validator, bool accept,) = _unpackBallot(ballots[i]);
            if (accept != dissentingSide) continue;
            uint256 slashed = _workers.slash(validator, dissentSlash, address(this));
            // slashed <= dissentSlash (uint96) and the tokens just arrived: the pool holds them.
            _rewardPool += uint96(slashed);
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

    function _emitContributed(uint64 datasetId, ContributionArgs calldata args, uint96 bond, uint32 votingDeadline)
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
            votingDeadline
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

    function _packBallot(address validator, bool accept, uint8 reasonCode) private pure returns (uint256) {
        return uint256(uint160(validator)) | (accept ? 1 << 160 : 0) | (uint256(reasonCode) << 168);
    }

    function _unpackBallot(uint256 packed) private pure returns (address validator, bool accept, uint8 reasonCode) {
        validator = address(uint160(packed));
        accept = (packed >> 160) & 1 == 1;
        reasonCode = uint8(packed >> 168);
    }

    function _min(uint256 a, uint256 b) private pure returns (uint256) {
        return a < b ? a : b;
    }

    /// @dev `votingPeriod` stays below the WorkerRegistry's unbonding floor, so that a validator that voted can
    /// never unbond before the decision that may slash it.
    function _setParams(DataParams memory p) private {
        if (
            p.quorum == 0 || p.validatorsPerDataset < p.quorum || p.validatorsPerDataset >= 2 * uint256(p.quorum)
                || p.validatorsPerDataset > MAX_VALIDATORS_PER_DATASET || p.votingPeriod == 0
                || p.votingPeriod >= _workers.MIN_UNBONDING_DELAY()
        ) revert DataRegistryInvalidParams();
        _bond = p.bond;
        _acceptReward = p.acceptReward;
        _validatorReward = p.validatorReward;
        _dissentSlash = p.dissentSlash;
        _votingPeriod = p.votingPeriod;
        _quorum = p.quorum;
        _validatorsPerDataset = p.validatorsPerDataset;
        emit ParamsUpdated(p);
    }
}
