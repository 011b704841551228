// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {TesseraToken} from "../../../contracts/token/TesseraToken.sol";
import {WorkerRegistry} from "../../../contracts/workers/WorkerRegistry.sol";
import {IWorkerRegistry} from "../../../contracts/interfaces/IWorkerRegistry.sol";

/// @notice Stake bonded to obligations (issue 8 item 7, registry side) and registration epochs that never wrap
/// (issue 8 item 12).
contract WorkerRegistryObligationsTest is Test {
    TesseraToken internal token;
    WorkerRegistry internal registry;
    address internal locker = makeAddr("locker");
    address internal locker2 = makeAddr("locker2");
    address internal worker = makeAddr("worker");
    bytes internal constant PUBKEY = hex"0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
    uint96 internal constant MIN_STAKE = 1_000e18;
    uint32 internal constant DELAY = 2 days;

    function setUp() public {
        vm.warp(1_700_000_000);
        token = new TesseraToken(address(this), 1e30);
        token.grantRole(token.MINTER_ROLE(), address(this));
        registry = new WorkerRegistry(address(this), IERC20(address(token)), MIN_STAKE, DELAY);
        registry.grantRole(registry.STAKE_LOCKER_ROLE(), locker);
        registry.grantRole(registry.STAKE_LOCKER_ROLE(), locker2);
        token.mint(worker, MIN_STAKE);
        vm.prank(worker);
        token.approve(address(registry), type(uint256).max);
    }

    function _register() internal {
        vm.prank(worker);
        registry.register(MIN_STAKE, 2, PUBKEY, "");
    }

    function _unstakeAndWait() internal {
        vm.prank(worker);
        registry.requestUnstake();
        vm.warp(block.timestamp + DELAY);
    }

    function test_lockStake_countsPerLockerAndEmits() public {
        _register();
        vm.expectEmit(address(registry));
        emit IWorkerRegistry.StakeLocked(worker, locker, 1);
        vm.prank(locker);
        registry.lockStake(worker);
        vm.expectEmit(address(registry));
        emit IWorkerRegistry.StakeLocked(worker, locker2, 2);
        vm.prank(locker2);
        registry.lockStake(worker);
        assertEq(registry.obligationsOf(worker), 2);

        vm.expectEmit(address(registry));
        emit IWorkerRegistry.StakeReleased(worker, locker, 1);
        vm.prank(locker);
        registry.releaseStake(worker);
        // locker holds nothing more: it cannot release locker2's obligation.
        vm.expectRevert(abi.encodeWithSelector(IWorkerRegistry.WorkerRegistryNoObligation.selector, worker, locker));
        vm.prank(locker);
        registry.releaseStake(worker);
        assertEq(registry.obligationsOf(worker), 1);
    }

    function test_lockStake_onlyStakeLockerRole() public {
        _register();
        bytes32 role = registry.STAKE_LOCKER_ROLE();
        address stranger = makeAddr("stranger");
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, role));
        vm.prank(stranger);
        registry.lockStake(worker);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, role));
        vm.prank(stranger);
        registry.releaseStake(worker);
        // Nor can the worker release itself.
        vm.prank(locker);
        registry.lockStake(worker);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, worker, role));
        vm.prank(worker);
        registry.releaseStake(worker);
    }

    function test_releaseStake_withoutObligationReverts() public {
        vm.expectRevert(abi.encodeWithSelector(IWorkerRegistry.WorkerRegistryNoObligation.selector, worker, locker));
        vm.prank(locker);
        registry.releaseStake(worker);
        assertEq(registry.obligationsOf(worker), 0);
    }

    function test_withdrawStake_blockedWhileBondedThenAllowed() public {
        _register();
        vm.prank(locker);
        registry.lockStake(worker);
        vm.prank(locker2);
        registry.lockStake(worker);
        _unstakeAndWait();
        vm.expectRevert(abi.encodeWithSelector(IWorkerRegistry.WorkerRegistryStakeBonded.selector, worker, 2));
        vm.prank(worker);
        registry.withdrawStake();
        vm.prank(locker);
        registry.releaseStake(worker);
        vm.expectRevert(abi.encodeWithSelector(IWorkerRegistry.WorkerRegistryStakeBonded.selector, worker, 1));
        vm.prank(worker);
        registry.withdrawStake();
        vm.prank(locker2);
        registry.releaseStake(worker);
        vm.expectEmit(address(registry));
        emit IWorkerRegistry.StakeWithdrawn(worker, MIN_STAKE);
        vm.prank(worker);
        registry.withdrawStake();
        assertEq(token.balanceOf(worker), MIN_STAKE);
        assertEq(token.balanceOf(address(registry)), 0);
    }

    /// @dev Issue 8 item 12: with a uint8 epoch the 256th exit of a worker serving more than four versions overflowed
    /// inside `withdrawStake` and locked its stake for good. 260 cycles of register, serve six versions, unstake,
    /// withdraw: every withdrawal pays the whole stake, and each new registration starts with no served versions.
    function test_withdrawStake_after260ExitsOfOneAddress() public {
        uint64[] memory versions = new uint64[](6);
        for (uint256 v; v < 6; ++v) versions[v] = uint64(v + 1);
        for (uint256 cycle; cycle < 260; ++cycle) {
            _register();
            for (uint256 v; v < 6; ++v) assertFalse(registry.serves(worker, versions[v]), "a new registration serves nothing");
            vm.prank(worker);
            registry.setServedModels(versions, true);
            assertTrue(registry.serves(worker, 6), "the overflow version is served");
            _unstakeAndWait();
            vm.prank(worker);
            registry.withdrawStake();
            assertEq(token.balanceOf(worker), MIN_STAKE, "the whole stake comes back");
        }
        _register();
        assertFalse(registry.serves(worker, 5), "overflow versions of epoch 0 stay forgotten after 256 exits");
        assertFalse(registry.serves(worker, 6), "overflow versions of epoch 0 stay forgotten after 256 exits");
    }
}
