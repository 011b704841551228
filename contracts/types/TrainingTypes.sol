// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice Lifecycle of a training job; the middle three repeat once per round.
/// @dev Enrolling → (Committing → Revealing → Voting) × rounds → Evaluating → Finalized. Any open status → Cancelled
/// (by the requester while Enrolling, by anyone once a deadline passed and the job cannot advance).
enum JobStatus {
    None,
    Enrolling,
    Committing,
    Revealing,
    Voting,
    Evaluating,
    Finalized,
    Cancelled
}

/// @notice How the workers combine the round's updates (off chain; carried for the workers).
enum AggregationRule {
    FedAvg,
    Median,
    TrimmedMean,
    ScreenedFedAvg // FedAvg over the updates left after a deterministic outlier screen (the excluded set is voted on)
}

/// @notice Why an account was credited (the `Credited` event).
enum TrainingCreditReason {
    Update, // a worker's share of a completed round
    Evaluation, // a validator's share of the evaluation pool
    Refund // what the requester gets back on cancellation or finalization, and the shares of excluded updates
}

/// @notice The protocol's settings (PARAMS_ROLE).
struct TrainingParams {
    address treasury; // receives every slash: never a party to the job
    uint96 lapseSlash; // tokens slashed from a worker that misses a deadline others met, or dissents from a quorum
    uint96 minUpdatePay; // least pay per worker per round a job's budget must offer
}

/// @notice Phase lengths in seconds, each counted from the moment the phase starts.
struct PhaseDurations {
    uint32 enroll;
    uint32 commit;
    uint32 reveal;
    uint32 vote;
    uint32 evaluation;
}

/// @notice What a requester supplies to `createJob`.
struct JobArgs {
    bytes manifestCid; // tfjs model.json (architecture + weight manifest) of the initial and the trained model
    bytes weightsCid; // initial weights
    bytes evalSetCid; // the evaluation set the validators score the final model on
    string modelName; // name of the ModelRegistry model registered at finalization
    uint64[] datasetIds; // DataRegistry datasets, all Accepted at creation
    uint96 budget; // tokens escrowed
    uint16 rounds; // R
    uint8 workersPerRound; // K
    uint8 evaluators; // N: the evaluation closes early once N validators posted
    uint16 localEpochs; // E
    uint32 batchSize; // B
    uint32 learningRate; // in 1e-6 units
    AggregationRule rule;
    uint16 quorumBps; // share of the round's revealers that must post the same aggregate hash (e.g. 6_667)
    uint16 royaltyBps; // share of the budget for the datasets' contributors
    uint16 evaluationBps; // share of the budget for the validators
    PhaseDurations durations;
}

/// @notice A job's state and terms (four storage slots, as laid out here).
struct Job {
    address requester;
    JobStatus status;
    uint16 round; // current round, 1-based (0 while Enrolling; rounds while Evaluating)
    uint8 enrolled; // workers enrolled so far (their partition indexes are 0..enrolled-1)
    uint8 active; // enrolled workers not dropped
    uint8 committed; // active workers that committed in the current round
    uint8 revealed; // active workers that revealed in the current round
    uint8 evaluations; // evaluations posted
    uint32 deadline; // end of the current phase
    uint96 budget;
    uint96 paid; // credited to workers, validators and royalties so far
    uint16 rounds;
    uint8 workersPerRound;
    uint8 evaluators;
    uint16 quorumBps;
    uint16 royaltyBps;
    uint16 evaluationBps;
    AggregationRule rule;
    uint32 accuracy; // median, 1e-6 units, set at finalization
    uint32 loss; // median, 1e-6 units, set at finalization
    uint64 versionId; // ModelRegistry version registered at finalization
    PhaseDurations durations;
}

/// @notice An enrolled worker's record in one job (one storage slot).
struct Participant {
    uint8 index; // partition index + 1 (0 = not enrolled)
    bool dropped; // missed a deadline: out of the job, slashed
    uint16 committedRound;
    uint16 revealedRound;
    uint16 votedRound;
    uint96 earned; // credited for this job's rounds so far
    bytes12 vote; // leading bytes of the key of the tuple it voted in `votedRound` (to find dissent from the quorum)
}

/// @notice A completed round's global model.
struct RoundResult {
    bytes32 aggregateHash; // sha256 of the aggregated weights, as agreed by the quorum
    uint8 updates; // updates aggregated (revealed by the deadline)
    uint8 votes; // votes for the winning tuple
    bytes aggregateCid; // CID of the aggregate, as agreed by the quorum
    uint256 excludedMask; // bit i set: the update of the worker with partition index i was left out (and not paid)
}

/// @notice One validator's evaluation of a job's final model.
struct Evaluation {
    address validator;
    uint32 accuracy; // 1e-6 units
    uint32 loss; // 1e-6 units
}
