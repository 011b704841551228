// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice Lifecycle of a contributed dataset.
/// @dev Pending → Accepted | Rejected (a side reached the quorum) | Undecided (deadline or full ballot without
/// quorum) | Withdrawn (by the contributor). Accepted → Withdrawn while no job has used it.
enum DatasetStatus {
    None,
    Pending,
    Accepted,
    Rejected,
    Undecided,
    Withdrawn
}

/// @notice Why an account was credited (the `Credited` event).
enum CreditReason {
    BondRefund,
    AcceptReward,
    ValidatorReward,
    RejectionShare
}

/// @notice What a contributor supplies to `contribute`.
struct ContributionArgs {
    bytes cid; // IPFS CID (bytes) of the encrypted dataset
    bytes32 commitment; // hash of the canonical plaintext; unique among live datasets
    uint32 sampleCount; // number of samples in the dataset
    bytes32 schemaId; // e.g. keccak256("mnist-784/labels-10")
    bytes32 licenseId; // e.g. keccak256("CC-BY-4.0"); carried in the event only
    bytes keyEnvelopesCid; // IPFS CID of the key envelopes for the validators; may be empty and published later
}

/// @notice A dataset's record (five storage slots, as laid out here).
struct Dataset {
    address contributor;
    DatasetStatus status;
    uint8 reasonCode; // reason of the decision (REASON_OK when accepted)
    uint8 acceptVotes;
    uint8 rejectVotes;
    uint8 quorum; // snapshotted at contribution
    uint8 maxVotes; // snapshotted `validatorsPerDataset`
    uint32 votingDeadline; // votes are accepted at or before it; `finalize` after it
    uint96 bond; // held while Pending
    uint96 royalties; // total royalties credited so far
    uint32 sampleCount;
    uint32 timesUsed; // royalty credits received; a used dataset can no longer be withdrawn
    bytes32 commitment;
    bytes32 schemaId;
}

/// @notice One validator's vote on a dataset.
struct Ballot {
    address validator;
    bool accept;
    uint8 reasonCode;
}

/// @notice Tunable parameters (set by PARAMS_ROLE). Bond, quorum and ballot size are snapshotted per dataset.
struct DataParams {
    uint96 bond; // tokens a contributor locks per dataset
    uint96 acceptReward; // paid from the reward pool to the contributor of an accepted dataset
    uint96 validatorReward; // paid from the reward pool to each validator on the winning side of an acceptance
    uint96 dissentSlash; // slashed (into the reward pool) from each validator that voted against the decision
    uint32 votingPeriod; // seconds from contribution to the voting deadline (< WorkerRegistry.MIN_UNBONDING_DELAY)
    uint8 quorum; // votes one side needs to decide
    uint8 validatorsPerDataset; // most votes a dataset takes (quorum <= it < 2 * quorum)
}
