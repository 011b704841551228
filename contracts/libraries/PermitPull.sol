// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {PermitArgs} from "../types/InferenceTypes.sol";

/// @title PermitPull
/// @notice Pulls tokens from the caller in the same transaction as its ERC-2612 permit, so payers need no
/// separate approve. Shared by every contract that takes the token (fees, bonds, budgets).
library PermitPull {
    using SafeERC20 for IERC20;

    /// @dev Applies `permit` when one is given (`deadline != 0`), then pulls `amount` from `msg.sender`.
    /// A front-runner may have used the permit already; the transfer then relies on the allowance it set,
    /// which is why a failed permit is not an error (OpenZeppelin's advice for ERC-2612).
    function pullWithPermit(IERC20 token, uint256 amount, PermitArgs calldata permit) internal {
        if (permit.deadline != 0) {
            try IERC20Permit(address(token)).permit(
                msg.sender, address(this), permit.value, permit.deadline, permit.v, permit.r, permit.s
            ) {} catch {}
        }
        token.safeTransferFrom(msg.sender, address(this), amount);
    }
}
