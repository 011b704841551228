// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IInferenceConsumer} from "../interfaces/IInferenceConsumer.sol";
import {IInferenceMarket} from "../interfaces/IInferenceMarket.sol";
import {InputKind, RequestArgs} from "../types/InferenceTypes.sol";

/// @title MnistDigitConsumer
/// @notice Example customer contract: asks a digit classifier about a 28x28 image and stores the answer.
contract MnistDigitConsumer is IInferenceConsumer {
    /// @notice Number of pixels of an MNIST image (28 x 28, one uint8 each).
    uint256 public constant PIXELS = 784;

    /// @notice Thrown when someone other than the market calls back.
    error MnistDigitConsumerNotMarket(address caller);
    /// @notice Thrown when the image does not have 784 pixels.
    error MnistDigitConsumerBadImage(uint256 length);
    /// @notice Thrown when someone other than the deployer collects refunds.
    error MnistDigitConsumerNotOwner(address caller);

    /// @notice Emitted when a digit was asked about.
    /// @param requestId The market's request id.
    /// @param asker Who paid.
    event DigitAsked(uint256 indexed requestId, address indexed asker);
    /// @notice Emitted when the market delivered the answer.
    /// @param requestId The market's request id.
    /// @param digit The predicted digit (first output byte).
    event DigitAnswered(uint256 indexed requestId, uint8 digit);

    IInferenceMarket private immutable _market;
    address private immutable _owner;
    uint64 private _nonce;
    mapping(uint256 requestId => uint8) private _answers;
    mapping(uint256 requestId => bool) private _answered;

    /// @param market_ The InferenceMarket.
    constructor(IInferenceMarket market_) {
        _market = market_;
        _owner = msg.sender;
    }

    /// @notice Pays `msg.value` (ETH) for a classification of `pixels` by model version `versionId`.
    /// @return requestId The market's request id.
    function ask(uint64 versionId, bytes calldata pixels, uint32 deadline, uint32 callbackGasLimit)
        external
        payable
        returns (uint256 requestId)
    {
        if (pixels.length != PIXELS) revert MnistDigitConsumerBadImage(pixels.length);
        requestId = _market.requestInference{value: msg.value}(
            RequestArgs({
                modelVersionId: versionId,
                deadline: deadline,
                callbackGasLimit: callbackGasLimit,
                salt: _nonce++,
                inputKind: InputKind.Inline,
                input: pixels
            })
        );
        emit DigitAsked(requestId, msg.sender);
    }

    /// @inheritdoc IInferenceConsumer
    function onInferenceResult(uint256 requestId, bytes calldata output) external {
        if (msg.sender != address(_market)) revert MnistDigitConsumerNotMarket(msg.sender);
        uint8 digit = uint8(output[0]);
        _answers[requestId] = digit;
        _answered[requestId] = true;
        emit DigitAnswered(requestId, digit);
    }

    /// @notice Withdraws refunds of expired requests from the market and sends them to the deployer.
    function collectRefunds() external {
        if (msg.sender != _owner) revert MnistDigitConsumerNotOwner(msg.sender);
        _market.withdraw(address(0));
        (bool ok,) = _owner.call{value: address(this).balance}("");
        ok; // the deployer chose its own address; a failure leaves the ETH here for the next call
    }

    /// @notice The answer to `requestId` and whether it arrived.
    function answerOf(uint256 requestId) external view returns (uint8 digit, bool answered) {
        return (_answers[requestId], _answered[requestId]);
    }

    /// @notice Accepts refunds withdrawn from the market.
    receive() external payable {}
}
