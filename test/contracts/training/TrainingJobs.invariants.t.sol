// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {TrainingJobsBase} from "./TrainingJobsBase.sol";
import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {Vm} from "forge-std/Vm.sol";
import {TesseraToken} from "../../../contracts/token/TesseraToken.sol";
import {TrainingJobs} from "../../../contracts/training/TrainingJobs.sol";
import {ITrainingJobs} from "../../../contracts/interfaces/ITrainingJobs.sol";
import {PermitArgs} from "../../../contracts/types/InferenceTypes.sol";
import {
    JobArgs, Job, JobStatus, Participant, PhaseDurations, AggregationRule
} from "../../../contracts/types/TrainingTypes.sol";

/// @notice Drives TrainingJobs with random job creations, enrollments, commits, reveals, (split) votes, advances,
/// cancellations, evaluations, finalizations, withdrawals and time jumps. It books every budget that comes in,
/// every credit and royalty from the events, and every withdrawal.
contract TrainingJobsHandler is CommonBase, StdCheats, StdUtils {
    TrainingJobs internal immutable jobs;
    TesseraToken internal immutable token;
    address[] internal trainers;
    address[] internal evaluators;
    uint64[] internal datasetIds;
    address[] public accounts; // every account that can hold credit
    address[] internal requesters;

    uint256 public ghostBudgets; // Σ budgets escrowed
    uint256 public ghostCredited; // Σ Credited amounts
    uint256 public ghostRoyalties; // Σ RoyaltiesPaid amounts
    uint256 public ghostWithdrawn; // Σ withdrawals
    mapping(address => uint256) public ghostEarned;
    mapping(address => uint256) public ghostWithdrawnBy;
    mapping(uint64 => uint256) public ghostPaidOut; // credits + royalties booked per job
    uint256 public calls;
    uint256 public finalized;
    uint256 public cancelled;

    constructor(
        TrainingJobs jobs_,
        TesseraToken token_,
        address[] memory trainers_,
        address[] memory evaluators_,
        uint64[] memory datasetIds_
    ) {
        jobs = jobs_;
        token = token_;
        trainers = trainers_;
        evaluators = evaluators_;
        datasetIds = datasetIds_;
        requesters.push(makeAddr("requester0"));
        requesters.push(makeAddr("requester1"));
        for (uint256 i; i < requesters.length; ++i) accounts.push(requesters[i]);
        for (uint256 i; i < trainers.length; ++i) accounts.push(trainers[i]);
        for (uint256 i; i < evaluators.length; ++i) accounts.push(evaluators[i]);
    }

    function accountCount() external view returns (uint256) {
        return accounts.length;
    }

    function createJob(uint256 actorSeed, uint96 budget, uint16 rounds, uint8 k, uint16 royaltyBps, uint8 n)
        external
    {
        ++calls;
        // At most two open jobs at a time, so that random calls drive them to completion.
        uint256 open;
        for (uint64 id = 1; id <= jobs.jobCount(); ++id) {
            JobStatus status = jobs.jobOf(id).status;
            if (status != JobStatus.Finalized && status != JobStatus.Cancelled) ++open;
        }
        if (open >= 2) return;
        address requester = requesters[actorSeed % requesters.length];
        budget = uint96(bound(budget, 1e6, 1e26));
        JobArgs memory a = JobArgs({
            manifestCid: hex"0155",
            weightsCid: hex"0155",
            evalSetCid: hex"0155",
            modelName: "m",
            datasetIds: datasetIds,
            budget: budget,
            rounds: uint16(bound(rounds, 1, 2)),
            workersPerRound: uint8(bound(k, 3, 4)),
            evaluators: uint8(bound(n, 3, 3)),
            localEpochs: 1,
            batchSize: 1,
            learningRate: 1,
            rule: AggregationRule.Median,
            quorumBps: 6_666,
            royaltyBps: uint16(bound(royaltyBps, 0, 3_000)),
            evaluationBps: 700,
            durations: PhaseDurations({
                enroll: 1 days,
                commit: 4 hours,
                reveal: 4 hours,
                vote: 4 hours,
                evaluation: 4 hours
            })
        });
        token.mint(requester, budget);
        vm.startPrank(requester);
        token.approve(address(jobs), budget);
        PermitArgs memory none;
        jobs.createJob(a, none);
        vm.stopPrank();
        ghostBudgets += budget;
    }

    function enroll(uint256 jobSeed, uint256 workerSeed) external {
        ++calls;
        (uint64 jobId, bool found) = _pick(jobSeed, JobStatus.Enrolling);
        if (!found) return;
        for (uint256 i; i < trainers.length; ++i) {
            address worker = trainers[(workerSeed + i) % trainers.length];
            if (jobs.participantOf(jobId, worker).index != 0) continue;
            vm.recordLogs();
            vm.prank(worker);
            jobs.enroll(jobId);
            _book();
            return;
        }
    }

    function commit(uint256 jobSeed, uint256 workerSeed) external {
        ++calls;
        (uint64 jobId, bool found) = _pick(jobSeed, JobStatus.Committing);
        if (!found) return;
        Job memory job = jobs.jobOf(jobId);
        (address worker, bool ok) = _pickWorker(jobId, workerSeed, 0, job.round);
        if (!ok) return;
        (bytes memory cid, bytes32 h, uint32 n, bytes32 salt) = _update(jobId, job.round, worker);
        vm.recordLogs();
        vm.prank(worker);
        jobs.commitUpdate(jobId, keccak256(abi.encode(cid, h, n, salt, worker)));
        _book();
    }

    function reveal(uint256 jobSeed, uint256 workerSeed) external {
        ++calls;
        (uint64 jobId, bool found) = _pick(jobSeed, JobStatus.Revealing);
        if (!found) return;
        Job memory job = jobs.jobOf(jobId);
        (address worker, bool ok) = _pickWorker(jobId, workerSeed, 1, job.round);
        if (!ok) return;
        (bytes memory cid, bytes32 h, uint32 n, bytes32 salt) = _update(jobId, job.round, worker);
        vm.recordLogs();
        vm.prank(worker);
        jobs.revealUpdate(jobId, cid, h, n, salt);
        _book();
    }

    function vote(uint256 jobSeed, uint256 workerSeed, bool dissent, bool exclude) external {
        ++calls;
        (uint64 jobId, bool found) = _pick(jobSeed, JobStatus.Voting);
        if (!found) return;
        Job memory job = jobs.jobOf(jobId);
        (address worker, bool ok) = _pickWorker(jobId, workerSeed, 2, job.round);
        if (!ok) return;
        bytes32 aggregateHash = keccak256(abi.encode(jobId, job.round, dissent ? worker : address(0)));
        // Excludes the first revealer in partition order: every honest voter of the tuple agrees on it.
        uint256 mask;
        address[] memory enrolled = jobs.workersOf(jobId);
        for (uint256 i; exclude && i < enrolled.length; ++i) {
            if (jobs.participantOf(jobId, enrolled[i]).revealedRound == job.round) {
                mask = 1 << i;
                break;
            }
        }
        vm.recordLogs();
        vm.prank(worker);
        jobs.voteAggregate(jobId, job.round, aggregateHash, hex"0155", mask);
        _book();
    }

    function evaluate(uint256 jobSeed, uint256 validatorSeed, uint32 accuracy, uint32 loss) external {
        ++calls;
        (uint64 jobId, bool found) = _pick(jobSeed, JobStatus.Evaluating);
        if (!found) return;
        Job memory job = jobs.jobOf(jobId);
        if (job.evaluations == job.evaluators) return;
        accuracy = uint32(bound(accuracy, 0, 1_000_000));
        for (uint256 i; i < evaluators.length; ++i) {
            address validator = evaluators[(validatorSeed + i) % evaluators.length];
            vm.prank(validator);
            try jobs.postEvaluation(jobId, accuracy, loss) {
                return;
            } catch {}
        }
    }

    /// @dev advance, cancel or finalize, whichever the job's state allows (each reverts otherwise).
    function settle(uint256 jobSeed, uint8 action, bool asRequester) external {
        ++calls;
        uint64 count = jobs.jobCount();
        if (count == 0) return;
        uint64 jobId = uint64(jobSeed % count) + 1;
        vm.recordLogs();
        if (asRequester) vm.prank(jobs.jobOf(jobId).requester);
        uint256 a = action % 3;
        if (a == 0) {
            try jobs.advance(jobId) {} catch {}
        } else if (a == 1) {
            try jobs.cancel(jobId) {
                ++cancelled;
            } catch {}
        } else {
            try jobs.finalize(jobId) {
                ++finalized;
            } catch {}
        }
        _book();
    }

    function withdraw(uint256 actorSeed) external {
        ++calls;
        address account = accounts[actorSeed % accounts.length];
        if (jobs.creditOf(account) == 0) return;
        uint256 before = token.balanceOf(account);
        vm.prank(account);
        jobs.withdraw();
        uint256 received = token.balanceOf(account) - before;
        ghostWithdrawnBy[account] += received;
        ghostWithdrawn += received;
    }

    function warp(uint32 secondsAhead) external {
        ++calls;
        vm.warp(block.timestamp + bound(secondsAhead, 1, 5 hours));
    }

    /// @dev A job in `status` whose phase is still open, starting the search at a random id.
    function _pick(uint256 jobSeed, JobStatus status) internal view returns (uint64 jobId, bool found) {
        uint64 count = jobs.jobCount();
        for (uint256 k; k < count; ++k) {
            jobId = uint64((jobSeed % count + k) % count) + 1;
            Job memory job = jobs.jobOf(jobId);
            if (job.status == status && block.timestamp <= job.deadline) return (jobId, true);
        }
        return (0, false);
    }

    /// @dev An active worker of the job that has not yet done `step` (0 commit, 1 reveal, 2 vote) this round but
    /// did the step before it.
    function _pickWorker(uint64 jobId, uint256 workerSeed, uint8 step, uint16 round)
        internal
        view
        returns (address, bool)
    {
        address[] memory enrolled = jobs.workersOf(jobId);
        for (uint256 i; i < enrolled.length; ++i) {
            address worker = enrolled[(workerSeed + i) % enrolled.length];
            Participant memory p = jobs.participantOf(jobId, worker);
            if (p.dropped) continue;
            if (step == 0 && p.committedRound != round) return (worker, true);
            if (step == 1 && p.committedRound == round && p.revealedRound != round) return (worker, true);
            if (step == 2 && p.revealedRound == round && p.votedRound != round) return (worker, true);
        }
        return (address(0), false);
    }

    function _update(uint64 jobId, uint16 round, address worker)
        internal
        pure
        returns (bytes memory cid, bytes32 updateHash, uint32 samples, bytes32 salt)
    {
        bytes32 seed = keccak256(abi.encode(jobId, round, worker));
        cid = abi.encodePacked(seed);
        updateHash = seed;
        samples = 1;
        salt = ~seed;
    }

    /// @dev Books the credits and royalties from the contract's events of the last call.
    function _book() internal {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            Vm.Log memory log = logs[i];
            if (log.emitter != address(jobs)) continue;
            bytes32 sig = log.topics[0];
            if (sig == ITrainingJobs.Credited.selector) {
                address account = address(uint160(uint256(log.topics[1])));
                uint64 jobId = uint64(uint256(log.topics[2]));
                (, uint256 amount) = abi.decode(log.data, (uint8, uint256));
                ghostEarned[account] += amount;
                ghostCredited += amount;
                ghostPaidOut[jobId] += amount;
            } else if (sig == ITrainingJobs.RoyaltiesPaid.selector) {
                uint64 jobId = uint64(uint256(log.topics[1]));
                uint256 amount = abi.decode(log.data, (uint256));
                ghostRoyalties += amount;
                ghostPaidOut[jobId] += amount;
            }
        }
    }
}

/// @notice Money invariants of TrainingJobs under random interleavings of every operation.
contract TrainingJobsInvariantsTest is TrainingJobsBase {
    TrainingJobsHandler internal handler;

    function setUp() public {
        _deploy(5, 3);
        handler = new TrainingJobsHandler(jobs, token, trainers, evaluators, datasetIds);
        token.grantRole(token.MINTER_ROLE(), address(handler));
        targetContract(address(handler));
    }

    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 96
    /// @dev The contract holds exactly its obligations, and that is what came in minus what went out.
    function invariant_balanceEqualsEscrowPlusCredits() public view {
        uint256 balance = token.balanceOf(address(jobs));
        assertEq(balance, jobs.escrowed() + jobs.totalCredits(), "balance == escrowed + credits");
        assertEq(balance, handler.ghostBudgets() - handler.ghostRoyalties() - handler.ghostWithdrawn(), "in - out");
    }

    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 96
    /// @dev escrowed == Σ (budget - paid) over open jobs; a settled job has paid its whole budget, and every job's
    /// `paid` is exactly what its events credited or paid in royalties.
    function invariant_escrowIsOpenBudgetsLessPaid() public view {
        uint256 open;
        uint256 budgets;
        for (uint64 id = 1; id <= jobs.jobCount(); ++id) {
            Job memory job = jobs.jobOf(id);
            budgets += job.budget;
            if (job.status == JobStatus.Finalized || job.status == JobStatus.Cancelled) {
                assertEq(job.paid, job.budget, "settled job paid in full");
            } else {
                open += uint256(job.budget) - job.paid;
            }
            assertEq(handler.ghostPaidOut(id), job.paid, "paid == credits + royalties booked for the job");
        }
        assertEq(jobs.escrowed(), open, "escrowed == open budgets - paid");
        assertEq(budgets, handler.ghostBudgets(), "budgets");
        // credits (updates, evaluations, refunds) + royalties + remaining escrow == Σ budgets
        assertEq(handler.ghostCredited() + handler.ghostRoyalties() + jobs.escrowed(), budgets, "fully accounted");
    }

    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 96
    /// @dev Every account's credit plus what it withdrew equals what it was credited: nobody is paid twice.
    function invariant_nobodyIsPaidTwice() public view {
        uint256 credits;
        for (uint256 i; i < handler.accountCount(); ++i) {
            address account = handler.accounts(i);
            uint256 credit = jobs.creditOf(account);
            credits += credit;
            assertEq(handler.ghostWithdrawnBy(account) + credit, handler.ghostEarned(account), "withdrawn + credit");
        }
        assertEq(credits, jobs.totalCredits(), "totalCredits == sum of credits");
    }

    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 96
    /// @dev A worker's stake is bonded exactly while it trains: enrolled in a job still enrolling or in its rounds,
    /// not dropped. Evaluation, settlement and every drop release it.
    function invariant_stakeBondedOnlyWhileTraining() public view {
        for (uint256 t; t < trainers.length; ++t) {
            uint256 training;
            for (uint64 id = 1; id <= jobs.jobCount(); ++id) {
                JobStatus status = jobs.jobOf(id).status;
                if (status == JobStatus.Evaluating || status == JobStatus.Finalized || status == JobStatus.Cancelled) {
                    continue;
                }
                Participant memory p = jobs.participantOf(id, trainers[t]);
                if (p.index != 0 && !p.dropped) ++training;
            }
            assertEq(workers.obligationsOf(trainers[t]), training, "obligations == jobs in training");
        }
    }

    /// @dev The run exercised the money paths rather than reverting early.
    function afterInvariant() public view {
        assertGt(handler.calls(), 0);
    }
}
