// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {PermitPull} from "../libraries/PermitPull.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IDataRegistry} from "../interfaces/IDataRegistry.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {ITrainingJobs} from "../interfaces/ITrainingJobs.sol";
import {IWorkerRegistry} from "../interfaces/IWorkerRegistry.sol";
import {Dataset, DatasetStatus} from "../types/DataTypes.sol";
import {PermitArgs} from "../types/InferenceTypes.sol";
import {
    JobArgs,
    Job,
    JobStatus,
    Participant,
    PhaseDurations,
    RoundResult,
    Evaluation,
    TrainingCreditReason
} from "../types/TrainingTypes.sol";

/// @title TrainingJobs
/// @notice Escrowed federated training jobs run by staked workers in commit-reveal-vote rounds, scored by staked
/// validators, registered in the ModelRegistry with their provenance. All payouts are credits.
/// @dev Budget split, fixed at creation: royalties = budget·royaltyBps, evaluation pool = budget·evaluationBps,
/// the rest in equal parts per round (the last round takes the dust), each round's part in equal shares per
/// aggregated update (the last revealer takes the dust). Token accounting: balanceOf(this) == escrowed + Σ credits,
/// where escrowed == Σ (budget - paid) over open jobs (tokens sent here by plain transfers are not accounted).
/// Every loop runs over at most MAX_WORKERS workers, MAX_EVALUATORS evaluations or MAX_DATASETS datasets.
/// The trained model is registered as a new ModelRegistry model owned by this contract, with one free version, and
/// its ownership is offered to the requester (`acceptModelOwnership`); provenance stays here (`jobOfVersion`,
/// then `jobOf`, `datasetsOf`, `roundResultOf`, `evaluationsOf`),
/// update CIDs in the `UpdateRevealed` events.
contract TrainingJobs is ITrainingJobs, AccessControl, Pausable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Role that sets the lapse slash.
    bytes32 public constant PARAMS_ROLE = keccak256("PARAMS_ROLE");
    /// @notice Role that pauses job creation.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice WorkerRegistry capability bit a training worker needs.
    uint8 public constant CAP_TRAIN = 1;
    /// @notice WorkerRegistry capability bit an evaluator needs.
    uint8 public constant CAP_VALIDATE = 4;
    /// @notice Fewest updates a round can be aggregated from.
    uint8 public constant MIN_UPDATES = 2;
    /// @notice Most workers per job.
    uint8 public constant MAX_WORKERS = 32;
    /// @notice Most evaluations per job.
    uint8 public constant MAX_EVALUATORS = 15;
    /// @notice Most datasets per job.
    uint256 public constant MAX_DATASETS = 16;
    /// @notice Most rounds per job.
    uint16 public constant MAX_ROUNDS = 1_000;
    /// @notice Shortest phase: a requester, who receives the lapse slashes, cannot set deadlines no worker can meet.
    uint32 public constant MIN_PHASE_DURATION = 5 minutes;
    /// @notice Longest phase.
    uint32 public constant MAX_PHASE_DURATION = 30 days;
    /// @notice Longest accepted CID.
    uint256 public constant MAX_CID_BYTES = 64;
    uint16 private constant _MAX_BPS = 10_000;

    IERC20 private immutable _token;
    IWorkerRegistry private immutable _workers;
    IDataRegistry private immutable _data;
    IModelRegistry private immutable _models;

    uint96 private _lapseSlash;
    uint64 private _jobCount;
    uint256 private _escrowed;
    uint256 private _totalCredits;

    /// @dev What a job needs only at creation and finalization.
    struct JobData {
        bytes manifestCid;
        string modelName;
        uint64[] datasetIds;
        uint32[] samplesUsed;
    }

    mapping(uint64 jobId => Job) private _jobs;
    mapping(uint64 jobId => JobData) private _jobData;
    mapping(uint64 jobId => address[]) private _jobWorkers;
    mapping(uint64 jobId => mapping(address worker => Participant)) private _participants;
    mapping(uint64 jobId => mapping(address worker => bytes32)) private _commitments;
    mapping(uint64 jobId => mapping(uint16 round => RoundResult)) private _rounds;
    mapping(bytes32 roundHash => uint8) private _votes; // keccak256(jobId, round, aggregateHash)
    mapping(uint64 jobId => Evaluation[]) private _evaluations;
    mapping(uint64 versionId => uint64 jobId) private _jobOfVersion;
    mapping(address account => uint256) private _credits;

    /// @param admin Receives DEFAULT_ADMIN_ROLE, PARAMS_ROLE and PAUSER_ROLE.
    /// @param token_ The TesseraToken (budgets, payouts; permit).
    /// @param workers_ The WorkerRegistry (eligibility; this contract needs its SLASHER_ROLE).
    /// @param data_ The DataRegistry (datasets; this contract needs its ROYALTY_PAYER_ROLE).
    /// @param models_ The ModelRegistry the trained models are registered in.
    /// @param lapseSlash_ Tokens slashed from a worker that misses a deadline.
    constructor(
        address admin,
        IERC20 token_,
        IWorkerRegistry workers_,
        IDataRegistry data_,
        IModelRegistry models_,
        uint96 lapseSlash_
    ) {
        if (
            admin == address(0) || address(token_) == address(0) || address(workers_) == address(0)
                || address(data_) == address(0) || address(models_) == address(0)
        ) revert TrainingJobsZeroAddress();
        _token = token_;
        _workers = workers_;
        _data = data_;
        _models = models_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PARAMS_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
        _setLapseSlash(lapseSlash_);
    }

    // ---------------------------------------------------------------- creation

    /// @inheritdoc ITrainingJobs
    function createJob(JobArgs calldata args, PermitArgs calldata permit)
        external
        whenNotPaused
        nonReentrant
        returns (uint64 jobId)
    {
        _checkArgs(args);
        uint32[] memory samplesUsed = _checkDatasets(args.datasetIds);
        uint32 enrollDeadline = uint32(block.timestamp) + args.durations.enroll;
        jobId = ++_jobCount;
        _jobs[jobId] = Job({
            requester: msg.sender,
            status: JobStatus.Enrolling,
            round: 0,
            enrolled: 0,
            active: 0,
            committed: 0,
            revealed: 0,
            evaluations: 0,
            deadline: enrollDeadline,
            budget: args.budget,
            paid: 0,
            rounds: args.rounds,
            workersPerRound: args.workersPerRound,
            evaluators: args.evaluators,
            quorumBps: args.quorumBps,
            royaltyBps: args.royaltyBps,
            evaluationBps: args.evaluationBps,
            rule: args.rule,
            accuracy: 0,
            loss: 0,
            versionId: 0,
            durations: args.durations
        });
        JobData storage jd = _jobData[jobId];
        jd.manifestCid = args.manifestCid;
        jd.modelName = args.modelName;
        jd.datasetIds = args.datasetIds;
        jd.samplesUsed = samplesUsed;
        _escrowed += args.budget;
        emit JobCreated(jobId, msg.sender, args, samplesUsed, enrollDeadline);
        PermitPull.pullWithPermit(_token, args.budget, permit);
    }

    // ---------------------------------------------------------------- rounds

    /// @inheritdoc ITrainingJobs
    function enroll(uint64 jobId) external {
        Job storage job = _job(jobId);
        _checkOpenPhase(jobId, job, JobStatus.Enrolling);
        if (msg.sender == job.requester) revert TrainingJobsConflictOfInterest(jobId, msg.sender);
        if (!_workers.isEligible(msg.sender, CAP_TRAIN)) revert TrainingJobsNotTrainer(msg.sender);
        Participant storage p = _participants[jobId][msg.sender];
        if (p.index != 0) revert TrainingJobsAlreadyEnrolled(jobId, msg.sender);
        uint8 index = job.enrolled;
        p.index = index + 1;
        job.enrolled = index + 1;
        job.active = index + 1;
        _jobWorkers[jobId].push(msg.sender);
        emit WorkerEnrolled(jobId, msg.sender, index);
        if (index + 1 == job.workersPerRound) _startRound(jobId, job, 1);
    }

    /// @inheritdoc ITrainingJobs
    function commitUpdate(uint64 jobId, bytes32 commitment) external {
        if (commitment == bytes32(0)) revert TrainingJobsZeroHash();
        Job storage job = _job(jobId);
        _checkOpenPhase(jobId, job, JobStatus.Committing);
        Participant storage p = _activeParticipant(jobId);
        uint16 round = job.round;
        if (p.committedRound == round) revert TrainingJobsAlreadyDone(jobId, round, msg.sender);
        p.committedRound = round;
        _commitments[jobId][msg.sender] = commitment;
        uint8 committed = job.committed + 1;
        job.committed = committed;
        emit UpdateCommitted(jobId, round, msg.sender, commitment);
        if (committed == job.active) _startPhase(jobId, job, JobStatus.Revealing, job.durations.reveal);
    }

    /// @inheritdoc ITrainingJobs
    function revealUpdate(uint64 jobId, bytes calldata updateCid, bytes32 updateHash, uint32 sampleCount, bytes32 salt)
        external
    {
        _checkCid(updateCid);
        if (updateHash == bytes32(0)) revert TrainingJobsZeroHash();
        if (sampleCount == 0) revert TrainingJobsZeroSamples();
        Job storage job = _job(jobId);
        _checkOpenPhase(jobId, job, JobStatus.Revealing);
        // Every active worker committed: the phase started when the last did, or `advance` dropped the rest.
        Participant storage p = _activeParticipant(jobId);
        uint16 round = job.round;
        if (p.revealedRound == round) revert TrainingJobsAlreadyDone(jobId, round, msg.sender);
        if (
            _commitments[jobId][msg.sender]
                != keccak256(abi.encode(updateCid, updateHash, sampleCount, salt, msg.sender))
        ) revert TrainingJobsCommitmentMismatch(jobId, round, msg.sender);
        p.revealedRound = round;
        uint8 revealed = job.revealed + 1;
        job.revealed = revealed;
        emit UpdateRevealed(jobId, round, msg.sender, updateCid, updateHash, sampleCount);
        if (revealed == job.active) _startPhase(jobId, job, JobStatus.Voting, job.durations.vote);
    }

    /// @inheritdoc ITrainingJobs
    function voteAggregate(uint64 jobId, uint16 round, bytes32 aggregateHash, bytes calldata aggregateCid)
        external
        nonReentrant
    {
        _checkCid(aggregateCid);
        if (aggregateHash == bytes32(0)) revert TrainingJobsZeroHash();
        Job storage job = _job(jobId);
        _checkOpenPhase(jobId, job, JobStatus.Voting);
        uint16 current = job.round;
        if (round != current) revert TrainingJobsWrongRound(jobId, round, current);
        // Every active worker revealed: the phase started when the last did, or `advance` dropped the rest.
        Participant storage p = _activeParticipant(jobId);
        if (p.votedRound == round) revert TrainingJobsAlreadyDone(jobId, round, msg.sender);
        p.votedRound = round;
        bytes32 key = keccak256(abi.encode(jobId, round, aggregateHash));
        uint8 votes = _votes[key] + 1;
        _votes[key] = votes;
        emit AggregateVoted(jobId, round, msg.sender, aggregateHash, aggregateCid);
        uint8 revealed = job.revealed;
        // ceil(revealed · quorumBps / 10_000)
        if (uint256(votes) * _MAX_BPS >= uint256(revealed) * job.quorumBps) {
            _completeRound(jobId, job, round, aggregateHash, aggregateCid, revealed, votes);
        }
    }

    /// @inheritdoc ITrainingJobs
    function advance(uint64 jobId) external nonReentrant {
        Job storage job = _job(jobId);
        JobStatus status = job.status;
        if (status != JobStatus.Committing && status != JobStatus.Revealing) {
            revert TrainingJobsWrongStatus(jobId, status);
        }
        uint32 deadline = job.deadline;
        if (block.timestamp <= deadline) revert TrainingJobsPhaseOpen(jobId, deadline);
        uint8 done = status == JobStatus.Committing ? job.committed : job.revealed;
        if (done < MIN_UPDATES) revert TrainingJobsTooFewUpdates(jobId, done);
        _dropLaggards(jobId, job, status);
        if (status == JobStatus.Committing) _startPhase(jobId, job, JobStatus.Revealing, job.durations.reveal);
        else _startPhase(jobId, job, JobStatus.Voting, job.durations.vote);
    }

    // ---------------------------------------------------------------- evaluation and settlement

    /// @inheritdoc ITrainingJobs
    function postEvaluation(uint64 jobId, uint32 accuracy, uint32 loss) external {
        Job storage job = _job(jobId);
        _checkOpenPhase(jobId, job, JobStatus.Evaluating);
        if (msg.sender == job.requester || _participants[jobId][msg.sender].index != 0) {
            revert TrainingJobsConflictOfInterest(jobId, msg.sender);
        }
        if (!_workers.isEligible(msg.sender, CAP_VALIDATE)) revert TrainingJobsNotValidator(msg.sender);
        Evaluation[] storage evaluations = _evaluations[jobId];
        uint256 n = evaluations.length;
        uint8 evaluators = job.evaluators;
        if (n == evaluators) revert TrainingJobsEvaluationsComplete(jobId, evaluators);
        for (uint256 i; i < n; ++i) {
            if (evaluations[i].validator == msg.sender) revert TrainingJobsAlreadyEvaluated(jobId, msg.sender);
        }
        evaluations.push(Evaluation({validator: msg.sender, accuracy: accuracy, loss: loss}));
        job.evaluations = uint8(n + 1);
        emit EvaluationPosted(jobId, msg.sender, accuracy, loss);
    }

    /// @inheritdoc ITrainingJobs
    function finalize(uint64 jobId) external nonReentrant returns (uint64 versionId) {
        Job storage job = _job(jobId);
        JobStatus status = job.status;
        if (status != JobStatus.Evaluating) revert TrainingJobsWrongStatus(jobId, status);
        uint8 n = job.evaluations;
        uint32 deadline = job.deadline;
        if (block.timestamp <= deadline && n < job.evaluators) revert TrainingJobsPhaseOpen(jobId, deadline);
        if (n == 0) revert TrainingJobsNoEvaluations(jobId);

        (uint32 accuracy, uint32 loss) = _medians(_evaluations[jobId]);
        job.status = JobStatus.Finalized;
        job.accuracy = accuracy;
        job.loss = loss;
        // Every round paid its whole part of the worker pool: what is held is the evaluation pool + the royalties.
        uint256 budget = job.budget;
        uint256 royalties = budget * job.royaltyBps / _MAX_BPS;
        _escrowed -= budget - job.paid;
        job.paid = uint96(budget);
        _payEvaluators(jobId, budget * job.evaluationBps / _MAX_BPS, n);

        uint64 modelId;
        (modelId, versionId) = _registerModel(jobId, job);
        job.versionId = versionId;
        _jobOfVersion[versionId] = jobId;
        emit JobFinalized(jobId, modelId, versionId, accuracy, loss, n);
        _payRoyalties(jobId, royalties);
    }

    /// @inheritdoc ITrainingJobs
    function cancel(uint64 jobId) external nonReentrant {
        Job storage job = _job(jobId);
        JobStatus status = job.status;
        if (status == JobStatus.Finalized || status == JobStatus.Cancelled) {
            revert TrainingJobsWrongStatus(jobId, status);
        }
        uint32 deadline = job.deadline;
        bool expired = block.timestamp > deadline;
        if (status == JobStatus.Enrolling) {
            if (!expired && msg.sender != job.requester) revert TrainingJobsNotCancellable(jobId, msg.sender);
        } else {
            if (!expired) revert TrainingJobsPhaseOpen(jobId, deadline);
            if (
                (status == JobStatus.Committing && job.committed >= MIN_UPDATES)
                    || (status == JobStatus.Revealing && job.revealed >= MIN_UPDATES)
                    || (status == JobStatus.Evaluating && job.evaluations != 0)
            ) revert TrainingJobsNotStalled(jobId);
            if (status != JobStatus.Evaluating) _dropLaggards(jobId, job, status);
        }

        uint16 roundsCompleted = status == JobStatus.Evaluating ? job.rounds : (job.round == 0 ? 0 : job.round - 1);
        job.status = JobStatus.Cancelled;
        uint256 budget = job.budget;
        uint256 royalties = budget * job.royaltyBps / _MAX_BPS * roundsCompleted / job.rounds;
        uint256 refund = budget - job.paid - royalties;
        _escrowed -= budget - job.paid;
        job.paid = uint96(budget);
        if (refund != 0) _credit(job.requester, jobId, TrainingCreditReason.Refund, refund);
        emit JobCancelled(jobId, msg.sender, roundsCompleted, refund);
        _payRoyalties(jobId, royalties);
    }

    /// @inheritdoc ITrainingJobs
    function withdraw() external nonReentrant {
        uint256 amount = _credits[msg.sender];
        if (amount == 0) revert TrainingJobsNothingToWithdraw(msg.sender);
        delete _credits[msg.sender];
        _totalCredits -= amount;
        emit Withdrawn(msg.sender, amount);
        _token.safeTransfer(msg.sender, amount);
    }

    // ---------------------------------------------------------------- admin

    /// @notice Sets the tokens slashed from a worker that misses a deadline.
    function setLapseSlash(uint96 lapseSlash_) external onlyRole(PARAMS_ROLE) {
        _setLapseSlash(lapseSlash_);
    }

    /// @notice Stops new jobs. Rounds, evaluations, settlement and withdrawals keep working.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resumes new jobs.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc ITrainingJobs
    function jobOf(uint64 jobId) external view returns (Job memory) {
        return _job(jobId);
    }

    /// @inheritdoc ITrainingJobs
    function workersOf(uint64 jobId) external view returns (address[] memory) {
        _job(jobId);
        return _jobWorkers[jobId];
    }

    /// @inheritdoc ITrainingJobs
    function participantOf(uint64 jobId, address worker) external view returns (Participant memory) {
        return _participants[jobId][worker];
    }

    /// @inheritdoc ITrainingJobs
    function roundResultOf(uint64 jobId, uint16 round) external view returns (RoundResult memory) {
        return _rounds[jobId][round];
    }

    /// @inheritdoc ITrainingJobs
    function votesFor(uint64 jobId, uint16 round, bytes32 aggregateHash) external view returns (uint8) {
        return _votes[keccak256(abi.encode(jobId, round, aggregateHash))];
    }

    /// @inheritdoc ITrainingJobs
    function evaluationsOf(uint64 jobId) external view returns (Evaluation[] memory) {
        return _evaluations[jobId];
    }

    /// @inheritdoc ITrainingJobs
    function datasetsOf(uint64 jobId) external view returns (uint64[] memory, uint32[] memory) {
        _job(jobId);
        JobData storage jd = _jobData[jobId];
        return (jd.datasetIds, jd.samplesUsed);
    }

    /// @inheritdoc ITrainingJobs
    function jobOfVersion(uint64 versionId) external view returns (uint64) {
        return _jobOfVersion[versionId];
    }

    /// @inheritdoc ITrainingJobs
    function creditOf(address account) external view returns (uint256) {
        return _credits[account];
    }

    /// @inheritdoc ITrainingJobs
    function escrowed() external view returns (uint256) {
        return _escrowed;
    }

    /// @inheritdoc ITrainingJobs
    function totalCredits() external view returns (uint256) {
        return _totalCredits;
    }

    /// @inheritdoc ITrainingJobs
    function jobCount() external view returns (uint64) {
        return _jobCount;
    }

    /// @inheritdoc ITrainingJobs
    function lapseSlash() external view returns (uint96) {
        return _lapseSlash;
    }

    /// @notice The TesseraToken.
    function token() external view returns (address) {
        return address(_token);
    }

    /// @notice The WorkerRegistry.
    function workerRegistry() external view returns (address) {
        return address(_workers);
    }

    /// @notice The DataRegistry.
    function dataRegistry() external view returns (address) {
        return address(_data);
    }

    /// @notice The ModelRegistry.
    function modelRegistry() external view returns (address) {
        return address(_models);
    }

    // ---------------------------------------------------------------- internals

    function _job(uint64 jobId) private view returns (Job storage job) {
        job = _jobs[jobId];
        if (job.status == JobStatus.None) revert TrainingJobsUnknownJob(jobId);
    }

    /// @dev Reverts unless the job is in `status` and its phase's deadline has not passed.
    function _checkOpenPhase(uint64 jobId, Job storage job, JobStatus status) private view {
        JobStatus current = job.status;
        if (current != status) revert TrainingJobsWrongStatus(jobId, current);
        uint32 deadline = job.deadline;
        if (block.timestamp > deadline) revert TrainingJobsDeadlinePassed(jobId, deadline);
    }

    function _activeParticipant(uint64 jobId) private view returns (Participant storage p) {
        p = _participants[jobId][msg.sender];
        if (p.index == 0 || p.dropped) revert TrainingJobsNotParticipant(jobId, msg.sender);
    }

    /// @dev Opens round `round`'s commit phase, training from the previous round's aggregate (the initial weights,
    /// announced in `JobCreated`, for round 1).
    function _startRound(uint64 jobId, Job storage job, uint16 round) private {
        job.status = JobStatus.Committing;
        job.round = round;
        job.committed = 0;
        job.revealed = 0;
        uint32 deadline = uint32(block.timestamp) + job.durations.commit;
        job.deadline = deadline;
        RoundResult storage previous = _rounds[jobId][round - 1];
        emit RoundStarted(jobId, round, previous.aggregateHash, previous.aggregateCid, deadline);
    }

    function _startPhase(uint64 jobId, Job storage job, JobStatus status, uint32 duration) private {
        job.status = status;
        uint32 deadline = uint32(block.timestamp) + duration;
        job.deadline = deadline;
        emit PhaseStarted(jobId, job.round, status, deadline);
    }

    /// @dev Drops and slashes the active workers that did not act in the phase `status` of the current round.
    function _dropLaggards(uint64 jobId, Job storage job, JobStatus status) private {
        uint16 round = job.round;
        address[] storage workers = _jobWorkers[jobId];
        uint256 n = workers.length;
        uint8 active = job.active;
        uint96 slash = _lapseSlash;
        address requester = job.requester;
        for (uint256 i; i < n; ++i) {
            address worker = workers[i];
            Participant storage p = _participants[jobId][worker];
            if (p.dropped) continue;
            uint16 doneRound = status == JobStatus.Committing
                ? p.committedRound
                : status == JobStatus.Revealing ? p.revealedRound : p.votedRound;
            if (doneRound == round) continue;
            p.dropped = true;
            --active;
            uint256 slashed = slash == 0 ? 0 : _workers.slash(worker, slash, requester);
            emit WorkerDropped(jobId, round, worker, status, slashed);
        }
        job.active = active;
    }

    /// @dev Records the round's global model, pays the round's updates, then starts the next round or evaluation.
    function _completeRound(
        uint64 jobId,
        Job storage job,
        uint16 round,
        bytes32 aggregateHash,
        bytes calldata aggregateCid,
        uint8 revealed,
        uint8 votes
    ) private {
        RoundResult storage result = _rounds[jobId][round];
        result.aggregateHash = aggregateHash;
        result.updates = revealed;
        result.votes = votes;
        result.aggregateCid = aggregateCid;
        emit RoundCompleted(jobId, round, aggregateHash, aggregateCid, revealed);
        _payRound(jobId, job, round, revealed);
        if (round == job.rounds) _startPhase(jobId, job, JobStatus.Evaluating, job.durations.evaluation);
        else _startRound(jobId, job, round + 1);
    }

    /// @dev Credits the round's part of the worker pool in equal shares to its revealers (the last takes the dust).
    function _payRound(uint64 jobId, Job storage job, uint16 round, uint8 revealed) private {
        uint256 roundPool = _roundPool(job, round);
        uint256 share = roundPool / revealed;
        address[] storage workers = _jobWorkers[jobId];
        mapping(address => Participant) storage participants = _participants[jobId];
        uint256 n = workers.length;
        uint256 credited;
        for (uint256 i; i < n; ++i) {
            address worker = workers[i];
            Participant storage p = participants[worker];
            if (p.revealedRound != round || p.dropped) continue;
            uint256 amount = ++credited == revealed ? roundPool - share * (revealed - 1) : share;
            p.earned += uint96(amount);
            _credit(worker, jobId, TrainingCreditReason.Update, amount);
        }
        job.paid += uint96(roundPool);
        _escrowed -= roundPool;
    }

    /// @dev The worker pool's part for `round`: equal parts, the last round takes the dust.
    function _roundPool(Job storage job, uint16 round) private view returns (uint256 roundPool) {
        uint256 budget = job.budget;
        uint256 rounds = job.rounds;
        uint256 workerPool = budget - budget * job.royaltyBps / _MAX_BPS - budget * job.evaluationBps / _MAX_BPS;
        roundPool = workerPool / rounds;
        if (round == rounds) roundPool = workerPool - roundPool * (rounds - 1);
    }

    /// @dev Credits the evaluation pool in equal shares to the evaluators (the last takes the dust).
    function _payEvaluators(uint64 jobId, uint256 pool, uint256 n) private {
        if (pool == 0) return;
        Evaluation[] storage evaluations = _evaluations[jobId];
        uint256 share = pool / n;
        for (uint256 i; i < n; ++i) {
            uint256 amount = i == n - 1 ? pool - share * i : share;
            _credit(evaluations[i].validator, jobId, TrainingCreditReason.Evaluation, amount);
        }
    }

    /// @dev Pays `amount` to the contributors of the job's datasets that are still Accepted, pro rata to samples;
    /// if none is (all withdrawn since creation), the requester gets it back.
    function _payRoyalties(uint64 jobId, uint256 amount) private {
        if (amount == 0) return;
        JobData storage jd = _jobData[jobId];
        uint64[] memory ids = jd.datasetIds;
        uint32[] memory samples = jd.samplesUsed;
        uint256 kept;
        for (uint256 i; i < ids.length; ++i) {
            if (_data.datasetOf(ids[i]).status != DatasetStatus.Accepted) continue;
            ids[kept] = ids[i];
            samples[kept] = samples[i];
            ++kept;
        }
        if (kept == 0) {
            _credit(_jobs[jobId].requester, jobId, TrainingCreditReason.Refund, amount);
            return;
        }
        assembly ("memory-safe") {
            mstore(ids, kept)
            mstore(samples, kept)
        }
        emit RoyaltiesPaid(jobId, amount);
        _token.forceApprove(address(_data), amount);
        _data.creditRoyalties(ids, samples, amount);
    }

    /// @dev Registers the trained model (a new model with one free version) and offers it to the requester.
    function _registerModel(uint64 jobId, Job storage job) private returns (uint64 modelId, uint64 versionId) {
        JobData storage jd = _jobData[jobId];
        RoundResult storage last = _rounds[jobId][job.rounds];
        modelId = _models.registerModel(jd.modelName, "");
        versionId = _models.publishVersion(
            modelId,
            IModelRegistry.VersionInput({
                manifestCid: jd.manifestCid,
                weightsCid: last.aggregateCid,
                contentHash: last.aggregateHash,
                inputShape: new uint32[](0),
                outputShape: new uint32[](0),
                priceWei: 0,
                priceToken: 0,
                royaltyBps: 0
            })
        );
        _models.transferModelOwnership(modelId, job.requester);
    }

    /// @dev Lower medians (the mean of the two middle values for an even count), by insertion sort (n <= 15).
    function _medians(Evaluation[] storage evaluations) private view returns (uint32 accuracy, uint32 loss) {
        uint256 n = evaluations.length;
        uint32[] memory acc = new uint32[](n);
        uint32[] memory los = new uint32[](n);
        for (uint256 i; i < n; ++i) {
            Evaluation storage e = evaluations[i];
            _insert(acc, i, e.accuracy);
            _insert(los, i, e.loss);
        }
        accuracy = _middle(acc);
        loss = _middle(los);
    }

    function _insert(uint32[] memory sorted, uint256 length, uint32 value) private pure {
        uint256 j = length;
        while (j != 0 && sorted[j - 1] > value) {
            sorted[j] = sorted[j - 1];
            --j;
        }
        sorted[j] = value;
    }

    function _middle(uint32[] memory sorted) private pure returns (uint32) {
        uint256 n = sorted.length;
        if (n % 2 == 1) return sorted[n / 2];
        return uint32((uint256(sorted[n / 2 - 1]) + sorted[n / 2]) / 2);
    }

    function _credit(address account, uint64 jobId, TrainingCreditReason reason, uint256 amount) private {
        _credits[account] += amount;
        _totalCredits += amount;
        emit Credited(account, jobId, reason, amount);
    }

    function _checkArgs(JobArgs calldata a) private pure {
        _checkCid(a.manifestCid);
        _checkCid(a.weightsCid);
        _checkCid(a.evalSetCid);
        if (a.rounds == 0 || a.rounds > MAX_ROUNDS) revert TrainingJobsInvalidRounds(a.rounds);
        if (a.workersPerRound < MIN_UPDATES || a.workersPerRound > MAX_WORKERS) {
            revert TrainingJobsInvalidWorkers(a.workersPerRound);
        }
        if (a.evaluators == 0 || a.evaluators > MAX_EVALUATORS) revert TrainingJobsInvalidEvaluators(a.evaluators);
        if (a.localEpochs == 0 || a.batchSize == 0 || a.learningRate == 0) revert TrainingJobsInvalidHyperparameters();
        if (a.quorumBps <= _MAX_BPS / 2 || a.quorumBps > _MAX_BPS) revert TrainingJobsInvalidQuorum(a.quorumBps);
        if (uint256(a.royaltyBps) + a.evaluationBps >= _MAX_BPS) {
            revert TrainingJobsInvalidShares(a.royaltyBps, a.evaluationBps);
        }
        PhaseDurations calldata d = a.durations;
        _checkDuration(d.enroll);
        _checkDuration(d.commit);
        _checkDuration(d.reveal);
        _checkDuration(d.vote);
        _checkDuration(d.evaluation);
        uint256 workerPool =
            a.budget - uint256(a.budget) * a.royaltyBps / _MAX_BPS - uint256(a.budget) * a.evaluationBps / _MAX_BPS;
        if (workerPool < uint256(a.rounds) * a.workersPerRound) revert TrainingJobsBudgetTooLow(a.budget);
    }

    /// @dev Reverts unless every dataset is Accepted and listed once. @return samplesUsed Their sample counts.
    function _checkDatasets(uint64[] calldata ids) private view returns (uint32[] memory samplesUsed) {
        uint256 n = ids.length;
        if (n == 0 || n > MAX_DATASETS) revert TrainingJobsInvalidDatasets(n);
        samplesUsed = new uint32[](n);
        uint64 datasetCount = _data.datasetCount();
        for (uint256 i; i < n; ++i) {
            uint64 id = ids[i];
            for (uint256 j; j < i; ++j) {
                if (ids[j] == id) revert TrainingJobsInvalidDatasets(n);
            }
            if (id == 0 || id > datasetCount) revert TrainingJobsDatasetNotAccepted(id);
            Dataset memory d = _data.datasetOf(id);
            if (d.status != DatasetStatus.Accepted) revert TrainingJobsDatasetNotAccepted(id);
            samplesUsed[i] = d.sampleCount;
        }
    }

    function _checkDuration(uint32 duration) private pure {
        if (duration < MIN_PHASE_DURATION || duration > MAX_PHASE_DURATION) revert TrainingJobsInvalidDuration();
    }

    function _checkCid(bytes calldata cid) private pure {
        uint256 length = cid.length;
        if (length == 0) revert TrainingJobsEmptyCid();
        if (length > MAX_CID_BYTES) revert TrainingJobsCidTooLong(length, MAX_CID_BYTES);
    }

    function _setLapseSlash(uint96 lapseSlash_) private {
        _lapseSlash = lapseSlash_;
        emit LapseSlashUpdated(lapseSlash_);
    }
}
