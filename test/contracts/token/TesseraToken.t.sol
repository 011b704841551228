// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {TesseraToken} from "../../../contracts/token/TesseraToken.sol";

contract TesseraTokenTest is Test {
    TesseraToken internal token;

    function setUp() public {
        token = new TesseraToken(address(this), 1_000 ether);
        token.grantRole(token.MINTER_ROLE(), address(this));
    }

    function testFuzz_mint_respectsCap(uint256 amount) public {
        amount = bound(amount, 0, 1_000 ether);
        token.mint(address(0xA11CE), amount);
        assertEq(token.totalSupply(), amount);
    }
}
