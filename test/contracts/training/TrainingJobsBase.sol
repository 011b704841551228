// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {TesseraToken} from "../../../contracts/token/TesseraToken.sol";
import {WorkerRegistry} from "../../../contracts/workers/WorkerRegistry.sol";
import {DataRegistry} from "../../../contracts/data/DataRegistry.sol";
import {ModelRegistry} from "../../../contracts/models/ModelRegistry.sol";
import {TrainingJobs} from "../../../contracts/training/TrainingJobs.sol";
import {IWorkerRegistry} from "../../../contracts/interfaces/IWorkerRegistry.sol";
import {IDataRegistry} from "../../../contracts/interfaces/IDataRegistry.sol";
import {IModelRegistry} from "../../../contracts/interfaces/IModelRegistry.sol";
import {ContributionArgs, DataParams} from "../../../contracts/types/DataTypes.sol";
import {PermitArgs} from "../../../contracts/types/InferenceTypes.sol";
import {JobArgs, PhaseDurations, AggregationRule, TrainingParams} from "../../../contracts/types/TrainingTypes.sol";

/// @notice Shared world for the TrainingJobs' Solidity tests: token, registries, two accepted datasets, trainers
/// and evaluators.
abstract contract TrainingJobsBase is Test {
    TesseraToken internal token;
    WorkerRegistry internal workers;
    DataRegistry internal data;
    ModelRegistry internal models;
    TrainingJobs internal jobs;

    address internal requester = makeAddr("requester");
    address internal contributor = makeAddr("contributor");
    address internal treasury = makeAddr("treasury");
    address[] internal trainers;
    address[] internal evaluators;
    uint64[] internal datasetIds;

    uint96 internal constant STAKE = 1_000_000e18;
    uint96 internal constant LAPSE_SLASH = 10e18;
    uint32 internal constant PHASE = 1 hours;
    bytes internal constant CID = hex"01551220dadadadadadadadadadadadadadadadadadadadadadadadadadadadadadadada";
    bytes internal constant PUBKEY = hex"0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";

    function _deploy(uint256 nTrainers, uint256 nEvaluators) internal {
        vm.warp(1_700_000_000);
        token = new TesseraToken(address(this), 1e30);
        token.grantRole(token.MINTER_ROLE(), address(this));
        workers = new WorkerRegistry(address(this), IERC20(address(token)), 1_000e18, 7 days);
        data = new DataRegistry(
            address(this),
            IERC20(address(token)),
            IWorkerRegistry(address(workers)),
            DataParams({
                bond: 0,
                acceptReward: 0,
                validatorReward: 0,
                dissentSlash: 0,
                votingPeriod: 1 days,
                quorum: 1,
                committeeSize: 16,
                upfrontRewardBps: 10_000
            })
        );
        models = new ModelRegistry(address(this));
        jobs = new TrainingJobs(
            address(this),
            IERC20(address(token)),
            IWorkerRegistry(address(workers)),
            IDataRegistry(address(data)),
            IModelRegistry(address(models)),
            TrainingParams({treasury: treasury, lapseSlash: LAPSE_SLASH, minUpdatePay: 0})
        );
        workers.grantRole(workers.SLASHER_ROLE(), address(jobs));
        workers.grantRole(workers.STAKE_LOCKER_ROLE(), address(jobs));
        data.grantRole(data.ROYALTY_PAYER_ROLE(), address(jobs));
        for (uint256 i; i < nTrainers; ++i) trainers.push(_register(string.concat("trainer", vm.toString(i)), 1));
        for (uint256 i; i < nEvaluators; ++i) {
            evaluators.push(_register(string.concat("evaluator", vm.toString(i)), 4));
        }
        address dataValidator = _register("dataValidator", 4);
        uint64[2] memory ids;
        for (uint256 i; i < 2; ++i) {
            PermitArgs memory none;
            vm.prank(contributor);
            uint64 id = data.contribute(
                ContributionArgs({
                    cid: CID,
                    commitment: keccak256(abi.encode("dataset", i)),
                    sampleCount: uint32(1_000 * (i + 1)),
                    schemaId: bytes32(0),
                    licenseId: bytes32(0),
                    keyEnvelopesCid: ""
                }),
                none
            );
            ids[i] = id;
        }
        // Committees are drawn from the hash of the contribution block; with at most 16 equally staked validators
        // every one is drawn, and the dataset is decided once all of them voted.
        vm.roll(block.number + 1);
        for (uint256 i; i < 2; ++i) {
            for (uint256 j; j < evaluators.length; ++j) {
                vm.prank(evaluators[j]);
                data.vote(ids[i], true, 0);
            }
            vm.prank(dataValidator);
            data.vote(ids[i], true, 0);
            datasetIds.push(ids[i]);
        }
    }

    function _register(string memory name, uint8 capabilities) internal returns (address worker) {
        worker = makeAddr(name);
        token.mint(worker, STAKE);
        vm.startPrank(worker);
        token.approve(address(workers), STAKE);
        workers.register(STAKE, capabilities, PUBKEY, "");
        vm.stopPrank();
    }

    function _args(uint96 budget, uint16 rounds, uint8 k, uint16 royaltyBps, uint16 evaluationBps, uint8 nEvaluators)
        internal
        view
        returns (JobArgs memory)
    {
        return JobArgs({
            manifestCid: CID,
            weightsCid: CID,
            evalSetCid: CID,
            modelName: "fuzzed",
            datasetIds: datasetIds,
            budget: budget,
            rounds: rounds,
            workersPerRound: k,
            evaluators: nEvaluators,
            localEpochs: 1,
            batchSize: 32,
            learningRate: 1_000,
            rule: AggregationRule.FedAvg,
            quorumBps: 6_666,
            royaltyBps: royaltyBps,
            evaluationBps: evaluationBps,
            durations: PhaseDurations({enroll: PHASE, commit: PHASE, reveal: PHASE, vote: PHASE, evaluation: PHASE})
        });
    }

    /// @dev Mints the budget to `who` and creates the job from it.
    function _create(address who, JobArgs memory a) internal returns (uint64 jobId) {
        token.mint(who, a.budget);
        vm.startPrank(who);
        token.approve(address(jobs), a.budget);
        PermitArgs memory none;
        jobId = jobs.createJob(a, none);
        vm.stopPrank();
    }

    function _update(uint64 jobId, uint16 round, address worker)
        internal
        pure
        returns (bytes memory cid, bytes32 updateHash, uint32 samples, bytes32 salt)
    {
        bytes32 seed = keccak256(abi.encode(jobId, round, worker));
        cid = abi.encodePacked(hex"01551220", seed);
        updateHash = keccak256(abi.encode("update", seed));
        samples = uint32(uint256(seed) % 1_000) + 1;
        salt = keccak256(abi.encode("salt", seed));
    }

    function _commit(uint64 jobId, uint16 round, address worker) internal {
        (bytes memory cid, bytes32 h, uint32 n, bytes32 salt) = _update(jobId, round, worker);
        vm.prank(worker);
        jobs.commitUpdate(jobId, keccak256(abi.encode(cid, h, n, salt, worker)));
    }

    function _reveal(uint64 jobId, uint16 round, address worker) internal {
        (bytes memory cid, bytes32 h, uint32 n, bytes32 salt) = _update(jobId, round, worker);
        vm.prank(worker);
        jobs.revealUpdate(jobId, cid, h, n, salt);
    }

    function _aggregate(uint64 jobId, uint16 round) internal pure returns (bytes32) {
        return keccak256(abi.encode("aggregate", jobId, round));
    }

    function _vote(uint64 jobId, uint16 round, address worker, bytes32 aggregateHash) internal {
        vm.prank(worker);
        jobs.voteAggregate(jobId, round, aggregateHash, CID, 0);
    }

    /// @dev Runs a round in which the first `k` trainers commit, reveal and vote for the same aggregate.
    function _runRound(uint64 jobId, uint16 round, uint256 k) internal {
        for (uint256 i; i < k; ++i) _commit(jobId, round, trainers[i]);
        for (uint256 i; i < k; ++i) _reveal(jobId, round, trainers[i]);
        for (uint256 i; i < k && jobs.jobOf(jobId).round == round && uint8(jobs.jobOf(jobId).status) == 4; ++i) {
            _vote(jobId, round, trainers[i], _aggregate(jobId, round));
        }
    }

    function _enroll(uint64 jobId, uint256 k) internal {
        for (uint256 i; i < k; ++i) {
            vm.prank(trainers[i]);
            jobs.enroll(jobId);
        }
    }

    function _withdrawAll(address account) internal returns (uint256 received) {
        uint256 credit = jobs.creditOf(account);
        if (credit == 0) return 0;
        uint256 before = token.balanceOf(account);
        vm.prank(account);
        jobs.withdraw();
        received = token.balanceOf(account) - before;
        assertEq(received, credit, "withdrawn == credit");
    }
}
