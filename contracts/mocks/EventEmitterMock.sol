// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice Test-only contract for the worker's chain infrastructure: emits events on demand and
/// reverts with a custom error, a reason string or a panic so that decoding can be exercised.
contract EventEmitterMock {
    /// @notice Emitted by `ping`.
    /// @param id Caller-chosen identifier.
    /// @param sender The caller.
    /// @param amount An arbitrary amount (exercises bigint serialization).
    /// @param note Free text.
    event Pinged(uint256 indexed id, address indexed sender, uint256 amount, string note);

    /// @notice Emitted by `pingMany`, once per index.
    /// @param id The index.
    /// @param values Some numbers derived from the index.
    /// @param tag A fixed tag.
    event Batched(uint256 indexed id, uint256[] values, bytes32 tag);

    /// @notice Thrown by `fail`.
    /// @param code The code the caller passed.
    /// @param caller The caller.
    error EventEmitterMockFailed(uint256 code, address caller);

    /// @notice Thrown by `pingIfOpen` while the gate is closed.
    error EventEmitterMockGateClosed();

    uint256 private _counter;
    bool private _gateClosed;

    /// @notice Closes or opens the gate `pingIfOpen` checks (lets a test move the state under a pending call).
    function setGateClosed(bool closed) external {
        _gateClosed = closed;
    }

    /// @notice Counts like `ping`, unless the gate is closed.
    function pingIfOpen() external {
        if (_gateClosed) revert EventEmitterMockGateClosed();
        _counter += 1;
    }

    /// @notice Number of successful state-changing calls so far.
    function counter() external view returns (uint256) {
        return _counter;
    }

    function ping(uint256 id, uint256 amount, string calldata note) external {
        _counter += 1;
        emit Pinged(id, msg.sender, amount, note);
    }

    function pingMany(uint256 fromId, uint256 count) external {
        _counter += 1;
        for (uint256 i = 0; i < count; ++i) {
            uint256[] memory values = new uint256[](2);
            values[0] = fromId + i;
            values[1] = (fromId + i) * 1e18;
            emit Batched(fromId + i, values, keccak256("batched"));
        }
    }

    /// @notice Succeeds (and counts) when `code` is zero, otherwise reverts with a custom error.
    function fail(uint256 code) external {
        if (code != 0) revert EventEmitterMockFailed(code, msg.sender);
        _counter += 1;
    }

    function failWithReason() external pure {
        revert("EventEmitterMock: reason");
    }

    function failWithPanic(uint256 divisor) external pure returns (uint256) {
        return 1 / divisor;
    }
}
