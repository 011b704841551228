// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {TrainingJobsBase} from "./TrainingJobsBase.sol";
import {ITrainingJobs} from "../../../contracts/interfaces/ITrainingJobs.sol";
import {JobStatus} from "../../../contracts/types/TrainingTypes.sol";

contract TrainingJobsTest is TrainingJobsBase {
    function setUp() public {
        _deploy(6, 5);
    }

    /// @dev A finalized job pays out its whole budget, to the wei: updates + evaluations + royalties + refund.
    function testFuzz_finalize_accountsForWholeBudget(
        uint96 budget,
        uint16 rounds,
        uint8 k,
        uint16 royaltyBps,
        uint16 evaluationBps,
        uint8 nEvaluations
    ) public {
        rounds = uint16(bound(rounds, 1, 3));
        k = uint8(bound(k, 3, 5));
        royaltyBps = uint16(bound(royaltyBps, 0, 4_000));
        evaluationBps = uint16(bound(evaluationBps, 0, 4_000));
        nEvaluations = uint8(bound(nEvaluations, 3, 5));
        budget = uint96(bound(budget, 1e6, 1e27));
        uint64 jobId = _create(requester, _args(budget, rounds, k, royaltyBps, evaluationBps, nEvaluations));
        _enroll(jobId, k);
        for (uint16 r = 1; r <= rounds; ++r) _runRound(jobId, r, k);
        for (uint256 i; i < nEvaluations; ++i) {
            vm.prank(evaluators[i]);
            jobs.postEvaluation(jobId, uint32(900_000 + i), uint32(100_000 - i));
        }
        uint256 dataBefore = token.balanceOf(address(data));
        jobs.finalize(jobId);
        uint256 royalties = token.balanceOf(address(data)) - dataBefore;
        assertEq(royalties, uint256(budget) * royaltyBps / 10_000, "royalties");
        assertEq(jobs.escrowed(), 0, "nothing escrowed");
        assertEq(token.balanceOf(address(jobs)), jobs.totalCredits(), "balance == credits");

        uint256 paid = royalties + _withdrawAll(requester);
        for (uint256 i; i < k; ++i) paid += _withdrawAll(trainers[i]);
        uint256 toEvaluators;
        for (uint256 i; i < nEvaluations; ++i) toEvaluators += _withdrawAll(evaluators[i]);
        assertEq(toEvaluators, uint256(budget) * evaluationBps / 10_000, "evaluation pool");
        assertEq(paid + toEvaluators, budget, "whole budget");
        assertEq(token.balanceOf(address(jobs)), 0, "empty");
        assertEq(uint8(jobs.jobOf(jobId).status), uint8(JobStatus.Finalized));
        assertEq(jobs.jobOfVersion(jobs.jobOf(jobId).versionId), jobId, "provenance link");
        for (uint256 i; i < k; ++i) assertEq(workers.obligationsOf(trainers[i]), 0, "stake released");
    }

    /// @dev A job stalled after some rounds pays those rounds and their royalty share, slashes the laggards to the
    /// treasury (never the requester), releases every stake, and refunds the rest: the budget is accounted for to
    /// the wei.
    function testFuzz_cancel_accountsForWholeBudget(
        uint96 budget,
        uint16 rounds,
        uint16 done,
        uint8 k,
        uint16 royaltyBps
    ) public {
        rounds = uint16(bound(rounds, 1, 4));
        done = uint16(bound(done, 0, rounds - 1));
        k = uint8(bound(k, 3, 5));
        royaltyBps = uint16(bound(royaltyBps, 0, 5_000));
        budget = uint96(bound(budget, 1e6, 1e27));
        uint64 jobId = _create(requester, _args(budget, rounds, k, royaltyBps, 500, 3));
        _enroll(jobId, k);
        for (uint16 r = 1; r <= done; ++r) _runRound(jobId, r, k);
        _commit(jobId, done + 1, trainers[0]);
        vm.warp(block.timestamp + PHASE + 1);
        uint256 requesterTokens = token.balanceOf(requester);
        uint256 dataBefore = token.balanceOf(address(data));
        jobs.cancel(jobId);
        assertEq(token.balanceOf(requester), requesterTokens, "the requester gets no slash");
        // Round 1's missed commit is never slashed (its data's keys are shared off chain); later ones are.
        uint96 slash = done == 0 ? 0 : LAPSE_SLASH;
        assertEq(token.balanceOf(treasury), slash * (k - 1), "laggards slashed to the treasury");
        for (uint256 i; i < k; ++i) assertEq(workers.obligationsOf(trainers[i]), 0, "stake released");
        for (uint256 i = 1; i < k; ++i) assertEq(workers.workerOf(trainers[i]).stake, STAKE - slash);
        assertEq(workers.workerOf(trainers[0]).stake, STAKE, "the committer keeps its stake");
        uint256 royalties = token.balanceOf(address(data)) - dataBefore;
        assertEq(royalties, uint256(budget) * royaltyBps / 10_000 * done / rounds, "royalties pro rata");
        uint256 paid = royalties + _withdrawAll(requester);
        for (uint256 i; i < k; ++i) paid += _withdrawAll(trainers[i]);
        assertEq(paid, budget, "whole budget");
        assertEq(jobs.escrowed(), 0);
        assertEq(token.balanceOf(address(jobs)), 0, "empty");
    }

    /// @dev The metrics on chain are the medians of what the validators posted (mean of the middle two if even).
    function testFuzz_finalize_medians(uint32[5] memory accuracy, uint32[5] memory loss, uint8 n) public {
        n = uint8(bound(n, 3, 5));
        uint64 jobId = _create(requester, _args(1e18, 1, 3, 0, 0, n));
        _enroll(jobId, 3);
        _runRound(jobId, 1, 3);
        for (uint256 i; i < n; ++i) {
            accuracy[i] = uint32(bound(accuracy[i], 0, 1_000_000));
            vm.prank(evaluators[i]);
            jobs.postEvaluation(jobId, accuracy[i], loss[i]);
        }
        jobs.finalize(jobId);
        assertEq(jobs.jobOf(jobId).accuracy, _median(accuracy, n), "accuracy");
        assertEq(jobs.jobOf(jobId).loss, _median(loss, n), "loss");
    }

    /// @dev No opening other than the committed one is accepted.
    function testFuzz_reveal_onlyTheCommittedOpening(bytes32 salt, uint32 samples, bool otherHash) public {
        uint64 jobId = _create(requester, _args(1e18, 1, 3, 0, 0, 3));
        _enroll(jobId, 3);
        _commit(jobId, 1, trainers[0]);
        _commit(jobId, 1, trainers[1]);
        _commit(jobId, 1, trainers[2]);
        (bytes memory cid, bytes32 h, uint32 n, bytes32 realSalt) = _update(jobId, 1, trainers[0]);
        samples = uint32(bound(samples, 1, type(uint32).max));
        vm.assume(salt != realSalt || samples != n || otherHash);
        vm.expectRevert(
            abi.encodeWithSelector(ITrainingJobs.TrainingJobsCommitmentMismatch.selector, jobId, 1, trainers[0])
        );
        vm.prank(trainers[0]);
        jobs.revealUpdate(jobId, cid, otherHash ? keccak256(abi.encode(h)) : h, samples, salt);
        // The right opening from the wrong worker fails too.
        vm.expectRevert(
            abi.encodeWithSelector(ITrainingJobs.TrainingJobsCommitmentMismatch.selector, jobId, 1, trainers[1])
        );
        vm.prank(trainers[1]);
        jobs.revealUpdate(jobId, cid, h, n, realSalt);
    }

    function _median(uint32[5] memory values, uint8 n) private pure returns (uint32) {
        uint32[] memory sorted = new uint32[](n);
        for (uint256 i; i < n; ++i) sorted[i] = values[i];
        for (uint256 i; i < n; ++i) {
            for (uint256 j = i + 1; j < n; ++j) {
                if (sorted[j] < sorted[i]) (sorted[i], sorted[j]) = (sorted[j], sorted[i]);
            }
        }
        if (n % 2 == 1) return sorted[n / 2];
        return uint32((uint256(sorted[n / 2 - 1]) + sorted[n / 2]) / 2);
    }
}
