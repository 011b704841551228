// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ITrainingJobs} from "../interfaces/ITrainingJobs.sol";
import {IWorkerRegistry} from "../interfaces/IWorkerRegistry.sol";
import {Job, JobStatus, Participant, RoundResult, TrainingCreditReason} from "../types/TrainingTypes.sol";

/// @title TrainingRounds
/// @notice The round protocol of `TrainingJobs` (enrollment, commit, reveal, aggregate vote, drops) and the round
/// payouts, run by DELEGATECALL on the TrainingJobs storage (`Store`): creation, evaluation, settlement and the
/// views stay in TrainingJobs. Events and errors are TrainingJobs' own (ITrainingJobs).
/// @dev Every loop runs over at most MAX_WORKERS (32) workers. Bit i of an exclusion mask is the worker of
/// partition index i (`workersOf` order).
library TrainingRounds {
    /// @notice WorkerRegistry capability bit a training worker needs.
    uint8 internal constant CAP_TRAIN = 1;
    /// @notice Fewest updates a round can be aggregated from.
    uint8 internal constant MIN_UPDATES = 2;
    /// @notice Longest accepted CID.
    uint256 internal constant MAX_CID_BYTES = 64;
    uint16 internal constant MAX_BPS = 10_000;

    /// @notice TrainingJobs' state that the rounds and their payouts touch.
    struct Store {
        mapping(uint64 jobId => Job) jobs;
        mapping(uint64 jobId => address[]) jobWorkers;
        mapping(uint64 jobId => mapping(address worker => Participant)) participants;
        mapping(uint64 jobId => mapping(address worker => bytes32)) commitments;
        mapping(uint64 jobId => mapping(uint16 round => RoundResult)) rounds;
        mapping(bytes32 voteKey => uint8) votes;
        mapping(address account => uint256) credits;
        uint256 escrowed;
        uint256 totalCredits;
        address treasury;
        uint96 lapseSlash;
    }

    /// @notice See `ITrainingJobs.enroll`. Locks the worker's stake in the WorkerRegistry until its training ends.
    function enroll(Store storage s, IWorkerRegistry registry, uint64 jobId) external {
        Job storage job = job_(s, jobId);
        _checkOpenPhase(jobId, job, JobStatus.Enrolling);
        if (msg.sender == job.requester) revert ITrainingJobs.TrainingJobsConflictOfInterest(jobId, msg.sender);
        if (!registry.isEligible(msg.sender, CAP_TRAIN)) revert ITrainingJobs.TrainingJobsNotTrainer(msg.sender);
        Participant storage p = s.participants[jobId][msg.sender];
        if (p.index != 0) revert ITrainingJobs.TrainingJobsAlreadyEnrolled(jobId, msg.sender);
        uint8 index = job.enrolled;
        p.index = index + 1;
        job.enrolled = index + 1;
        job.active = index + 1;
        s.jobWorkers[jobId].push(msg.sender);
        emit ITrainingJobs.WorkerEnrolled(jobId, msg.sender, index);
        registry.lockStake(msg.sender);
        if (index + 1 == job.workersPerRound) _startRound(s, jobId, job, 1);
    }

    /// @notice See `ITrainingJobs.commitUpdate`.
    function commit(Store storage s, IWorkerRegistry registry, uint64 jobId, bytes32 commitment) external {
        if (commitment == bytes32(0)) revert ITrainingJobs.TrainingJobsZeroHash();
        Job storage job = job_(s, jobId);
        _checkOpenPhase(jobId, job, JobStatus.Committing);
        Participant storage p = _activeParticipant(s, jobId);
        // Work is paid only to a worker that is still staked and bonded for it.
        if (!registry.isEligible(msg.sender, CAP_TRAIN)) revert ITrainingJobs.TrainingJobsNotTrainer(msg.sender);
        uint16 round = job.round;
        if (p.committedRound == round) revert ITrainingJobs.TrainingJobsAlreadyDone(jobId, round, msg.sender);
        p.committedRound = round;
        s.commitments[jobId][msg.sender] = commitment;
        uint8 committed = job.committed + 1;
        job.committed = committed;
        emit ITrainingJobs.UpdateCommitted(jobId, round, msg.sender, commitment);
        if (committed == job.active) _startPhase(jobId, job, JobStatus.Revealing, job.durations.reveal);
    }

    /// @notice See `ITrainingJobs.revealUpdate`.
    function reveal(
        Store storage s,
        uint64 jobId,
        bytes calldata updateCid,
        bytes32 updateHash,
        uint32 sampleCount,
        bytes32 salt
    ) external {
        checkCid(updateCid);
        if (updateHash == bytes32(0)) revert ITrainingJobs.TrainingJobsZeroHash();
        if (sampleCount == 0) revert ITrainingJobs.TrainingJobsZeroSamples();
        Job storage job = job_(s, jobId);
        _checkOpenPhase(jobId, job, JobStatus.Revealing);
        // Every active worker committed: the phase started when the last did, or `advance` dropped the rest.
        Participant storage p = _activeParticipant(s, jobId);
        uint16 round = job.round;
        if (p.revealedRound == round) revert ITrainingJobs.TrainingJobsAlreadyDone(jobId, round, msg.sender);
        if (
            s.commitments[jobId][msg.sender]
                != keccak256(abi.encode(updateCid, updateHash, sampleCount, salt, msg.sender))
        ) revert ITrainingJobs.TrainingJobsCommitmentMismatch(jobId, round, msg.sender);
        p.revealedRound = round;
        uint8 revealed = job.revealed + 1;
        job.revealed = revealed;
        emit ITrainingJobs.UpdateRevealed(jobId, round, msg.sender, updateCid, updateHash, sampleCount);
        if (revealed == job.active) _startPhase(jobId, job, JobStatus.Voting, job.durations.vote);
    }

    /// @notice See `ITrainingJobs.voteAggregate`.
    function vote(
        Store storage s,
        IWorkerRegistry registry,
        uint64 jobId,
        uint16 round,
        bytes32 aggregateHash,
        bytes calldata aggregateCid,
        uint256 excludedMask
    ) external {
        checkCid(aggregateCid);
        if (aggregateHash == bytes32(0)) revert ITrainingJobs.TrainingJobsZeroHash();
        Job storage job = job_(s, jobId);
        _checkOpenPhase(jobId, job, JobStatus.Voting);
        uint16 current = job.round;
        if (round != current) revert ITrainingJobs.TrainingJobsWrongRound(jobId, round, current);
        // Every active worker revealed: the phase started when the last did, or `advance` dropped the rest.
        Participant storage p = _activeParticipant(s, jobId);
        if (p.votedRound == round) revert ITrainingJobs.TrainingJobsAlreadyDone(jobId, round, msg.sender);
        uint8 revealed = job.revealed;
        _checkExclusion(s, jobId, round, revealed, excludedMask);
        bytes32 key = voteKey(jobId, round, aggregateHash, aggregateCid, excludedMask);
        p.votedRound = round;
        p.vote = bytes12(key);
        uint8 votes = s.votes[key] + 1;
        s.votes[key] = votes;
        emit ITrainingJobs.AggregateVoted(jobId, round, msg.sender, aggregateHash, aggregateCid, excludedMask);
        // ceil(revealed · quorumBps / 10_000)
        if (uint256(votes) * MAX_BPS >= uint256(revealed) * job.quorumBps) {
            _completeRound(s, registry, jobId, aggregateHash, aggregateCid, excludedMask, votes);
        }
    }

    /// @dev Records the agreed tuple as the round's global model, pays the round, then starts the next round or, after
    /// the last, releases the workers' stakes and starts the evaluation.
    function _completeRound(
        Store storage s,
        IWorkerRegistry registry,
        uint64 jobId,
        bytes32 aggregateHash,
        bytes calldata aggregateCid,
        uint256 excludedMask,
        uint8 votes
    ) private {
        Job storage job = s.jobs[jobId];
        uint16 round = job.round;
        RoundResult storage result = s.rounds[jobId][round];
        result.aggregateHash = aggregateHash;
        result.updates = job.revealed;
        result.votes = votes;
        result.aggregateCid = aggregateCid;
        result.excludedMask = excludedMask;
        emit ITrainingJobs.RoundCompleted(jobId, round, aggregateHash, aggregateCid, job.revealed, excludedMask);
        payRound(s, registry, jobId, excludedMask, s.participants[jobId][msg.sender].vote);
        if (round == job.rounds) {
            releaseActive(s, registry, jobId);
            _startPhase(jobId, job, JobStatus.Evaluating, job.durations.evaluation);
        } else {
            _startRound(s, jobId, job, round + 1);
        }
    }

    /// @notice See `ITrainingJobs.advance`.
    function advance(Store storage s, IWorkerRegistry registry, uint64 jobId) external {
        Job storage job = job_(s, jobId);
        JobStatus status = job.status;
        if (status != JobStatus.Committing && status != JobStatus.Revealing) {
            revert ITrainingJobs.TrainingJobsWrongStatus(jobId, status);
        }
        uint32 deadline = job.deadline;
        if (block.timestamp <= deadline) revert ITrainingJobs.TrainingJobsPhaseOpen(jobId, deadline);
        uint8 done = status == JobStatus.Committing ? job.committed : job.revealed;
        if (done < MIN_UPDATES) revert ITrainingJobs.TrainingJobsTooFewUpdates(jobId, done);
        dropLaggards(s, registry, jobId, status);
        if (status == JobStatus.Committing) _startPhase(jobId, job, JobStatus.Revealing, job.durations.reveal);
        else _startPhase(jobId, job, JobStatus.Voting, job.durations.vote);
    }

    /// @notice Ends the rounds of a job being cancelled in `status` after its deadline: drops the laggards of a
    /// round phase, pays the updates revealed in a stalled reveal or vote phase (revealed work is paid whatever
    /// the quorum does), and releases the remaining workers' stakes (already released once training ended).
    function closeRounds(Store storage s, IWorkerRegistry registry, uint64 jobId, JobStatus status) external {
        if (status == JobStatus.Evaluating) return;
        if (status != JobStatus.Enrolling) dropLaggards(s, registry, jobId, status);
        if ((status == JobStatus.Revealing || status == JobStatus.Voting) && s.jobs[jobId].revealed != 0) {
            payRound(s, registry, jobId, 0, bytes12(0));
        }
        releaseActive(s, registry, jobId);
    }

    /// @notice The key votes for a tuple are counted under.
    function voteKey(uint64 jobId, uint16 round, bytes32 aggregateHash, bytes calldata aggregateCid, uint256 mask)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(jobId, round, aggregateHash, keccak256(aggregateCid), mask));
    }

    /// @notice Reverts for an empty CID or one longer than `MAX_CID_BYTES`.
    function checkCid(bytes calldata cid) internal pure {
        uint256 length = cid.length;
        if (length == 0) revert ITrainingJobs.TrainingJobsEmptyCid();
        if (length > MAX_CID_BYTES) revert ITrainingJobs.TrainingJobsCidTooLong(length, MAX_CID_BYTES);
    }

    /// @notice The job, or a revert for an unknown id.
    function job_(Store storage s, uint64 jobId) internal view returns (Job storage job) {
        job = s.jobs[jobId];
        if (job.status == JobStatus.None) revert ITrainingJobs.TrainingJobsUnknownJob(jobId);
    }

    /// @notice Credits `amount` to `account`.
    function credit(Store storage s, address account, uint64 jobId, TrainingCreditReason reason, uint256 amount)
        internal
    {
        s.credits[account] += amount;
        s.totalCredits += amount;
        emit ITrainingJobs.Credited(account, jobId, reason, amount);
    }

    /// @dev Drops the active workers that did not act in the phase `status` of the current round and releases their
    /// stakes; slashes them (to the treasury) only if a peer did act: a phase nobody completed failed for everyone
    /// (missing inputs, an unservable job), which is not a worker's fault. Nor is round 1's commit: it is a worker's
    /// first use of its partition, whose keys the datasets' contributors share off chain after it enrolled, so a
    /// worker left without a key (withheld, or a contributor gone) cannot commit, and nothing on chain tells it from
    /// one that did not try; it is dropped unpaid, unslashed. From round 2 on it has held its data.
    function dropLaggards(Store storage s, IWorkerRegistry registry, uint64 jobId, JobStatus status) private {
        Job storage job = s.jobs[jobId];
        uint16 round = job.round;
        address[] storage workers = s.jobWorkers[jobId];
        uint256 n = workers.length;
        uint96 slash =
            (status == JobStatus.Committing && round == 1) || !_anyDone(s, jobId, status, round) ? 0 : s.lapseSlash;
        uint8 active = job.active;
        for (uint256 i; i < n; ++i) {
            address worker = workers[i];
            Participant storage p = s.participants[jobId][worker];
            if (p.dropped || _doneRound(p, status) == round) continue;
            p.dropped = true;
            --active;
            _drop(s, registry, jobId, worker, status, slash);
        }
        job.active = active;
    }

    function _drop(Store storage s, IWorkerRegistry registry, uint64 jobId, address worker, JobStatus status, uint96 slash)
        private
    {
        uint256 slashed = slash == 0 ? 0 : registry.slash(worker, slash, s.treasury);
        emit ITrainingJobs.WorkerDropped(jobId, s.jobs[jobId].round, worker, status, slashed);
        registry.releaseStake(worker);
    }

    /// @dev Whether an active worker did the phase `status` of `round`.
    function _anyDone(Store storage s, uint64 jobId, JobStatus status, uint16 round) private view returns (bool) {
        address[] storage workers = s.jobWorkers[jobId];
        uint256 n = workers.length;
        for (uint256 i; i < n; ++i) {
            Participant storage p = s.participants[jobId][workers[i]];
            if (!p.dropped && _doneRound(p, status) == round) return true;
        }
        return false;
    }

    /// @dev What `payRound` credits each revealed update of a round.
    struct Payout {
        uint16 round;
        uint256 share; // per update
        uint256 last; // the last included update: its share plus the dust
        uint256 included; // revealed updates not excluded
        uint256 excludedMask;
        bytes12 tag; // the winning tuple's vote tag, or 0 when no quorum was reached
    }

    /// @dev Credits the round's part of the worker pool: an equal share per update revealed this round, except the
    /// excluded ones', which are refunded to the requester (the quorum that excludes gains nothing by excluding);
    /// the last included update takes the dust. With a winning `tag`, slashes the voters of any other tuple.
    function payRound(Store storage s, IWorkerRegistry registry, uint64 jobId, uint256 excludedMask, bytes12 tag)
        private
    {
        Job storage job = s.jobs[jobId];
        uint8 revealed = job.revealed;
        uint256 roundPool = _roundPool(job, job.round);
        uint256 share = roundPool / revealed;
        Payout memory payout = Payout({
            round: job.round,
            share: share,
            last: roundPool - share * (revealed - 1),
            included: revealed - _popcount(excludedMask),
            excludedMask: excludedMask,
            tag: tag
        });
        _payWorkers(s, registry, jobId, payout);
        if (payout.included != revealed) {
            credit(s, job.requester, jobId, TrainingCreditReason.Refund, share * (revealed - payout.included));
        }
        job.paid += uint96(roundPool);
        s.escrowed -= roundPool;
    }

    function _payWorkers(Store storage s, IWorkerRegistry registry, uint64 jobId, Payout memory payout) private {
        address[] storage workers = s.jobWorkers[jobId];
        uint256 n = workers.length;
        uint256 credited;
        for (uint256 i; i < n; ++i) {
            address worker = workers[i];
            Participant storage p = s.participants[jobId][worker];
            if (payout.tag != bytes12(0) && p.votedRound == payout.round && p.vote != payout.tag) {
                _slashDissent(s, registry, jobId, payout.round, worker);
            }
            if (p.revealedRound != payout.round) continue;
            if (payout.excludedMask >> i & 1 == 1) {
                emit ITrainingJobs.UpdateExcluded(jobId, payout.round, worker);
                continue;
            }
            uint256 amount = ++credited == payout.included ? payout.last : payout.share;
            p.earned += uint96(amount);
            credit(s, worker, jobId, TrainingCreditReason.Update, amount);
        }
    }

    function _slashDissent(Store storage s, IWorkerRegistry registry, uint64 jobId, uint16 round, address worker)
        private
    {
        uint256 slashed = registry.slash(worker, s.lapseSlash, s.treasury);
        emit ITrainingJobs.DissentSlashed(jobId, round, worker, slashed);
    }

    /// @dev Releases the stakes of the job's workers that were not dropped (those were released when dropped).
    function releaseActive(Store storage s, IWorkerRegistry registry, uint64 jobId) private {
        address[] storage workers = s.jobWorkers[jobId];
        mapping(address => Participant) storage participants = s.participants[jobId];
        uint256 n = workers.length;
        for (uint256 i; i < n; ++i) {
            address worker = workers[i];
            if (!participants[worker].dropped) registry.releaseStake(worker);
        }
    }

    /// @dev Reverts unless every bit of `mask` names a worker that revealed this round and at least one revealed
    /// update stays included.
    function _checkExclusion(Store storage s, uint64 jobId, uint16 round, uint8 revealed, uint256 mask)
        private
        view
    {
        if (mask == 0) return;
        address[] storage workers = s.jobWorkers[jobId];
        uint256 n = workers.length;
        if (mask >> n != 0 || _popcount(mask) >= revealed) {
            revert ITrainingJobs.TrainingJobsInvalidExclusion(jobId, round, mask);
        }
        for (uint256 i; i < n; ++i) {
            if (mask >> i & 1 == 1 && s.participants[jobId][workers[i]].revealedRound != round) {
                revert ITrainingJobs.TrainingJobsInvalidExclusion(jobId, round, mask);
            }
        }
    }

    /// @dev The worker pool's part for `round`: equal parts, the last round takes the dust.
    function _roundPool(Job storage job, uint16 round) private view returns (uint256 roundPool) {
        uint256 budget = job.budget;
        uint256 rounds = job.rounds;
        uint256 workerPool = budget - budget * job.royaltyBps / MAX_BPS - budget * job.evaluationBps / MAX_BPS;
        roundPool = workerPool / rounds;
        if (round == rounds) roundPool = workerPool - roundPool * (rounds - 1);
    }

    /// @dev Opens round `round`'s commit phase, training from the previous round's aggregate (the initial weights,
    /// announced in `JobCreated`, for round 1).
    function _startRound(Store storage s, uint64 jobId, Job storage job, uint16 round) private {
        job.status = JobStatus.Committing;
        job.round = round;
        job.committed = 0;
        job.revealed = 0;
        uint32 deadline = uint32(block.timestamp) + job.durations.commit;
        job.deadline = deadline;
        RoundResult storage previous = s.rounds[jobId][round - 1];
        emit ITrainingJobs.RoundStarted(jobId, round, previous.aggregateHash, previous.aggregateCid, deadline);
    }

    function _startPhase(uint64 jobId, Job storage job, JobStatus status, uint32 duration) private {
        job.status = status;
        uint32 deadline = uint32(block.timestamp) + duration;
        job.deadline = deadline;
        emit ITrainingJobs.PhaseStarted(jobId, job.round, status, deadline);
    }

    /// @dev Reverts unless the job is in `status` and its phase's deadline has not passed.
    function _checkOpenPhase(uint64 jobId, Job storage job, JobStatus status) private view {
        JobStatus current = job.status;
        if (current != status) revert ITrainingJobs.TrainingJobsWrongStatus(jobId, current);
        uint32 deadline = job.deadline;
        if (block.timestamp > deadline) revert ITrainingJobs.TrainingJobsDeadlinePassed(jobId, deadline);
    }

    function _activeParticipant(Store storage s, uint64 jobId) private view returns (Participant storage p) {
        p = s.participants[jobId][msg.sender];
        if (p.index == 0 || p.dropped) revert ITrainingJobs.TrainingJobsNotParticipant(jobId, msg.sender);
    }

    function _doneRound(Participant storage p, JobStatus status) private view returns (uint16) {
        return status == JobStatus.Committing
            ? p.committedRound
            : status == JobStatus.Revealing ? p.revealedRound : p.votedRound;
    }

    function _popcount(uint256 mask) private pure returns (uint256 count) {
        for (; mask != 0; ++count) mask &= mask - 1;
    }
}
