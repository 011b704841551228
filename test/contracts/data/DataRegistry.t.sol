// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {DataRegistryBase} from "./DataRegistryBase.sol";
import {IDataRegistry} from "../../../contracts/interfaces/IDataRegistry.sol";
import {DataParams, DatasetStatus} from "../../../contracts/types/DataTypes.sol";

contract DataRegistryTest is DataRegistryBase {
    function setUp() public {
        _deploy(15);
    }

    /// @dev A rejection splits the whole bond among the rejecters, to the wei, and the registry keeps nothing of it.
    function testFuzz_reject_splitsBondExactly(uint96 bond, uint8 quorum, uint8 extra, uint256 reasonSeed) public {
        bond = uint96(bound(bond, 0, 1e27));
        quorum = uint8(bound(quorum, 1, 8));
        uint8 n = uint8(bound(extra, quorum, 2 * uint256(quorum) - 1));
        DataParams memory p = _params();
        (p.bond, p.quorum, p.validatorsPerDataset, p.dissentSlash) = (bond, quorum, n, 0);
        data.setParams(p);
        uint64 id = _contribute(alice, 1, 100);
        uint256[7] memory counts;
        for (uint256 i; i < quorum; ++i) {
            uint8 reason = uint8(bound(uint256(keccak256(abi.encode(reasonSeed, i))), 1, 6));
            ++counts[reason];
            _vote(i, id, false, reason);
        }
        uint256 share = uint256(bond) / quorum;
        uint256 sum;
        for (uint256 i; i < quorum; ++i) {
            uint256 credit = data.creditOf(validators[i]);
            assertEq(credit, i == quorum - 1 ? bond - share * (quorum - 1) : share, "share");
            sum += credit;
            _withdrawAll(validators[i], credit);
        }
        assertEq(sum, bond, "whole bond");
        assertEq(data.creditOf(alice), 0);
        uint8 expected;
        for (uint8 r = 1; r <= 6; ++r) if (counts[r] > counts[expected]) expected = r;
        assertEq(data.datasetOf(id).reasonCode, expected, "most frequent reason, lowest on a tie");
        assertEq(token.balanceOf(address(data)), data.rewardPool(), "only the pool is left");
    }

    /// @dev An acceptance pays bond + rewards, never more than the pool holds, and the books balance.
    function testFuzz_accept_paysWithinPool(uint96 bond, uint96 acceptReward, uint96 validatorReward, uint96 pool)
        public
    {
        pool = uint96(bound(pool, 0, 1e27));
        acceptReward = uint96(bound(acceptReward, 0, 1e27));
        validatorReward = uint96(bound(validatorReward, 0, 1e27));
        bond = uint96(bound(bond, 0, 1e27));
        DataParams memory p = _params();
        (p.bond, p.acceptReward, p.validatorReward) = (bond, acceptReward, validatorReward);
        data.setParams(p);
        if (pool != 0) {
            token.mint(address(this), pool);
            data.fundRewardPool(pool);
        }
        uint64 id = _contribute(alice, 2, 100);
        _vote(0, id, true, 0);
        _vote(1, id, true, 0);

        uint256 reward = acceptReward < pool ? acceptReward : pool;
        uint256 left = pool - reward;
        uint256 r0 = validatorReward < left ? validatorReward : left;
        uint256 r1 = validatorReward < left - r0 ? validatorReward : left - r0;
        assertEq(data.creditOf(alice), uint256(bond) + reward, "contributor");
        assertEq(data.creditOf(validators[0]), r0, "first validator");
        assertEq(data.creditOf(validators[1]), r1, "second validator");
        assertEq(data.rewardPool(), pool - reward - r0 - r1, "pool");
        assertEq(data.bondsHeld(), 0);
        _withdrawAll(alice, uint256(bond) + reward);
        _withdrawAll(validators[0], r0);
        _withdrawAll(validators[1], r1);
        assertEq(token.balanceOf(address(data)), data.rewardPool(), "balance == pool");
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
            _vote(0, ids[i], true, 0);
            _vote(1, ids[i], true, 0);
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

    /// @dev A dissenter loses min(dissentSlash, stake) and exactly that joins the reward pool.
    function testFuzz_dissentSlash_movesStakeIntoPool(uint96 dissentSlash) public {
        DataParams memory p = _params();
        p.dissentSlash = dissentSlash;
        data.setParams(p);
        uint64 id = _contribute(alice, 3, 100);
        _vote(2, id, false, 4);
        uint256 stake = workers.workerOf(validators[2]).stake;
        uint256 poolBefore = data.rewardPool();
        _vote(0, id, true, 0);
        _vote(1, id, true, 0);
        uint256 slashed = dissentSlash < stake ? dissentSlash : stake;
        assertEq(workers.workerOf(validators[2]).stake, stake - slashed, "stake");
        assertEq(data.rewardPool(), poolBefore + slashed, "pool");
        assertEq(token.balanceOf(address(data)), data.rewardPool() + data.creditOf(alice), "books");
    }

    /// @dev A finalized dataset returns its bond once, whatever happened before the deadline.
    function testFuzz_finalize_returnsBondOnce(uint32 lateBy, bool oneVote) public {
        uint64 id = _contribute(alice, 4, 100);
        if (oneVote) _vote(0, id, false, 1);
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
}
