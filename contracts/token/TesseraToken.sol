// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Capped} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Capped.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title TesseraToken
/// @notice The protocol's ERC-20 (with ERC-2612 permit): stakes, bonds, rewards and payments.
/// @dev Supply is capped; only accounts holding MINTER_ROLE (the reward pools) can mint.
contract TesseraToken is ERC20Capped, ERC20Permit, AccessControl {
    /// @notice Role allowed to mint new tokens up to the cap.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @param admin Receives DEFAULT_ADMIN_ROLE (grants and revokes minters).
    /// @param cap_ Maximum total supply, in wei of the token.
    constructor(address admin, uint256 cap_)
        ERC20("Tessera", "TSR")
        ERC20Capped(cap_)
        ERC20Permit("Tessera")
    {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Mints `amount` to `to`. Reverts with ERC20ExceededCap past the cap.
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Capped) {
        super._update(from, to, value);
    }
}
