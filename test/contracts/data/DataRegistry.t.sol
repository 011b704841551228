// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {DataRegistryBase} from "./DataRegistryBase.sol";
import {IDataRegistry} from "../../../contracts/interfaces/IDataRegistry.sol";
import {DataParams, DatasetStatus} from "../../../contracts/types/DataTypes.sol";

contract DataRegistryTest is DataRegistryBase {
    uint256 internal constant N = 5;

    function setUp() public {
        _deploy(N);
    }

    /// @dev A rejection moves the whole bond into the reward pool (no voter is paid from it), pays each rejecter
    /// `validatorReward` per seat from the pool, and the reason is the one with the most seats.
    function testFuzz_reject_bondJoinsPool(uint96 bond, uint96 validatorReward, uint256 reasonSeed) public {
        bond = uint96(bound(bond, 0, 1e27));
        validatorReward = uint96(bound(validatorReward, 0, 1e24));
        DataParams memory p = _params();
        (p.bond, p.validatorReward, p.dissentSlash) = (bond, validatorReward, 0);
        data.setParams(p);
        uint64 id = _contribute(alice, 1, 100);
        _nextBlock();
        uint256[7] memory counts;
        for (uint256 i; i < N; ++i) {
            uint8 reason = uint8(bound(uint256(keccak256(abi.encode(reasonSeed, i))), 1, 6));
            ++counts[reason];
            _vote(i, id, false, reason);
        }
        uint256 seatReward = uint256(validatorReward) * 3; // 15 seats over 5 equal validators: 3 seats each
        uint256 paid = 0;
        for (uint256 i; i < N; ++i) {
            uint256 expected = _min(seatReward, uint256(bond) - paid);
            assertEq(data.creditOf(validators[i]), expected, "reward per seat, within the pool");
            paid += expected;
        }
        assertEq(data.rewardPool(), uint256(bond) - paid, "the bond joined the pool");
        assertEq(data.creditOf(alice), 0);
        assertEq(data.datasetOf(id).bond, 0);
        uint8 expectedReason;
        for (uint8 r = 1; r <= 6; ++r) if (counts[r] > counts[expectedReason]) expectedReason = r;
        assertEq(data.datasetOf(id).reasonCode, expectedReason, "reason with the most seats, lowest on a tie");
        assertEq(token.balanceOf(address(data)), data.rewardPool() + paid, "books");
    }

    /// @dev An acceptance pays bond + the upfront reward + per-seat validator rewards, never more than the pool
    /// holds; the deferred rest is paid at the first royalty, as far as the pool goes; the books balance.
    function testFuzz_accept_paysWithinPool(
        uint96 bond,
        uint96 acceptReward,
        uint96 validatorReward,
        uint96 pool,
        uint16 upfrontBps
    ) public {
        pool = uint96(bound(pool, 0, 1e27));
        acceptReward = uint96(bound(acceptReward, 0, 1e27));
        validatorReward = uint96(bound(validatorReward, 0, 1e26));
        bond = uint96(bound(bond, 0, 1e27));
        upfrontBps = uint16(bound(upfrontBps, 0, 10_000));
        DataParams memory p = _params();
        (p.bond, p.acceptReward, p.validatorReward, p.upfrontRewardBps) = (bond, acceptReward, validatorReward, upfrontBps);
        data.setParams(p);
        if (pool != 0) {
            token.mint(address(this), pool);
            data.fundRewardPool(pool);
        }
        uint64 id = _contribute(alice, 2, 100);
        _voteAll(id, true, 0);

        uint256 upfrontDue = uint256(acceptReward) * upfrontBps / 10_000;
        uint256 upfront = _min(upfrontDue, pool);
        uint256 left = pool - upfront;
        for (uint256 i; i < N; ++i) {
            uint256 r = _min(uint256(validatorReward) * 3, left);
            assertEq(data.creditOf(validators[i]), r, "validator");
            left -= r;
            _withdrawAll(validators[i], r);
        }
        assertEq(data.creditOf(alice), uint256(bond) + upfront, "contributor");
        assertEq(data.rewardPool(), left, "pool");
        assertEq(data.validationOf(id).deferredReward, acceptReward - upfrontDue, "deferred");
        assertEq(data.bondsHeld(), 0);
        _withdrawAll(alice, uint256(bond) + upfront);

        uint64[] memory ids = new uint64[](1);
        uint32[] memory used = new uint32[](1);
        (ids[0], used[0]) = (id, 100);
        token.mint(address(this), 1);
        data.creditRoyalties(ids, used, 1);
        uint256 deferred = _min(acceptReward - upfrontDue, left);
        assertEq(data.creditOf(alice), 1 + deferred, "royalty + deferred reward");
        assertEq(data.validationOf(id).deferredReward, 0, "paid once");
        assertEq(token.balanceOf(address(data)), data.rewardPool() + data.creditOf(alice), "balance == pool + credit");
    }

    /// @dev Royalties: every share is the floor of its pro-rata part except the last, and they sum to the amount.
    function testFuzz_creditRoyalties_splitsProRata(uint96 amount, uint32[5] memory samples, uint8 count) public {
        uint256 n = bound(count, 1, 5);
        amount = uint96(bound(amount, 1, 1e27));
        uint64[] memory ids = new uint64[](n);
        uint32[] memory used = new uint32[](n);
        address[] memory contributors = new address[](n);
        uint256 total;
        for (uint256 i; i < n; ++i) {
            contributors[i] = makeAddr(string.concat("contributor", vm.toString(i)));
            used[i] = uint32(bound(samples[i], 1, 1_000_000));
            ids[i] = _contribute(contributors[i], 100 + i, 1_000_000);
            _voteAll(ids[i], true, 0);
            _withdrawAll(contributors[i], data.creditOf(contributors[i]));
            total += used[i];
        }
        token.mint(address(this), amount);
        data.creditRoyalties(ids, used, amount);
        uint256 sum;
        for (uint256 i; i < n; ++i) {
            uint256 credit = data.creditOf(contributors[i]);
            uint256 floor = uint256(amount) * used[i] / total;
            if (i < n - 1) assertEq(credit, floor, "pro rata");
            else assertLt(credit - floor, n, "the last takes the dust, less than one wei per item");
            assertEq(data.datasetOf(ids[i]).royalties, credit);
            assertEq(data.datasetOf(ids[i]).timesUsed, 1);
            sum += credit;
        }
        assertEq(sum, amount, "whole amount");
    }

    /// @dev A dissenter loses min(dissentSlash per seat, stake) and exactly that joins the reward pool.
    function testFuzz_dissentSlash_movesStakeIntoPool(uint96 dissentSlash) public {
        DataParams memory p = _params();
        (p.dissentSlash, p.validatorReward) = (dissentSlash, 0);
        data.setParams(p);
        uint64 id = _contribute(alice, 3, 100);
        _nextBlock();
        _vote(4, id, false, 4);
        uint256 stake = workers.workerOf(validators[4]).stake;
        uint256 poolBefore = data.rewardPool();
        for (uint256 i; i < N - 1; ++i) _vote(i, id, true, 0);
        uint256 slashed = _min(uint256(dissentSlash) * 3, stake);
        assertEq(workers.workerOf(validators[4]).stake, stake - slashed, "stake");
        assertEq(data.rewardPool(), poolBefore + slashed, "pool");
        assertEq(token.balanceOf(address(data)), data.rewardPool() + data.creditOf(alice), "books");
    }

    /// @dev Sortition: a validator may vote exactly when `isOnCommittee` says it is drawn, whatever the stakes.
    function testFuzz_vote_onlyDrawnValidators(uint96[5] memory extra, uint8 committeeSize, uint256 salt) public {
        DataParams memory p = _params();
        p.committeeSize = uint8(bound(committeeSize, 1, 16));
        p.quorum = 1;
        data.setParams(p);
        for (uint256 i; i < N; ++i) {
            uint96 amount = uint96(bound(extra[i], 0, 1e27));
            if (amount == 0) continue;
            token.mint(validators[i], amount);
            vm.startPrank(validators[i]);
            token.approve(address(workers), amount);
            workers.addStake(amount);
            vm.stopPrank();
        }
        _nextBlock();
        uint64 id = _contribute(alice, salt, 100);
        _nextBlock();
        uint256 drawn;
        for (uint256 i; i < N; ++i) {
            bool onCommittee = data.isOnCommittee(id, validators[i]);
            if (!onCommittee) {
                vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryNotDrawn.selector, id, validators[i]));
            } else {
                ++drawn;
            }
            vm.prank(validators[i]);
            data.vote(id, true, 0);
            if (data.datasetOf(id).status != DatasetStatus.Pending) break;
        }
        // Stakes big enough to make stake * committeeSize >= total are always drawn.
        uint256 total = workers.totalValidatorStakeAt(uint48(block.number - 1));
        for (uint256 i; i < N; ++i) {
            if (workers.validatorStakeAt(validators[i], uint48(block.number - 1)) * p.committeeSize >= total) {
                assertTrue(data.isOnCommittee(id, validators[i]), "a heavy validator is always drawn");
            }
        }
        assertLe(drawn, N);
    }

    /// @dev A dataset whose window ended without the quorum returns its bond once, whatever happened before.
    function testFuzz_finalize_returnsBondOnce(uint32 lateBy, bool oneVote) public {
        uint64 id = _contribute(alice, 4, 100);
        _nextBlock();
        if (oneVote) _vote(0, id, false, 1);
        else data.drawCommittee(id);
        vm.warp(uint256(data.datasetOf(id).votingDeadline) + bound(lateBy, 1, 365 days));
        data.finalize(id);
        vm.expectRevert(
            abi.encodeWithSelector(IDataRegistry.DataRegistryNotPending.selector, id, DatasetStatus.Undecided)
        );
        data.finalize(id);
        _withdrawAll(alice, _params().bond);
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryNothingToWithdraw.selector, alice));
        vm.prank(alice);
        data.withdraw();
        assertEq(token.balanceOf(address(data)), 0, "empty");
    }

    /// @dev The pool is a uint96: funding past it reverts before any token moves.
    function test_fundRewardPool_revertsPastUint96() public {
        uint256 amount = uint256(type(uint96).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(SafeCast.SafeCastOverflowedUintDowncast.selector, 96, amount));
        data.fundRewardPool(amount);
    }

    function _min(uint256 a, uint256 b) internal pure returns (uint256) {
        return a < b ? a : b;
    }
}
