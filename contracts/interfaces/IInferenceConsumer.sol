// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IInferenceConsumer
/// @notice Implemented by contracts that request inference with `callbackGasLimit > 0`.
interface IInferenceConsumer {
    /// @notice Called by the InferenceMarket with exactly the request's `callbackGasLimit` gas.
    /// @dev A revert or out-of-gas here does not undo the fulfilment; the market emits
    /// `InferenceCallbackFailed`. Return data is ignored and never copied.
    /// @param requestId The fulfilled request.
    /// @param output The worker's output (inline bytes, or the bytes of a CID).
    function onInferenceResult(uint256 requestId, bytes calldata output) external;
}
