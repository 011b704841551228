// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IInferenceMarket} from "../interfaces/IInferenceMarket.sol";
import {RequestArgs} from "../types/InferenceTypes.sol";

/// @notice Test-only: a consumer whose callback reverts, burns all its gas, or returns a huge payload.
contract MisbehavingConsumer {
    enum Mode {
        Revert,
        BurnGas,
        ReturnBomb,
        Succeed
    }

    error MisbehavingConsumerReverted();

    IInferenceMarket public immutable market;
    Mode public mode;
    uint256 public calls;

    constructor(IInferenceMarket market_, Mode mode_) {
        market = market_;
        mode = mode_;
    }

    function request(RequestArgs calldata args) external payable returns (uint256) {
        return market.requestInference{value: msg.value}(args);
    }

    function onInferenceResult(uint256, bytes calldata) external {
        if (mode == Mode.Revert) revert MisbehavingConsumerReverted();
        if (mode == Mode.BurnGas) {
            while (true) {
                ++calls;
            }
        }
        if (mode == Mode.ReturnBomb) {
            assembly {
                return(0, 200000)
            }
        }
        ++calls;
    }
}
