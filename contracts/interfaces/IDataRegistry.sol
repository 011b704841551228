// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

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

/// @title IDataRegistry
/// @notice Contributors register encrypted datasets with a token bond; a committee of staked validators (CAP_VALIDATE)
/// drawn per dataset by stake-weighted sortition votes on each, weighted by seats, over a voting window; accepted
/// datasets earn a reward (part at acceptance, the rest at their first royalty) and, when training jobs use them,
/// royalties pro rata to samples used. Every payment is a credit pulled with `withdraw`. Nothing is ever locked: a
/// dataset whose committee cannot be known yet can be withdrawn, an expired seed can be re-anchored by anyone, and
/// after the voting deadline anyone can `finalize`.
interface IDataRegistry {
    /// @notice Thrown when the dataset id was never assigned.
    error DataRegistryUnknownDataset(uint64 datasetId);
    /// @notice Thrown when a live (Pending or Accepted) dataset of the same contributor already has this commitment.
    error DataRegistryDuplicateCommitment(bytes32 commitment, uint64 datasetId);
    /// @notice Thrown for a zero commitment.
    error DataRegistryZeroCommitment();
    /// @notice Thrown for a dataset of zero samples.
    error DataRegistryZeroSamples();
    /// @notice Thrown for an empty dataset or key-envelopes CID.
    error DataRegistryEmptyCid();
    /// @notice Thrown for a CID longer than `MAX_CID_BYTES`.
    error DataRegistryCidTooLong(uint256 length, uint256 maxLength);
    /// @notice Thrown when the caller is not a registered, staked, non-unstaking worker with CAP_VALIDATE.
    error DataRegistryNotValidator(address account);
    /// @notice Thrown when the contributor votes on its own dataset.
    error DataRegistrySelfValidation(uint64 datasetId, address validator);
    /// @notice Thrown when a validator votes twice on a dataset.
    error DataRegistryAlreadyVoted(uint64 datasetId, address validator);
    /// @notice Thrown for an accept vote with a reason other than REASON_OK, or a reject vote with REASON_OK or
    /// an unknown reason.
    error DataRegistryInvalidReason(bool accept, uint8 reasonCode);
    /// @notice Thrown when the dataset is not Pending (already decided, finalized or withdrawn).
    error DataRegistryNotPending(uint64 datasetId, DatasetStatus status);
    /// @notice Thrown when a validator that the dataset's sortition did not draw votes.
    error DataRegistryNotDrawn(uint64 datasetId, address validator);
    /// @notice Thrown when the committee is needed before its seed block is mined (in the contribution block).
    error DataRegistrySeedNotReady(uint64 datasetId, uint48 seedBlock);
    /// @notice Thrown by `vote` when the seed block is more than 256 blocks old and nobody drew: call `drawCommittee`
    /// to re-anchor the seed on a new block.
    error DataRegistrySeedExpired(uint64 datasetId, uint48 seedBlock);
    /// @notice Thrown by `drawCommittee` when the committee was already drawn.
    error DataRegistryCommitteeAlreadyDrawn(uint64 datasetId);
    /// @notice Thrown by `finalize` before the committee was drawn (draw it, or withdraw if it expired).
    error DataRegistryCommitteeNotDrawn(uint64 datasetId);
    /// @notice Thrown when voting after the deadline.
    error DataRegistryVotingClosed(uint64 datasetId, uint32 votingDeadline);
    /// @notice Thrown when the dataset already took `MAX_BALLOTS` votes.
    error DataRegistryBallotFull(uint64 datasetId, uint8 maxBallots);
    /// @notice Thrown when finalizing before the voting deadline (and not every validator voted).
    error DataRegistryVotingOpen(uint64 datasetId, uint32 votingDeadline);
    /// @notice Thrown when someone other than the contributor manages a dataset.
    error DataRegistryNotContributor(uint64 datasetId, address caller, address contributor);
    /// @notice Thrown when withdrawing or publishing keys for a Rejected, Undecided or Withdrawn dataset.
    error DataRegistryDatasetClosed(uint64 datasetId, DatasetStatus status);
    /// @notice Thrown when withdrawing a dataset that a job has already used.
    error DataRegistryDatasetAlreadyUsed(uint64 datasetId, uint32 timesUsed);
    /// @notice Thrown when withdrawing a Pending dataset whose committee can already be known (validation started).
    error DataRegistryValidationStarted(uint64 datasetId, uint48 seedBlock);
    /// @notice Thrown when crediting royalties to a dataset that is not Accepted.
    error DataRegistryDatasetNotAccepted(uint64 datasetId, DatasetStatus status);
    /// @notice Thrown when a royalty item uses zero samples or more samples than the dataset has.
    error DataRegistryInvalidSamplesUsed(uint64 datasetId, uint32 samplesUsed, uint32 sampleCount);
    /// @notice Thrown when `datasetIds` and `samplesUsed` differ in length, or are empty.
    error DataRegistryLengthMismatch(uint256 datasetIds, uint256 samplesUsed);
    /// @notice Thrown for a zero royalty or funding amount.
    error DataRegistryZeroAmount();
    /// @notice Thrown by `withdraw` when the caller has no credit.
    error DataRegistryNothingToWithdraw(address account);
    /// @notice Thrown when a constructor address is zero.
    error DataRegistryZeroAddress();
    /// @notice Thrown when parameters are out of range (see `DataParams`).
    error DataRegistryInvalidParams();

    /// @notice Emitted when a dataset is contributed; validators start from here.
    /// @param datasetId The new id (sequential from 1).
    /// @param contributor Who contributed and bonded.
    /// @param schemaId The dataset's schema.
    /// @param commitment Hash of the canonical plaintext.
    /// @param cid IPFS CID of the ciphertext.
    /// @param sampleCount Samples in the dataset.
    /// @param licenseId The license.
    /// @param keyEnvelopesCid IPFS CID of the validators' key envelopes (empty if published later).
    /// @param bond Tokens bonded.
    /// @param seedBlock The block whose hash seeds the committee and at whose end stakes are read (this block).
    event DatasetContributed(
        uint64 indexed datasetId,
        address indexed contributor,
        bytes32 indexed schemaId,
        bytes32 commitment,
        bytes cid,
        uint32 sampleCount,
        bytes32 licenseId,
        bytes keyEnvelopesCid,
        uint96 bond,
        uint48 seedBlock
    );
    /// @notice Emitted when the contributor publishes (new) key envelopes.
    /// @param datasetId The dataset.
    /// @param contributor The contributor.
    /// @param keyEnvelopesCid IPFS CID of the key envelopes.
    event KeyEnvelopesPublished(uint64 indexed datasetId, address indexed contributor, bytes keyEnvelopesCid);
    /// @notice Emitted when a dataset's committee seed is recorded and its voting window opens.
    /// @param datasetId The dataset.
    /// @param seed The sortition seed (the hash of the seed block).
    /// @param totalStake Total validator stake at the snapshot block.
    /// @param votingDeadline Last second at which votes are accepted.
    event CommitteeDrawn(uint64 indexed datasetId, bytes32 seed, uint256 totalStake, uint32 votingDeadline);
    /// @notice Emitted when nobody drew a committee while its seed block hash was readable (256 blocks): the seed
    /// moves to the block of this call, readable from the next block on.
    /// @param datasetId The dataset.
    /// @param seedBlock The new seed block.
    event CommitteeSeedReanchored(uint64 indexed datasetId, uint48 seedBlock);
    /// @notice Emitted for every vote.
    /// @param datasetId The dataset.
    /// @param validator The voter.
    /// @param accept Whether it voted to accept.
    /// @param reasonCode REASON_OK for an accept, the failed check for a reject.
    /// @param seats The vote's weight in SEAT units.
    event DatasetVoted(
        uint64 indexed datasetId, address indexed validator, bool accept, uint8 reasonCode, uint32 seats
    );
    /// @notice Emitted when a dataset leaves Pending by a decision of its committee.
    /// @param datasetId The dataset.
    /// @param status Accepted, Rejected or Undecided (below the quorum, or a tie).
    /// @param reasonCode REASON_OK when accepted, the reject reason with the most seats when rejected (ties: lowest
    /// code), REASON_UNDECIDED when undecided.
    /// @param acceptSeats Seats that voted accept (SEAT units).
    /// @param rejectSeats Seats that voted reject (SEAT units).
    event DatasetDecided(
        uint64 indexed datasetId, DatasetStatus status, uint8 reasonCode, uint32 acceptSeats, uint32 rejectSeats
    );
    /// @notice Emitted when a validator that voted against the decision is slashed into the reward pool.
    /// @param datasetId The dataset.
    /// @param validator The dissenting validator.
    /// @param slashed Tokens actually taken (at most its stake).
    event DissenterSlashed(uint64 indexed datasetId, address indexed validator, uint256 slashed);
    /// @notice Emitted whenever an account is credited from a bond or the reward pool.
    /// @param account The credited account.
    /// @param datasetId The dataset it is credited for.
    /// @param reason Bond refund, accept reward (upfront or deferred) or validator reward.
    /// @param amount Tokens credited.
    event Credited(address indexed account, uint64 indexed datasetId, CreditReason reason, uint256 amount);
    /// @notice Emitted per dataset by `creditRoyalties`.
    /// @param datasetId The dataset.
    /// @param contributor Credited account.
    /// @param payer The ROYALTY_PAYER_ROLE caller (a training job contract).
    /// @param samplesUsed Samples of the dataset the job used.
    /// @param amount Tokens credited.
    event RoyaltiesCredited(
        uint64 indexed datasetId, address indexed contributor, address indexed payer, uint32 samplesUsed, uint256 amount
    );
    /// @notice Emitted when the contributor withdraws a dataset.
    /// @param datasetId The dataset.
    /// @param contributor The contributor.
    /// @param bondRefunded Bond credited back (0 for an Accepted dataset, whose bond came back at acceptance).
    event DatasetWithdrawn(uint64 indexed datasetId, address indexed contributor, uint256 bondRefunded);
    /// @notice Emitted when tokens are added to the reward pool.
    /// @param funder Payer.
    /// @param amount Tokens added.
    /// @param rewardPool The new pool.
    event RewardPoolFunded(address indexed funder, uint256 amount, uint256 rewardPool);
    /// @notice Emitted on `withdraw`.
    /// @param account Receiver.
    /// @param amount Tokens paid.
    event Withdrawn(address indexed account, uint256 amount);
    /// @notice Emitted when the parameters change.
    /// @param params The new parameters.
    event ParamsUpdated(DataParams params);

    /// @notice Registers a dataset and bonds `params().bond` tokens, optionally through an ERC-2612 permit.
    function contribute(ContributionArgs calldata args, PermitArgs calldata permit) external returns (uint64 datasetId);
    /// @notice Publishes (or replaces) the key envelopes of a Pending or Accepted dataset. Contributor only.
    function publishKeyEnvelopes(uint64 datasetId, bytes calldata keyEnvelopesCid) external;
    /// @notice Records the committee seed of a Pending dataset and opens its voting window (the first vote does it
    /// too). If the seed block's hash is no longer readable (256 blocks), re-anchors the seed on this call's block
    /// instead. Anyone.
    function drawCommittee(uint64 datasetId) external;
    /// @notice Votes once on a Pending dataset, drawing its committee first if needed. Only validators drawn by the
    /// sortition, eligible now; weighted by their seats. The vote of the last validator holding snapshot stake
    /// settles the dataset at once; otherwise `finalize` does after the deadline.
    function vote(uint64 datasetId, bool accept, uint8 reasonCode) external;
    /// @notice Settles a drawn Pending dataset after its voting deadline: the side with more seats wins if at least
    /// `quorum` seats voted (bond, rewards, dissent slashes), else Undecided with the bond back. Anyone.
    function finalize(uint64 datasetId) external;
    /// @notice Withdraws the caller's dataset: an Accepted one no job used, or a Pending one whose committee cannot
    /// be known yet (its own block, or a seed that expired before anyone drew), bond back. A Pending dataset's
    /// commitment becomes free again; an Accepted one's stays taken, since its acceptance reward was paid.
    function withdrawDataset(uint64 datasetId) external;
    /// @notice Pulls `amount` tokens from the caller and credits the contributors of Accepted datasets pro rata
    /// to `samplesUsed` (the last item takes the rounding dust). ROYALTY_PAYER_ROLE only.
    function creditRoyalties(uint64[] calldata datasetIds, uint32[] calldata samplesUsed, uint256 amount) external;
    /// @notice Pulls `amount` tokens from the caller into the reward pool. Anyone.
    function fundRewardPool(uint256 amount) external;
    /// @notice Pays out the caller's whole credit.
    function withdraw() external;

    /// @notice A dataset's record (status, decision reason, votes, bond, royalties...).
    function datasetOf(uint64 datasetId) external view returns (Dataset memory);
    /// @notice The votes cast on a dataset, in order.
    function ballotsOf(uint64 datasetId) external view returns (Ballot[] memory);
    /// @notice Whether `validator` voted on the dataset.
    function hasVoted(uint64 datasetId, address validator) external view returns (bool);
    /// @notice The committee seed: the recorded one, else the seed block's hash once readable, else 0.
    function committeeSeed(uint64 datasetId) external view returns (bytes32);
    /// @notice Whether the sortition draws `validator` for the dataset (false while the seed is unknown).
    function isOnCommittee(uint64 datasetId, address validator) external view returns (bool);
    /// @notice A dataset's committee (seed, snapshot stakes; 0 until drawn), seed and snapshot blocks, seats voted
    /// on each side and the acceptance reward still deferred.
    function validationOf(uint64 datasetId) external view returns (DatasetValidation memory);
    /// @notice The contributor's live (Pending or Accepted) dataset with this commitment, or 0.
    function datasetIdOf(address contributor, bytes32 commitment) external view returns (uint64);
    /// @notice Whether `account` may vote now (staked, CAP_VALIDATE, not unstaking).
    function isValidator(address account) external view returns (bool);
    /// @notice Credit of `account`.
    function creditOf(address account) external view returns (uint256);
    /// @notice Tokens in the reward pool.
    function rewardPool() external view returns (uint256);
    /// @notice Bonds held for Pending datasets.
    function bondsHeld() external view returns (uint256);
    /// @notice Number of datasets ever contributed (the last id).
    function datasetCount() external view returns (uint64);
    /// @notice Current parameters.
    function params() external view returns (DataParams memory);
}
