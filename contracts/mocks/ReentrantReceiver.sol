// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IInferenceMarket} from "../interfaces/IInferenceMarket.sol";
import {InferenceRequest, InputKind, OutputKind, RequestArgs} from "../types/InferenceTypes.sol";

/// @notice Test-only: a requester/worker whose receive() and callback re-enter the market.
contract ReentrantReceiver {
    IInferenceMarket public immutable market;
    uint256 public reentries;
    InferenceRequest private _target;
    bool private _fulfilTarget;

    constructor(IInferenceMarket market_) {
        market = market_;
    }

    function request(RequestArgs calldata args) external payable returns (uint256) {
        return market.requestInference{value: msg.value}(args);
    }

    function withdraw() external {
        market.withdraw(address(0));
    }

    /// @notice Makes the next callback try to fulfil `target` (instead of withdrawing).
    function setFulfilTarget(InferenceRequest calldata target) external {
        _target = target;
        _fulfilTarget = true;
    }

    function onInferenceResult(uint256, bytes calldata) external {
        ++reentries;
        if (_fulfilTarget) market.fulfill(_target, OutputKind.Inline, hex"01", bytes32(0));
        else market.withdraw(address(0));
    }

    receive() external payable {
        ++reentries;
        market.withdraw(address(0));
    }
}
