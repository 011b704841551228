// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice Test-only stand-in for the WorkerRegistry's validator-stake views, as the DataRegistry reads them:
/// every account is an eligible validator holding `stake` out of `totalStake` at every block, and slashes take
/// nothing. Each account is then drawn with probability `stake * committeeSize / totalStake`, and the accounts'
/// stakes do not have to add up to `totalStake`: once a dataset's seed is known, a test can pick more drawn
/// voters than the real registry draws but with a probability of about 1e-7 (over 40 for 16 expected seats), and
/// reach the DataRegistry's ballot bound.
contract FlatStakeRegistryMock {
    /// @notice Same floor as the WorkerRegistry's (the DataRegistry checks `votingPeriod` against it).
    uint32 public constant MIN_UNBONDING_DELAY = 2 days;

    uint256 public immutable stake;
    uint256 public immutable totalStake;

    constructor(uint256 stake_, uint256 totalStake_) {
        stake = stake_;
        totalStake = totalStake_;
    }

    function isEligible(address, uint8) external pure returns (bool) {
        return true;
    }

    function validatorStakeAt(address, uint48) external view returns (uint256) {
        return stake;
    }

    function totalValidatorStakeAt(uint48) external view returns (uint256) {
        return totalStake;
    }

    function slash(address, uint256, address) external pure returns (uint256) {
        return 0;
    }
}
