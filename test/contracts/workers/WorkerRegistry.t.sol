// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {TesseraToken} from "../../../contracts/token/TesseraToken.sol";
import {WorkerRegistry} from "../../../contracts/workers/WorkerRegistry.sol";
import {IWorkerRegistry} from "../../../contracts/interfaces/IWorkerRegistry.sol";

contract WorkerRegistryTest is Test {
    TesseraToken internal token;
    WorkerRegistry internal registry;
    address internal slasher = makeAddr("slasher");
    address internal recipient = makeAddr("recipient");
    bytes internal constant PUBKEY = hex"0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
    uint96 internal constant MIN_STAKE = 1_000e18;

    function setUp() public {
        vm.warp(1_700_000_000);
        token = new TesseraToken(address(this), 1e30);
        token.grantRole(token.MINTER_ROLE(), address(this));
        registry = new WorkerRegistry(address(this), IERC20(address(token)), MIN_STAKE, 7 days);
        registry.grantRole(registry.SLASHER_ROLE(), slasher);
    }

    /// @dev Through registrations, top-ups, slashes and withdrawals, the registry holds exactly the sum of stakes.
    function testFuzz_stakeAccounting(uint96[4] memory stakes, uint96[4] memory topUps, uint256[4] memory slashes)
        public
    {
        address[4] memory who;
        uint256 expectedSum;
        uint256 slashedTotal;
        for (uint256 i; i < 4; ++i) {
            who[i] = address(uint160(0x1000 + i));
            uint96 stake = uint96(bound(stakes[i], MIN_STAKE, 1e27));
            uint96 topUp = uint96(bound(topUps[i], 1, 1e27));
            token.mint(who[i], uint256(stake) + topUp);
            vm.startPrank(who[i]);
            token.approve(address(registry), type(uint256).max);
            registry.register(stake, 2, PUBKEY, "");
            registry.addStake(topUp);
            vm.stopPrank();
            uint256 want = bound(slashes[i], 0, 3e27);
            vm.prank(slasher);
            uint256 taken = registry.slash(who[i], want, recipient);
            uint256 held = uint256(stake) + topUp;
            assertEq(taken, want < held ? want : held, "slash takes min(amount, stake)");
            slashedTotal += taken;
            expectedSum += held - taken;
            assertEq(registry.workerOf(who[i]).stake, held - taken);
        }
        assertEq(token.balanceOf(address(registry)), expectedSum, "registry balance == sum of stakes");
        assertEq(token.balanceOf(recipient), slashedTotal);

        for (uint256 i; i < 4; ++i) {
            vm.prank(who[i]);
            registry.requestUnstake();
        }
        vm.warp(block.timestamp + 7 days);
        for (uint256 i; i < 4; ++i) {
            uint256 stake = registry.workerOf(who[i]).stake;
            vm.prank(who[i]);
            registry.withdrawStake();
            expectedSum -= stake;
            assertEq(token.balanceOf(address(registry)), expectedSum);
            assertEq(token.balanceOf(who[i]), stake);
        }
        assertEq(token.balanceOf(address(registry)), 0);
    }

    function testFuzz_withdrawStake_revertsUntilUnlocked(uint32 delay, uint32 waited) public {
        delay = uint32(bound(delay, registry.MIN_UNBONDING_DELAY(), 365 days));
        registry.setUnbondingDelay(delay);
        address w = makeAddr("w");
        token.mint(w, MIN_STAKE);
        vm.startPrank(w);
        token.approve(address(registry), MIN_STAKE);
        registry.register(MIN_STAKE, 2, PUBKEY, "");
        registry.requestUnstake();
        uint256 unlocksAt = block.timestamp + delay;
        vm.warp(block.timestamp + bound(waited, 0, uint256(delay) * 2));
        if (block.timestamp < unlocksAt) {
            vm.expectRevert(abi.encodeWithSelector(IWorkerRegistry.WorkerRegistryStakeLocked.selector, w, unlocksAt));
        }
        registry.withdrawStake();
        vm.stopPrank();
    }
}
