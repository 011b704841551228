// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ContributionArgs, Dataset, DataParams, Ballot, DatasetStatus, CreditReason} from "../types/DataTypes.sol";
import {PermitArgs} from "../types/InferenceTypes.sol";

/// @title IDataRegistry
/// @notice Contributors register encrypted datasets with a token bond; staked validators (CAP_VALIDATE) vote on
/// them; accepted datasets earn a reward and, when training jobs use them, royalties pro rata to samples used.
/// Every payment is a credit pulled with `withdraw`. Nothing is ever locked: after the voting deadline anyone
/// can `finalize` an undecided dataset, which returns the bond.
interface IDataRegistry {
    /// @notice Thrown when the dataset id was never assigned.
    error DataRegistryUnknownDataset(uint64 datasetId);
    /// @notice Thrown when a live (Pending or Accepted) dataset already has this commitment.
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
    /// @notice Thrown when voting after the deadline.
    error DataRegistryVotingClosed(uint64 datasetId, uint32 votingDeadline);
    /// @notice Thrown when the dataset already took `maxVotes` votes.
    error DataRegistryBallotFull(uint64 datasetId, uint8 maxVotes);
    /// @notice Thrown when finalizing while votes can still be cast.
    error DataRegistryVotingOpen(uint64 datasetId, uint32 votingDeadline);
    /// @notice Thrown when someone other than the contributor manages a dataset.
    error DataRegistryNotContributor(uint64 datasetId, address caller, address contributor);
    /// @notice Thrown when withdrawing or publishing keys for a Rejected, Undecided or Withdrawn dataset.
    error DataRegistryDatasetClosed(uint64 datasetId, DatasetStatus status);
    /// @notice Thrown when withdrawing a dataset that a job has already used.
    error DataRegistryDatasetAlreadyUsed(uint64 datasetId, uint32 timesUsed);
    /// @notice Thrown when withdrawing a Pending dataset that validators have started voting on.
    error DataRegistryValidationStarted(uint64 datasetId, uint8 votes);
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
    /// @param votingDeadline Last second at which votes are accepted.
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
        uint32 votingDeadline
    );
    /// @notice Emitted when the contributor publishes (new) key envelopes.
    /// @param datasetId The dataset.
    /// @param contributor The contributor.
    /// @param keyEnvelopesCid IPFS CID of the key envelopes.
    event KeyEnvelopesPublished(uint64 indexed datasetId, address indexed contributor, bytes keyEnvelopesCid);
    /// @notice Emitted for every vote.
    /// @param datasetId The dataset.
    /// @param validator The voter.
    /// @param accept Whether it voted to accept.
    /// @param reasonCode REASON_OK for an accept, the failed check for a reject.
    event DatasetVoted(uint64 indexed datasetId, address indexed validator, bool accept, uint8 reasonCode);
    /// @notice Emitted when a dataset leaves Pending by decision or finalization.
    /// @param datasetId The dataset.
    /// @param status Accepted, Rejected or Undecided.
    /// @param reasonCode REASON_OK when accepted, the most frequent reject reason when rejected (ties: lowest
    /// code), REASON_UNDECIDED when undecided.
    /// @param acceptVotes Accept votes cast.
    /// @param rejectVotes Reject votes cast.
    event DatasetDecided(
        uint64 indexed datasetId, DatasetStatus status, uint8 reasonCode, uint8 acceptVotes, uint8 rejectVotes
    );
    /// @notice Emitted when a validator that voted against the decision is slashed into the reward pool.
    /// @param datasetId The dataset.
    /// @param validator The dissenting validator.
    /// @param slashed Tokens actually taken (at most its stake).
    event DissenterSlashed(uint64 indexed datasetId, address indexed validator, uint256 slashed);
    /// @notice Emitted whenever an account is credited from a bond or the reward pool.
    /// @param account The credited account.
    /// @param datasetId The dataset it is credited for.
    /// @param reason Bond refund, accept reward, validator reward or share of a rejected bond.
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
    /// @notice Votes once on a Pending dataset; the vote that brings a side to the quorum decides it and settles
    /// the bond, the rewards and the dissent slashes. Staked CAP_VALIDATE workers only.
    function vote(uint64 datasetId, bool accept, uint8 reasonCode) external;
    /// @notice Closes a Pending dataset without quorum once the deadline passed or the ballot is full: Undecided,
    /// bond back to the contributor, nobody slashed or rewarded. Anyone.
    function finalize(uint64 datasetId) external;
    /// @notice Withdraws the caller's dataset: an Accepted one no job used, or a Pending one nobody voted on yet
    /// (bond back). Its commitment becomes free again.
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
    /// @notice The live (Pending or Accepted) dataset with this commitment, or 0.
    function datasetIdOf(bytes32 commitment) external view returns (uint64);
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
