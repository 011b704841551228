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
    TrainingCreditReason,
    TrainingParams
} from "../types/TrainingTypes.sol";
import {TrainingRounds} from "./TrainingRounds.sol";

/// @title TrainingJobs
/// @notice Escrowed federated training jobs run by staked workers in commit-reveal-vote rounds, scored by staked
/// validators, registered in the ModelRegistry with their provenance. All payouts are credits.
/// @dev Creation, evaluation, settlement, money and views live here; the round protocol and the round payouts run in
/// the linked library `TrainingRounds` on this contract's storage (`_s`). Budget split, fixed at creation:
/// royalties = budget·royaltyBps, evaluation pool = budget·evaluationBps, the rest in equal parts per round (the
/// last round takes the dust), each round's part in equal shares per revealed update (the last included takes the
/// dust; excluded updates' shares go back to the requester). Token accounting: balanceOf(this) == escrowed +
/// Σ credits, where escrowed == Σ (budget - paid) over open jobs (tokens sent here by plain transfers are not
/// accounted). Every loop runs over at most MAX_WORKERS workers, MAX_EVALUATORS evaluations or MAX_DATASETS
/// datasets. Slashes go to the treasury. The trained model is registered as a new ModelRegistry model owned by this
/// contract, with one free version, and its ownership is offered to the requester (`acceptModelOwnership`);
/// provenance stays here (`jobOfVersion`, then `jobOf`, `datasetsOf`, `roundResultOf`, `evaluationsOf`), update
/// CIDs in the `UpdateRevealed` events.
contract TrainingJobs is ITrainingJobs, AccessControl, Pausable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using TrainingRounds for TrainingRounds.Store;

    /// @notice Role that sets the treasury, the lapse slash and the least pay per update.
    bytes32 public constant PARAMS_ROLE = keccak256("PARAMS_ROLE");
    /// @notice Role that pauses job creation.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice WorkerRegistry capability bit a training worker needs.
    uint8 public constant CAP_TRAIN = TrainingRounds.CAP_TRAIN;
    /// @notice WorkerRegistry capability bit an evaluator needs.
    uint8 public constant CAP_VALIDATE = 4;
    /// @notice Fewest updates a round can be aggregated from.
    uint8 public constant MIN_UPDATES = TrainingRounds.MIN_UPDATES;
    /// @notice Most workers per job.
    uint8 public constant MAX_WORKERS = 32;
    /// @notice Fewest evaluations a job's metrics are the median of: one outlier cannot move a median of three.
    uint8 public constant MIN_EVALUATORS = 3;
    /// @notice Most evaluations per job.
    uint8 public constant MAX_EVALUATORS = 15;
    /// @notice Most datasets per job.
    uint256 public constant MAX_DATASETS = 16;
    /// @notice Most rounds per job.
    uint16 public constant MAX_ROUNDS = 1_000;
    /// @notice Shortest phase, so that deadlines leave an honest worker time to act.
    uint32 public constant MIN_PHASE_DURATION = 5 minutes;
    /// @notice Longest phase.
    uint32 public constant MAX_PHASE_DURATION = 30 days;
    /// @notice Longest accepted CID.
    uint256 public constant MAX_CID_BYTES = TrainingRounds.MAX_CID_BYTES;
    /// @notice Highest accuracy (100 % in 1e-6 units).
    uint32 public constant MAX_ACCURACY = 1_000_000;
    /// @notice Gas given to the model registration: a caller cannot make it fail by sending too little.
    uint256 public constant REGISTRATION_GAS = 1_000_000;
    uint16 private constant _MAX_BPS = TrainingRounds.MAX_BPS;

    IERC20 private immutable _token;
    IWorkerRegistry private immutable _workers;
    IDataRegistry private immutable _data;
    IModelRegistry private immutable _models;

    TrainingRounds.Store private _s;
    uint64 private _jobCount;
    uint96 private _minUpdatePay;

    /// @dev What a job needs only at creation and finalization.
    struct JobData {
        bytes manifestCid;
        string modelName;
        uint64[] datasetIds;
        uint32[] samplesUsed;
    }

    mapping(uint64 jobId => JobData) private _jobData;
    mapping(uint64 jobId => Evaluation[]) private _evaluations;
    mapping(uint64 versionId => uint64 jobId) private _jobOfVersion;

    /// @param admin Receives DEFAULT_ADMIN_ROLE, PARAMS_ROLE and PAUSER_ROLE.
    /// @param token_ The TesseraToken (budgets, payouts; permit).
    /// @param workers_ The WorkerRegistry (eligibility; this contract needs its SLASHER_ROLE and STAKE_LOCKER_ROLE).
    /// @param data_ The DataRegistry (datasets; this contract needs its ROYALTY_PAYER_ROLE).
    /// @param models_ The ModelRegistry the trained models are registered in.
    /// @param params_ Treasury, lapse slash, least pay per update.
    constructor(
        address admin,
        IERC20 token_,
        IWorkerRegistry workers_,
        IDataRegistry data_,
        IModelRegistry models_,
        TrainingParams memory params_
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
        _setParams(params_);
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
        _s.jobs[jobId] = Job({
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
        _s.escrowed += args.budget;
        emit JobCreated(jobId, msg.sender, args, samplesUsed, enrollDeadline);
        PermitPull.pullWithPermit(_token, args.budget, permit);
    }

    // ---------------------------------------------------------------- rounds (TrainingRounds)

    /// @inheritdoc ITrainingJobs
    function enroll(uint64 jobId) external nonReentrant {
        _s.enroll(_workers, jobId);
    }

    /// @inheritdoc ITrainingJobs
    function commitUpdate(uint64 jobId, bytes32 commitment) external {
        _s.commit(_workers, jobId, commitment);
    }

    /// @inheritdoc ITrainingJobs
    function revealUpdate(uint64 jobId, bytes calldata updateCid, bytes32 updateHash, uint32 sampleCount, bytes32 salt)
        external
    {
        _s.reveal(jobId, updateCid, updateHash, sampleCount, salt);
    }

    /// @inheritdoc ITrainingJobs
    function voteAggregate(
        uint64 jobId,
        uint16 round,
        bytes32 aggregateHash,
        bytes calldata aggregateCid,
        uint256 excludedMask
    ) external nonReentrant {
        _s.vote(_workers, jobId, round, aggregateHash, aggregateCid, excludedMask);
    }

    /// @inheritdoc ITrainingJobs
    function advance(uint64 jobId) external nonReentrant {
        _s.advance(_workers, jobId);
    }

    // ---------------------------------------------------------------- evaluation and settlement

    /// @inheritdoc ITrainingJobs
    function postEvaluation(uint64 jobId, uint32 accuracy, uint32 loss) external {
        if (accuracy > MAX_ACCURACY) revert TrainingJobsInvalidEvaluation(accuracy);
        Job storage job = _s.job_(jobId);
        JobStatus current = job.status;
        if (current != JobStatus.Evaluating) revert TrainingJobsWrongStatus(jobId, current);
        uint32 deadline = job.deadline;
        if (block.timestamp > deadline) revert TrainingJobsDeadlinePassed(jobId, deadline);
        if (msg.sender == job.requester || _s.participants[jobId][msg.sender].index != 0) {
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
        Job storage job = _s.job_(jobId);
        JobStatus status = job.status;
        if (status != JobStatus.Evaluating) revert TrainingJobsWrongStatus(jobId, status);
        uint8 n = job.evaluations;
        uint32 deadline = job.deadline;
        if (block.timestamp <= deadline && n < job.evaluators) revert TrainingJobsPhaseOpen(jobId, deadline);
        if (n < MIN_EVALUATORS) revert TrainingJobsTooFewEvaluations(jobId, n, MIN_EVALUATORS);

        (uint32 accuracy, uint32 loss) = _medians(_evaluations[jobId]);
        job.status = JobStatus.Finalized;
        job.accuracy = accuracy;
        job.loss = loss;
        // Every round paid its whole part of the worker pool: what is held is the evaluation pool + the royalties.
        uint256 budget = job.budget;
        uint256 royalties = budget * job.royaltyBps / _MAX_BPS;
        _s.escrowed -= budget - job.paid;
        job.paid = uint96(budget);
        _payEvaluators(jobId, budget * job.evaluationBps / _MAX_BPS, n, n);

        // 64/63 of the registration's gas: with less, the call would get less than REGISTRATION_GAS.
        uint256 needed = REGISTRATION_GAS + REGISTRATION_GAS / 63 + 10_000;
        if (gasleft() < needed) revert TrainingJobsInsufficientGas(gasleft(), needed);
        uint64 modelId;
        try this.registerTrainedModel{gas: REGISTRATION_GAS}(jobId) returns (uint64 modelId_, uint64 versionId_) {
            (modelId, versionId) = (modelId_, versionId_);
            job.versionId = versionId;
            _jobOfVersion[versionId] = jobId;
        } catch (bytes memory reason) {
            emit ModelRegistrationFailed(jobId, reason);
        }
        emit JobFinalized(jobId, modelId, versionId, accuracy, loss, n);
        _payRoyalties(jobId, royalties);
    }

    /// @inheritdoc ITrainingJobs
    function registerTrainedModel(uint64 jobId) external returns (uint64 modelId, uint64 versionId) {
        if (msg.sender != address(this)) revert TrainingJobsOnlySelf(msg.sender);
        JobData storage jd = _jobData[jobId];
        RoundResult storage last = _s.rounds[jobId][_s.jobs[jobId].rounds];
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
        _models.transferModelOwnership(modelId, _s.jobs[jobId].requester);
    }

    /// @inheritdoc ITrainingJobs
    function cancel(uint64 jobId) external nonReentrant {
        Job storage job = _s.job_(jobId);
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
                    || (status == JobStatus.Evaluating && job.evaluations >= MIN_EVALUATORS)
            ) revert TrainingJobsNotStalled(jobId);
        }
        if (status != JobStatus.Evaluating) _s.closeRounds(_workers, jobId, status);

        uint256 budget = job.budget;
        uint16 roundsCompleted = status == JobStatus.Evaluating ? job.rounds : (job.round == 0 ? 0 : job.round - 1);
        job.status = JobStatus.Cancelled;
        uint256 evaluationsPaid = status == JobStatus.Evaluating
            ? _payEvaluators(jobId, budget * job.evaluationBps / _MAX_BPS, job.evaluations, job.evaluators)
            : 0;
        uint256 royalties = budget * job.royaltyBps / _MAX_BPS * roundsCompleted / job.rounds;
        uint256 refund = budget - job.paid - evaluationsPaid - royalties;
        _s.escrowed -= budget - job.paid;
        job.paid = uint96(budget);
        if (refund != 0) _s.credit(job.requester, jobId, TrainingCreditReason.Refund, refund);
        emit JobCancelled(jobId, msg.sender, roundsCompleted, refund);
        _payRoyalties(jobId, royalties);
    }

    /// @inheritdoc ITrainingJobs
    function withdraw() external nonReentrant {
        uint256 amount = _s.credits[msg.sender];
        if (amount == 0) revert TrainingJobsNothingToWithdraw(msg.sender);
        delete _s.credits[msg.sender];
        _s.totalCredits -= amount;
        emit Withdrawn(msg.sender, amount);
        _token.safeTransfer(msg.sender, amount);
    }

    // ---------------------------------------------------------------- admin

    /// @notice Sets the treasury, the lapse slash and the least pay per update (for jobs created from now on).
    function setParams(TrainingParams calldata params_) external onlyRole(PARAMS_ROLE) {
        _setParams(params_);
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
        return _s.job_(jobId);
    }

    /// @inheritdoc ITrainingJobs
    function workersOf(uint64 jobId) external view returns (address[] memory) {
        _s.job_(jobId);
        return _s.jobWorkers[jobId];
    }

    /// @inheritdoc ITrainingJobs
    function participantOf(uint64 jobId, address worker) external view returns (Participant memory) {
        return _s.participants[jobId][worker];
    }

    /// @inheritdoc ITrainingJobs
    function roundResultOf(uint64 jobId, uint16 round) external view returns (RoundResult memory) {
        return _s.rounds[jobId][round];
    }

    /// @inheritdoc ITrainingJobs
    function votesFor(uint64 jobId, uint16 round, bytes32 aggregateHash, bytes calldata aggregateCid, uint256 excludedMask)
        external
        view
        returns (uint8)
    {
        return _s.votes[TrainingRounds.voteKey(jobId, round, aggregateHash, aggregateCid, excludedMask)];
    }

    /// @inheritdoc ITrainingJobs
    function evaluationsOf(uint64 jobId) external view returns (Evaluation[] memory) {
        return _evaluations[jobId];
    }

    /// @inheritdoc ITrainingJobs
    function datasetsOf(uint64 jobId) external view returns (uint64[] memory, uint32[] memory) {
        _s.job_(jobId);
        JobData storage jd = _jobData[jobId];
        return (jd.datasetIds, jd.samplesUsed);
    }

    /// @inheritdoc ITrainingJobs
    function jobOfVersion(uint64 versionId) external view returns (uint64) {
        return _jobOfVersion[versionId];
    }

    /// @inheritdoc ITrainingJobs
    function creditOf(address account) external view returns (uint256) {
        return _s.credits[account];
    }

    /// @inheritdoc ITrainingJobs
    function escrowed() external view returns (uint256) {
        return _s.escrowed;
    }

    /// @inheritdoc ITrainingJobs
    function totalCredits() external view returns (uint256) {
        return _s.totalCredits;
    }

    /// @inheritdoc ITrainingJobs
    function jobCount() external view returns (uint64) {
        return _jobCount;
    }

    /// @inheritdoc ITrainingJobs
    function params() external view returns (TrainingParams memory) {
        return TrainingParams({treasury: _s.treasury, lapseSlash: _s.lapseSlash, minUpdatePay: _minUpdatePay});
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

    /// @dev Credits `pool / parts` to each of the first `n` evaluators (with n == parts the last takes the dust).
    /// @return paid What was credited.
    function _payEvaluators(uint64 jobId, uint256 pool, uint256 n, uint256 parts) private returns (uint256 paid) {
        if (pool == 0) return 0;
        Evaluation[] storage evaluations = _evaluations[jobId];
        uint256 share = pool / parts;
        for (uint256 i; i < n; ++i) {
            uint256 amount = i == parts - 1 ? pool - share * i : share;
            paid += amount;
            _s.credit(evaluations[i].validator, jobId, TrainingCreditReason.Evaluation, amount);
        }
    }

    /// @dev Pays `amount` to the contributors of the job's datasets that are still Accepted, pro rata to samples;
    /// if none is (all withdrawn since creation) or the DataRegistry refuses them, the requester gets it back.
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
        address requester = _s.jobs[jobId].requester;
        if (kept == 0) {
            _s.credit(requester, jobId, TrainingCreditReason.Refund, amount);
            return;
        }
        assembly ("memory-safe") {
            mstore(ids, kept)
            mstore(samples, kept)
        }
        _token.forceApprove(address(_data), amount);
        try _data.creditRoyalties(ids, samples, amount) {
            emit RoyaltiesPaid(jobId, amount);
        } catch (bytes memory reason) {
            _token.forceApprove(address(_data), 0);
            emit RoyaltiesFailed(jobId, amount, reason);
            _s.credit(requester, jobId, TrainingCreditReason.Refund, amount);
        }
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

    function _checkArgs(JobArgs calldata a) private view {
        TrainingRounds.checkCid(a.manifestCid);
        TrainingRounds.checkCid(a.weightsCid);
        TrainingRounds.checkCid(a.evalSetCid);
        if (a.rounds == 0 || a.rounds > MAX_ROUNDS) revert TrainingJobsInvalidRounds(a.rounds);
        uint8 k = a.workersPerRound;
        if (k < MIN_UPDATES || k > MAX_WORKERS) revert TrainingJobsInvalidWorkers(k);
        if (a.evaluators < MIN_EVALUATORS || a.evaluators > MAX_EVALUATORS) {
            revert TrainingJobsInvalidEvaluators(a.evaluators);
        }
        if (a.localEpochs == 0 || a.batchSize == 0 || a.learningRate == 0) revert TrainingJobsInvalidHyperparameters();
        // The quorum must be above half, and reachable without one of the k workers: ceil(k·q) <= k - 1.
        uint16 q = a.quorumBps;
        if (q <= _MAX_BPS / 2 || uint256(k) * q > uint256(k - 1) * _MAX_BPS) revert TrainingJobsInvalidQuorum(q);
        if (uint256(a.royaltyBps) + a.evaluationBps >= _MAX_BPS) {
            revert TrainingJobsInvalidShares(a.royaltyBps, a.evaluationBps);
        }
        PhaseDurations calldata d = a.durations;
        _checkDuration(d.enroll);
        _checkDuration(d.commit);
        _checkDuration(d.reveal);
        _checkDuration(d.vote);
        _checkDuration(d.evaluation);
        uint256 budget = a.budget;
        uint256 workerPool = budget - budget * a.royaltyBps / _MAX_BPS - budget * a.evaluationBps / _MAX_BPS;
        uint256 minPay = _minUpdatePay == 0 ? 1 : _minUpdatePay;
        uint256 minimum = uint256(a.rounds) * k * minPay;
        if (workerPool < minimum) revert TrainingJobsBudgetTooLow(a.budget, minimum);
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

    function _setParams(TrainingParams memory params_) private {
        if (params_.treasury == address(0)) revert TrainingJobsZeroAddress();
        _s.treasury = params_.treasury;
        _s.lapseSlash = params_.lapseSlash;
        _minUpdatePay = params_.minUpdatePay;
        emit ParamsUpdated(params_);
    }
}
