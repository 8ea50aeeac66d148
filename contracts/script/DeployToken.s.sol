// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {PoQWToken} from "../src/PoQWToken.sol";
import {ScriptBase} from "./utils/Script.sol";

/// @notice Deploy {PoQWToken} with the whole supply held by the broadcasting account, then send
/// part of it to a recipient: two transactions, run with
/// `forge script script/DeployToken.s.sol --rpc-url URL --private-key KEY --broadcast`.
/// Environment (optional): POQW_TOKEN_SUPPLY (wei, default 1,000,000 tokens),
/// POQW_TOKEN_RECIPIENT (default 0x1111...1111), POQW_TOKEN_AMOUNT (wei, default 1,000 tokens).
contract DeployToken is ScriptBase {
    function run() external returns (PoQWToken token) {
        uint256 supply = vm.envOr("POQW_TOKEN_SUPPLY", uint256(1_000_000 ether));
        address recipient = vm.envOr("POQW_TOKEN_RECIPIENT", address(0x1111111111111111111111111111111111111111));
        uint256 amount = vm.envOr("POQW_TOKEN_AMOUNT", uint256(1_000 ether));

        vm.startBroadcast();
        token = new PoQWToken(msg.sender, supply);
        require(token.transfer(recipient, amount), "transfer failed");
        vm.stopBroadcast();

        require(token.balanceOf(recipient) == amount, "recipient balance differs");
        require(token.balanceOf(msg.sender) == supply - amount, "holder balance differs");
    }
}
