// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {InferenceMarketBase} from "./InferenceMarketBase.sol";
import {IInferenceMarket} from "../../../contracts/interfaces/IInferenceMarket.sol";
import {InferenceRequest, OutputKind, RequestState} from "../../../contracts/types/InferenceTypes.sol";

contract InferenceMarketTest is InferenceMarketBase {
    function setUp() public {
        _deploy();
    }

    /// @dev Fulfil then settle and withdraw everything: each party gets its exact share, the market ends empty.
    function testFuzz_fulfil_splitsFeeExactly(uint96 fee, uint16 royaltyBps, uint16 protocolBps, bool inToken) public {
        protocolBps = uint16(bound(protocolBps, 0, market.MAX_PROTOCOL_FEE_BPS()));
        royaltyBps = uint16(bound(royaltyBps, 0, 10_000 - protocolBps));
        fee = uint96(bound(fee, inToken ? PRICE_TOKEN : PRICE_WEI, type(uint96).max));
        market.setParams(_params(protocolBps));
        uint64 versionId = _publish(royaltyBps);
        address currency = inToken ? address(token) : address(0);

        (InferenceRequest memory r, uint256 id) = _request(alice, versionId, fee, inToken, 1);
        vm.prank(worker);
        market.claim(id);
        vm.prank(worker);
        market.fulfill(r, OutputKind.Inline, hex"07", bytes32(0));

        uint256 royalty = uint256(fee) * royaltyBps / 10_000;
        uint256 protocolFee = uint256(fee) * protocolBps / 10_000;
        uint256 workerShare = fee - royalty - protocolFee;
        assertEq(market.creditOf(worker, currency), 0, "nothing credited before settle");
        (uint128 fees, uint128 protocolFees) = market.earnedOf(worker, versionId, currency);
        assertEq(fees, fee);
        assertEq(protocolFees, protocolFee);

        uint64[] memory ids = new uint64[](1);
        ids[0] = versionId;
        market.settle(worker, ids, currency);
        (fees, protocolFees) = market.earnedOf(worker, versionId, currency);
        assertEq(uint256(fees) + protocolFees, 0, "earnings cleared");
        assertEq(market.creditOf(worker, currency), workerShare);
        _withdrawAll(worker, currency, workerShare);
        _withdrawAll(modelOwner, currency, royalty);
        _withdrawAll(treasury, currency, protocolFee);
        assertEq(_balance(address(market), currency), 0, "market empty");
    }

    /// @dev Many fulfilments settle as one aggregate: the royalty is rounded down once over the summed fees, so it
    /// exceeds the sum of per-request roundings by less than 1 wei per request; nothing is created or lost.
    function testFuzz_settle_aggregateRounding(uint96 seed, uint8 count, uint16 royaltyBps, bool inToken) public {
        uint256 n = bound(count, 1, 12);
        royaltyBps = uint16(bound(royaltyBps, 0, 10_000 - 250));
        uint64 versionId = _publish(royaltyBps);
        address currency = inToken ? address(token) : address(0);
        uint256 total;
        uint256 perRequestRoyalty;
        uint256 protocolFees;
        for (uint256 i; i < n; ++i) {
            uint96 fee = uint96(bound(uint256(keccak256(abi.encode(seed, i))), inToken ? PRICE_TOKEN : PRICE_WEI, 1e27));
            (InferenceRequest memory r,) = _request(alice, versionId, fee, inToken, uint64(100 + i));
            vm.prank(worker); // optimistic: no claim
            market.fulfill(r, OutputKind.Inline, hex"07", bytes32(0));
            total += fee;
            perRequestRoyalty += uint256(fee) * royaltyBps / 10_000;
            protocolFees += uint256(fee) * 250 / 10_000;
        }
        uint64[] memory ids = new uint64[](2);
        ids[0] = versionId;
        ids[1] = versionId; // a repeated id finds nothing left to settle
        market.settle(worker, ids, currency);
        uint256 royalty = market.creditOf(modelOwner, currency);
        assertEq(royalty, total * royaltyBps / 10_000, "one rounding");
        assertGe(royalty, perRequestRoyalty);
        assertLt(royalty - perRequestRoyalty, n, "< 1 wei per request");
        assertEq(market.creditOf(treasury, currency), protocolFees);
        assertEq(market.creditOf(worker, currency), total - royalty - protocolFees);
        assertEq(_balance(address(market), currency), total, "market holds exactly the credits");
    }

    /// @dev An expired request refunds its whole fee once, whether or not it was claimed.
    function testFuzz_refund_returnsWholeFeeOnce(uint96 fee, bool inToken, bool claimFirst, uint32 lateBy) public {
        fee = uint96(bound(fee, inToken ? PRICE_TOKEN : PRICE_WEI, type(uint96).max));
        address currency = inToken ? address(token) : address(0);
        (InferenceRequest memory r, uint256 id) = _request(alice, 1, fee, inToken, 2);
        if (claimFirst) {
            vm.prank(worker);
            market.claim(id);
        }
        vm.warp(uint256(r.deadline) + bound(lateBy, 1, 30 days));
        uint256 stakeBefore = workers.workerOf(worker).stake;
        market.refund(r);
        assertEq(workers.workerOf(worker).stake, claimFirst ? stakeBefore - 10e18 : stakeBefore, "lapse slash");
        vm.expectRevert(abi.encodeWithSelector(IInferenceMarket.InferenceMarketRequestNotOpen.selector, id));
        market.refund(r);
        _withdrawAll(alice, currency, fee);
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceMarket.InferenceMarketNothingToWithdraw.selector, alice, currency)
        );
        vm.prank(alice);
        market.withdraw(currency);
        assertEq(_balance(address(market), currency), 0);
    }

    /// @dev Any change to the terms gives an id that was never opened.
    function testFuzz_fulfil_rejectsForgedTerms(uint96 forgedFee, uint64 forgedSalt) public {
        (InferenceRequest memory r, uint256 id) = _request(alice, 1, PRICE_WEI, false, 3);
        vm.prank(worker);
        market.claim(id);
        vm.assume(forgedFee != r.fee || forgedSalt != r.salt);
        InferenceRequest memory forged = r;
        forged.fee = forgedFee;
        forged.salt = forgedSalt;
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceMarket.InferenceMarketRequestNotOpen.selector, market.requestIdOf(forged))
        );
        vm.prank(worker);
        market.fulfill(forged, OutputKind.Inline, hex"07", bytes32(0));
    }

    function test_requestState_decodesTheSlot() public {
        (InferenceRequest memory r, uint256 id) = _request(alice, 1, PRICE_WEI, false, 4);
        vm.prank(worker);
        market.claim(id);
        RequestState memory s = market.requestState(id);
        assertEq(uint8(s.status), 2);
        assertEq(s.deadline, r.deadline);
        assertEq(s.claimExpiry, block.timestamp + 60);
        assertEq(s.claimant, worker);
        assertEq(s.modelVersionId, 1);
    }

    function _withdrawAll(address who, address currency, uint256 expected) internal {
        uint256 before = _balance(who, currency);
        if (expected == 0) return;
        vm.prank(who);
        market.withdraw(currency);
        assertEq(_balance(who, currency) - before, expected);
        assertEq(market.creditOf(who, currency), 0);
    }
}
