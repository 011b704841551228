// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice Lifecycle of a contributed dataset.
/// @dev Pending → Accepted | Rejected (the drawn committee's stake-weighted vote) | Undecided (too little
/// participation or a tie) | Withdrawn (by the contributor, only before its committee can be known).
/// Accepted → Withdrawn while no job has used it.
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
    DeferredAcceptReward
}

/// @notice What a contributor supplies to `contribute`.
struct ContributionArgs {
    bytes cid; // IPFS CID (bytes) of the encrypted dataset
    bytes32 commitment; // hash of the canonical plaintext; unique among the contributor's live datasets
    uint32 sampleCount; // number of samples in the dataset
    bytes32 schemaId; // e.g. keccak256("mnist-784/labels-10")
    bytes32 licenseId; // e.g. keccak256("CC-BY-4.0"); carried in the event only
    bytes keyEnvelopesCid; // IPFS CID of the key envelopes for the validators; may be empty and published later
}

/// @notice A dataset's record (four storage slots, as laid out here). Its committee and tally: `DatasetValidation`.
struct Dataset {
    address contributor;
    DatasetStatus status;
    uint8 reasonCode; // reason of the decision (REASON_OK when accepted)
    uint8 acceptVotes; // validators that voted accept
    uint8 rejectVotes; // validators that voted reject
    uint8 quorum; // snapshotted: committee seats that must vote for a decision
    uint8 committeeSize; // snapshotted: expected committee seats of the sortition
    uint32 votingDeadline; // 0 until the committee is drawn; then votes are accepted at or before it
    uint96 bond; // held while Pending
    uint96 royalties; // total royalties credited so far
    uint32 sampleCount;
    uint32 timesUsed; // royalty credits received; a used dataset can no longer be withdrawn
    bytes32 commitment;
    bytes32 schemaId;
}

/// @notice A dataset's committee and tally (three storage slots, as laid out here).
struct DatasetValidation {
    bytes32 seed; // the sortition seed; 0 until the committee is drawn
    uint128 totalStake; // total validator stake at the snapshot block (set at the draw)
    uint128 unvotedStake; // snapshot stake of the validators (but the contributor) that did not vote yet
    uint48 snapshotBlock; // the contribution block: committee stakes are read at its end
    uint48 seedBlock; // the block whose hash seeds the committee (the contribution block, unless re-anchored)
    uint32 acceptSeats; // committee seats (in SEAT units) that voted accept
    uint32 rejectSeats; // committee seats (in SEAT units) that voted reject
    uint96 deferredReward; // acceptance reward still owed, paid from the pool when a job first pays royalties
}

/// @notice One validator's vote on a dataset.
struct Ballot {
    address validator;
    bool accept;
    uint8 reasonCode;
    uint32 seats; // its vote's weight, in SEAT units (1000 = one committee seat)
}

/// @notice Tunable parameters (set by PARAMS_ROLE). Bond, quorum and committee size are snapshotted per dataset.
struct DataParams {
    uint96 bond; // tokens a contributor locks per dataset; the reward pool keeps it when the dataset is rejected
    uint96 acceptReward; // paid from the reward pool to the contributor of an accepted dataset (part deferred)
    uint96 validatorReward; // paid from the reward pool per seat to each validator on the deciding side
    uint96 dissentSlash; // slashed per seat (into the reward pool) from each validator that voted against the decision
    uint32 votingPeriod; // seconds from the committee draw to the voting deadline (< WorkerRegistry.MIN_UNBONDING_DELAY)
    uint8 quorum; // committee seats that must vote for a decision (1..committeeSize)
    uint8 committeeSize; // expected committee seats (1..MAX_COMMITTEE_SIZE); >= the number of equally staked
    // validators means every validator is drawn
    uint16 upfrontRewardBps; // share of acceptReward paid at acceptance; the rest waits for the first royalty
}
