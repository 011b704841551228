// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {TesseraToken} from "../../../contracts/token/TesseraToken.sol";
import {WorkerRegistry} from "../../../contracts/workers/WorkerRegistry.sol";
import {DataRegistry} from "../../../contracts/data/DataRegistry.sol";
import {IWorkerRegistry} from "../../../contracts/interfaces/IWorkerRegistry.sol";
import {ContributionArgs, DataParams} from "../../../contracts/types/DataTypes.sol";
import {PermitArgs} from "../../../contracts/types/InferenceTypes.sol";

/// @notice Shared world for the DataRegistry's Solidity tests: token, worker registry, data registry, validators.
abstract contract DataRegistryBase is Test {
    TesseraToken internal token;
    WorkerRegistry internal workers;
    DataRegistry internal data;

    address internal alice = makeAddr("alice");
    address[] internal validators;

    uint96 internal constant STAKE = 1_000_000e18;
    bytes internal constant CID = hex"01551220dadadadadadadadadadadadadadadadadadadadadadadadadadadadadadadada";
    bytes internal constant PUBKEY = hex"0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";

    function _params() internal pure returns (DataParams memory) {
        return DataParams({
            bond: 10e18,
            acceptReward: 50e18,
            validatorReward: 5e18,
            dissentSlash: 10e18,
            votingPeriod: 1 days,
            quorum: 8,
            committeeSize: 15,
            upfrontRewardBps: 2_000
        });
    }

    function _deploy(uint256 nValidators) internal {
        vm.warp(1_700_000_000);
        token = new TesseraToken(address(this), 1e28);
        token.grantRole(token.MINTER_ROLE(), address(this));
        workers = new WorkerRegistry(address(this), IERC20(address(token)), 1_000e18, 7 days);
        data = new DataRegistry(address(this), IERC20(address(token)), IWorkerRegistry(address(workers)), _params());
        workers.grantRole(workers.SLASHER_ROLE(), address(data));
        data.grantRole(data.ROYALTY_PAYER_ROLE(), address(this));
        token.approve(address(data), type(uint256).max);
        for (uint256 i; i < nValidators; ++i) {
            address v = makeAddr(string.concat("validator", vm.toString(i)));
            token.mint(v, STAKE);
            vm.startPrank(v);
            token.approve(address(workers), STAKE);
            workers.register(STAKE, data.CAP_VALIDATE(), PUBKEY, "");
            vm.stopPrank();
            validators.push(v);
        }
    }

    function _args(uint256 seed, uint32 sampleCount) internal pure returns (ContributionArgs memory) {
        return ContributionArgs({
            cid: CID,
            commitment: keccak256(abi.encode("commitment", seed)),
            sampleCount: sampleCount,
            schemaId: keccak256("mnist-784/labels-10"),
            licenseId: keccak256("CC-BY-4.0"),
            keyEnvelopesCid: CID
        });
    }

    /// @dev Mints the bond to `contributor` and contributes from it (approve, no permit).
    function _contribute(address contributor, uint256 seed, uint32 sampleCount) internal returns (uint64 id) {
        uint96 bond = data.params().bond;
        token.mint(contributor, bond);
        vm.startPrank(contributor);
        token.approve(address(data), bond);
        PermitArgs memory none;
        id = data.contribute(_args(seed, sampleCount), none);
        vm.stopPrank();
    }

    /// @dev Mines one block, so that the hash of the previous one (a contribution's seed block) is readable.
    function _nextBlock() internal {
        vm.roll(block.number + 1);
    }

    /// @dev Every validator votes `accept` (reject with `reason`) in the next block: the committee is all of them
    /// (equal stakes, at most 15), so the last vote decides.
    function _voteAll(uint64 id, bool accept, uint8 reason) internal {
        if (block.number <= data.validationOf(id).seedBlock) _nextBlock();
        for (uint256 i; i < validators.length; ++i) _vote(i, id, accept, accept ? 0 : reason);
    }

    function _vote(uint256 validatorIndex, uint64 id, bool accept, uint8 reason) internal {
        vm.prank(validators[validatorIndex]);
        data.vote(id, accept, reason);
    }

    function _withdrawAll(address account, uint256 expected) internal {
        if (expected == 0) return;
        uint256 before = token.balanceOf(account);
        vm.prank(account);
        data.withdraw();
        assertEq(token.balanceOf(account) - before, expected, "withdrawn");
    }
}
