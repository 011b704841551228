// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {
    JobArgs,
    Job,
    JobStatus,
    Participant,
    RoundResult,
    Evaluation,
    TrainingCreditReason,
    TrainingParams
} from "../types/TrainingTypes.sol";
import {PermitArgs} from "../types/InferenceTypes.sol";

/// @title ITrainingJobs
/// @notice Federated training jobs: a requester escrows a budget; staked CAP_TRAIN workers enroll (their order is
/// their data partition), then every round each commits to its update, reveals it, and votes on the hash of the
/// aggregate it computed; a quorum of equal hashes makes the round's global model. Staked CAP_VALIDATE validators
/// then score the final model, whose median metrics go on chain with a ModelRegistry version. A worker's stake stays
/// bonded from enrollment to the end of its training; a worker that misses a deadline its peers met is dropped and
/// slashed (but round 1's commit, which can fail for a key a contributor withheld: dropped unslashed), and so is one
/// that votes against a reached quorum; slashes go to the treasury, never to a party of the
/// job. Every payment is a credit pulled with `withdraw`. Nothing is ever locked: each phase has a deadline after
/// which anyone can `advance` or `cancel` the job, and settlement does not depend on another contract succeeding.
interface ITrainingJobs {
    /// @notice Thrown for a job id that was never assigned.
    error TrainingJobsUnknownJob(uint64 jobId);
    /// @notice Thrown for an empty manifest, weights or evaluation-set CID.
    error TrainingJobsEmptyCid();
    /// @notice Thrown for a CID longer than `MAX_CID_BYTES`.
    error TrainingJobsCidTooLong(uint256 length, uint256 maxLength);
    /// @notice Thrown when the dataset list is empty, longer than `MAX_DATASETS`, or repeats an id.
    error TrainingJobsInvalidDatasets(uint256 count);
    /// @notice Thrown when a dataset of the job is not Accepted in the DataRegistry.
    error TrainingJobsDatasetNotAccepted(uint64 datasetId);
    /// @notice Thrown when rounds is 0 or above `MAX_ROUNDS`.
    error TrainingJobsInvalidRounds(uint16 rounds);
    /// @notice Thrown when workers per round is below `MIN_UPDATES` or above `MAX_WORKERS`.
    error TrainingJobsInvalidWorkers(uint8 workersPerRound);
    /// @notice Thrown when evaluators is below `MIN_EVALUATORS` (a median one evaluator can move) or above
    /// `MAX_EVALUATORS`.
    error TrainingJobsInvalidEvaluators(uint8 evaluators);
    /// @notice Thrown for zero epochs, batch size or learning rate.
    error TrainingJobsInvalidHyperparameters();
    /// @notice Thrown when the quorum is not above half and at most 10_000 bps, or when it would need every one of the
    /// job's `workersPerRound` workers (one worker could then block every round).
    error TrainingJobsInvalidQuorum(uint16 quorumBps);
    /// @notice Thrown when royalty plus evaluation shares reach 10_000 bps.
    error TrainingJobsInvalidShares(uint16 royaltyBps, uint16 evaluationBps);
    /// @notice Thrown when a phase duration is below `MIN_PHASE_DURATION` or above `MAX_PHASE_DURATION`.
    error TrainingJobsInvalidDuration();
    /// @notice Thrown when the worker pool cannot pay `minUpdatePay` per update of every round.
    /// @param budget The budget offered.
    /// @param minimum The least worker pool (budget less royalties and evaluation pool): rounds × workers × minUpdatePay.
    error TrainingJobsBudgetTooLow(uint96 budget, uint256 minimum);
    /// @notice Thrown when the job is not in the status the call needs.
    error TrainingJobsWrongStatus(uint64 jobId, JobStatus status);
    /// @notice Thrown when acting after the current phase's deadline.
    error TrainingJobsDeadlinePassed(uint64 jobId, uint32 deadline);
    /// @notice Thrown when advancing or cancelling a job whose current phase is still open.
    error TrainingJobsPhaseOpen(uint64 jobId, uint32 deadline);
    /// @notice Thrown when advancing a phase that closed with fewer than `MIN_UPDATES` (cancel it instead).
    error TrainingJobsTooFewUpdates(uint64 jobId, uint8 count);
    /// @notice Thrown when cancelling a job that can still advance (advance it instead).
    error TrainingJobsNotStalled(uint64 jobId);
    /// @notice Thrown when the caller is not a registered, staked, non-unstaking worker with CAP_TRAIN.
    error TrainingJobsNotTrainer(address account);
    /// @notice Thrown when the caller is not a registered, staked, non-unstaking worker with CAP_VALIDATE.
    error TrainingJobsNotValidator(address account);
    /// @notice Thrown when a worker enrolls twice.
    error TrainingJobsAlreadyEnrolled(uint64 jobId, address worker);
    /// @notice Thrown when the requester enrolls in or evaluates its own job, or a worker evaluates a job it trained.
    error TrainingJobsConflictOfInterest(uint64 jobId, address account);
    /// @notice Thrown when the caller is not an active (enrolled, not dropped) worker of the job.
    error TrainingJobsNotParticipant(uint64 jobId, address account);
    /// @notice Thrown when a worker commits, reveals or votes twice in a round.
    error TrainingJobsAlreadyDone(uint64 jobId, uint16 round, address worker);
    /// @notice Thrown for a zero commitment or aggregate hash.
    error TrainingJobsZeroHash();
    /// @notice Thrown for a reveal of zero samples.
    error TrainingJobsZeroSamples();
    /// @notice Thrown when a reveal does not hash to the worker's commitment.
    error TrainingJobsCommitmentMismatch(uint64 jobId, uint16 round, address worker);
    /// @notice Thrown when voting on a round other than the current one.
    error TrainingJobsWrongRound(uint64 jobId, uint16 round, uint16 currentRound);
    /// @notice Thrown when a validator evaluates a job twice.
    error TrainingJobsAlreadyEvaluated(uint64 jobId, address validator);
    /// @notice Thrown when evaluating a job that already has its `evaluators` evaluations.
    error TrainingJobsEvaluationsComplete(uint64 jobId, uint8 evaluators);
    /// @notice Thrown when finalizing with fewer than `MIN_EVALUATORS` evaluations (cancel once the phase closed).
    error TrainingJobsTooFewEvaluations(uint64 jobId, uint8 count, uint8 minimum);
    /// @notice Thrown for an accuracy above 100 % (1_000_000 in 1e-6 units).
    error TrainingJobsInvalidEvaluation(uint32 accuracy);
    /// @notice Thrown for an exclusion mask that names a worker that did not reveal an update this round, or every
    /// revealed update.
    error TrainingJobsInvalidExclusion(uint64 jobId, uint16 round, uint256 excludedMask);
    /// @notice Thrown when `registerTrainedModel` is called by anyone but this contract.
    error TrainingJobsOnlySelf(address caller);
    /// @notice Thrown when finalizing with too little gas left for the model registration to run.
    error TrainingJobsInsufficientGas(uint256 gasLeft, uint256 needed);
    /// @notice Thrown when the caller may not cancel the job now.
    error TrainingJobsNotCancellable(uint64 jobId, address caller);
    /// @notice Thrown by `withdraw` when the caller has no credit.
    error TrainingJobsNothingToWithdraw(address account);
    /// @notice Thrown when a constructor address is zero.
    error TrainingJobsZeroAddress();

    /// @notice Emitted when a job is created; workers enroll from here.
    /// @param jobId The new id (sequential from 1).
    /// @param requester Who escrowed the budget.
    /// @param args Every term of the job (model, datasets, hyperparameters, shares, durations).
    /// @param samplesUsed Samples of each dataset (its sample count), in `args.datasetIds` order.
    /// @param enrollDeadline Last second at which workers can enroll.
    event JobCreated(
        uint64 indexed jobId, address indexed requester, JobArgs args, uint32[] samplesUsed, uint32 enrollDeadline
    );
    /// @notice Emitted when a worker enrolls.
    /// @param jobId The job.
    /// @param worker The worker.
    /// @param partitionIndex Its data partition (enrollment order, from 0) among `workersPerRound`.
    event WorkerEnrolled(uint64 indexed jobId, address indexed worker, uint8 partitionIndex);
    /// @notice Emitted when a round's commit phase starts.
    /// @param jobId The job.
    /// @param round The round (from 1).
    /// @param modelHash Hash of the global model to train from (zero for round 1: the initial weights).
    /// @param modelCid CID of the global model to train from.
    /// @param commitDeadline Last second for commits.
    event RoundStarted(
        uint64 indexed jobId, uint16 indexed round, bytes32 modelHash, bytes modelCid, uint32 commitDeadline
    );
    /// @notice Emitted when a reveal, vote or evaluation phase starts.
    /// @param jobId The job.
    /// @param round The round.
    /// @param status Revealing, Voting or Evaluating.
    /// @param deadline Last second of the phase.
    event PhaseStarted(uint64 indexed jobId, uint16 indexed round, JobStatus status, uint32 deadline);
    /// @notice Emitted when a worker commits to its update.
    /// @param jobId The job.
    /// @param round The round.
    /// @param worker The worker.
    /// @param commitment keccak256(abi.encode(updateCid, updateHash, sampleCount, salt, worker)).
    event UpdateCommitted(uint64 indexed jobId, uint16 indexed round, address indexed worker, bytes32 commitment);
    /// @notice Emitted when a worker reveals its update.
    /// @param jobId The job.
    /// @param round The round.
    /// @param worker The worker.
    /// @param updateCid CID of the update (the weights after local training).
    /// @param updateHash sha256 of the update bytes.
    /// @param sampleCount Samples it trained on (FedAvg weight).
    event UpdateRevealed(
        uint64 indexed jobId,
        uint16 indexed round,
        address indexed worker,
        bytes updateCid,
        bytes32 updateHash,
        uint32 sampleCount
    );
    /// @notice Emitted for every aggregate vote. The quorum counts votes for the same tuple (hash, CID, mask).
    /// @param jobId The job.
    /// @param round The round.
    /// @param worker The voter.
    /// @param aggregateHash sha256 of the aggregate it computed.
    /// @param aggregateCid The aggregate's CID (its content address: part of what is agreed).
    /// @param excludedMask The updates its aggregation rule left out: bit i for the worker of partition index i.
    event AggregateVoted(
        uint64 indexed jobId,
        uint16 indexed round,
        address indexed worker,
        bytes32 aggregateHash,
        bytes aggregateCid,
        uint256 excludedMask
    );
    /// @notice Emitted when a quorum agrees on a round's aggregate, which becomes the global model.
    /// @param jobId The job.
    /// @param round The round.
    /// @param aggregateHash The agreed hash.
    /// @param aggregateCid The agreed CID.
    /// @param updates Updates revealed in the round (aggregated or excluded).
    /// @param excludedMask The agreed exclusions: bit i for the worker of partition index i.
    event RoundCompleted(
        uint64 indexed jobId,
        uint16 indexed round,
        bytes32 aggregateHash,
        bytes aggregateCid,
        uint8 updates,
        uint256 excludedMask
    );
    /// @notice Emitted for each update the agreed aggregation left out; its share is refunded to the requester.
    /// @param jobId The job.
    /// @param round The round.
    /// @param worker The worker whose update was excluded.
    event UpdateExcluded(uint64 indexed jobId, uint16 indexed round, address indexed worker);
    /// @notice Emitted when a worker that voted for another tuple than the reached quorum's is slashed.
    /// @param jobId The job.
    /// @param round The round.
    /// @param worker The dissenter.
    /// @param slashed Tokens taken from its stake (sent to the treasury).
    event DissentSlashed(uint64 indexed jobId, uint16 indexed round, address indexed worker, uint256 slashed);
    /// @notice Emitted when a worker that missed a deadline is dropped from the job (its stake released) and, if a
    /// peer met that deadline, slashed (never for round 1's commit).
    /// @param jobId The job.
    /// @param round The round.
    /// @param worker The worker.
    /// @param status The phase it missed (Committing, Revealing or Voting).
    /// @param slashed Tokens taken from its stake (sent to the treasury).
    event WorkerDropped(
        uint64 indexed jobId, uint16 indexed round, address indexed worker, JobStatus status, uint256 slashed
    );
    /// @notice Emitted when a validator scores the final model.
    /// @param jobId The job.
    /// @param validator The validator.
    /// @param accuracy Accuracy on the evaluation set, 1e-6 units.
    /// @param loss Loss on the evaluation set, 1e-6 units.
    event EvaluationPosted(uint64 indexed jobId, address indexed validator, uint32 accuracy, uint32 loss);
    /// @notice Emitted when a job is finalized and its model registered.
    /// @param jobId The job.
    /// @param modelId The ModelRegistry model (ownership offered to the requester).
    /// @param versionId The ModelRegistry version of the trained model (0 if the registration failed).
    /// @param accuracy Median accuracy, 1e-6 units.
    /// @param loss Median loss, 1e-6 units.
    /// @param evaluations Evaluations the medians are taken over.
    event JobFinalized(
        uint64 indexed jobId,
        uint64 indexed modelId,
        uint64 indexed versionId,
        uint32 accuracy,
        uint32 loss,
        uint8 evaluations
    );
    /// @notice Emitted when a job is cancelled.
    /// @param jobId The job.
    /// @param caller Who cancelled.
    /// @param roundsCompleted Rounds whose workers were paid.
    /// @param refund Credited back to the requester.
    event JobCancelled(uint64 indexed jobId, address indexed caller, uint16 roundsCompleted, uint256 refund);
    /// @notice Emitted when the trained model could not be registered; the job is finalized and paid out anyway, the
    /// model stays in `roundResultOf(jobId, rounds)`.
    /// @param jobId The job.
    /// @param reason The registry's revert data.
    event ModelRegistrationFailed(uint64 indexed jobId, bytes reason);
    /// @notice Emitted when the DataRegistry refused the royalties; they are credited back to the requester.
    /// @param jobId The job.
    /// @param amount Tokens refunded.
    /// @param reason The registry's revert data.
    event RoyaltiesFailed(uint64 indexed jobId, uint256 amount, bytes reason);
    /// @notice Emitted when royalties are paid to the DataRegistry's contributors.
    /// @param jobId The job.
    /// @param amount Tokens paid (the whole royalty at finalization, pro rata to completed rounds on cancellation).
    event RoyaltiesPaid(uint64 indexed jobId, uint256 amount);
    /// @notice Emitted whenever an account is credited.
    /// @param account The credited account.
    /// @param jobId The job it is credited for.
    /// @param reason Update share, evaluation share or refund.
    /// @param amount Tokens credited.
    event Credited(address indexed account, uint64 indexed jobId, TrainingCreditReason reason, uint256 amount);
    /// @notice Emitted on `withdraw`.
    /// @param account Receiver.
    /// @param amount Tokens paid.
    event Withdrawn(address indexed account, uint256 amount);
    /// @notice Emitted when the protocol's settings change.
    /// @param params The new settings.
    event ParamsUpdated(TrainingParams params);

    /// @notice Creates a job and escrows `args.budget` tokens, optionally through an ERC-2612 permit.
    function createJob(JobArgs calldata args, PermitArgs calldata permit) external returns (uint64 jobId);
    /// @notice Enrolls the caller (a staked CAP_TRAIN worker) until `workersPerRound` did; the last one starts
    /// round 1. The partition index is the enrollment order.
    function enroll(uint64 jobId) external;
    /// @notice Commits to the caller's update of the current round (the caller must still be an eligible CAP_TRAIN
    /// worker). The last active worker to commit starts the reveal phase.
    function commitUpdate(uint64 jobId, bytes32 commitment) external;
    /// @notice Reveals the committed update. The last active worker to reveal starts the vote phase.
    function revealUpdate(uint64 jobId, bytes calldata updateCid, bytes32 updateHash, uint32 sampleCount, bytes32 salt)
        external;
    /// @notice Posts the aggregate the caller computed from the revealed updates: its sha256, its CID and the updates
    /// its rule excluded (bit i: the worker of partition index i). Revealers only. The vote that brings a tuple to the
    /// quorum completes the round, pays the included updates, refunds the excluded ones' shares to the requester and
    /// slashes the workers that voted for another tuple.
    function voteAggregate(
        uint64 jobId,
        uint16 round,
        bytes32 aggregateHash,
        bytes calldata aggregateCid,
        uint256 excludedMask
    ) external;
    /// @notice Closes a commit or reveal phase after its deadline: the workers that missed it are dropped (and
    /// slashed, but for round 1's commit), and the job goes on with the others if at least `MIN_UPDATES` remain. Anyone.
    function advance(uint64 jobId) external;
    /// @notice Posts the caller's (a staked CAP_VALIDATE validator's) scores of the final model (accuracy at most
    /// 1_000_000). The N-th evaluation closes the phase.
    function postEvaluation(uint64 jobId, uint32 accuracy, uint32 loss) external;
    /// @notice After the evaluation phase (deadline passed or N evaluations, at least `MIN_EVALUATORS`), puts the
    /// median metrics on chain, registers the trained model in the ModelRegistry (ownership offered to the
    /// requester; a failed registration is recorded, not fatal), pays royalties and validators. Anyone.
    function finalize(uint64 jobId) external returns (uint64 versionId);
    /// @notice Registers a finalized job's model; called by `finalize` on this contract itself so that a failing
    /// registry cannot block the payouts.
    function registerTrainedModel(uint64 jobId) external returns (uint64 modelId, uint64 versionId);
    /// @notice Cancels a job: the requester while Enrolling; anyone after the enroll deadline, or once a later
    /// phase's deadline passed and the job cannot advance (laggards are dropped, and slashed if a peer met the
    /// deadline). Completed rounds stay paid; the updates revealed in the stalled round are paid its part; posted
    /// evaluations are paid their share; royalties are paid pro rata to completed rounds; the rest is credited back
    /// to the requester. Every worker's stake is released.
    function cancel(uint64 jobId) external;
    /// @notice Pays out the caller's whole credit.
    function withdraw() external;

    /// @notice A job's state and terms.
    function jobOf(uint64 jobId) external view returns (Job memory);
    /// @notice The workers of a job in enrollment (partition) order.
    function workersOf(uint64 jobId) external view returns (address[] memory);
    /// @notice A worker's record in a job.
    function participantOf(uint64 jobId, address worker) external view returns (Participant memory);
    /// @notice A completed round's global model.
    function roundResultOf(uint64 jobId, uint16 round) external view returns (RoundResult memory);
    /// @notice Votes a tuple (aggregate hash, CID, exclusion mask) got in a round.
    function votesFor(uint64 jobId, uint16 round, bytes32 aggregateHash, bytes calldata aggregateCid, uint256 excludedMask)
        external
        view
        returns (uint8);
    /// @notice The evaluations posted for a job.
    function evaluationsOf(uint64 jobId) external view returns (Evaluation[] memory);
    /// @notice A job's datasets and the samples it uses of each.
    function datasetsOf(uint64 jobId) external view returns (uint64[] memory datasetIds, uint32[] memory samplesUsed);
    /// @notice The job that trained a ModelRegistry version, or 0: the key to its provenance (`jobOf`, `datasetsOf`,
    /// `roundResultOf` per round, `evaluationsOf`; update CIDs in the `UpdateRevealed` events).
    function jobOfVersion(uint64 versionId) external view returns (uint64);
    /// @notice Credit of `account`.
    function creditOf(address account) external view returns (uint256);
    /// @notice Tokens held for open jobs: Σ (budget - paid) over jobs neither finalized nor cancelled.
    function escrowed() external view returns (uint256);
    /// @notice Σ credits not yet withdrawn.
    function totalCredits() external view returns (uint256);
    /// @notice Number of jobs ever created (the last id).
    function jobCount() external view returns (uint64);
    /// @notice The protocol's settings: treasury, lapse slash, least pay per update.
    function params() external view returns (TrainingParams memory);
}
