// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @title Wrapped PoQW
/// @notice The PoQW chain's native coin as an ERC-20, one to one, so the market and the registry
/// hold a single token kind on every chain. Sending coin (or calling {deposit}) mints; {withdraw}
/// burns and sends the coin back.
contract WrappedPoQW is ERC20, ERC20Permit, ReentrancyGuard {
    /// @notice A deposit or withdrawal of zero coin.
    error ZeroAmount();

    event Deposit(address indexed account, uint256 amount);
    event Withdrawal(address indexed account, uint256 amount);

    constructor() ERC20("Wrapped PoQW", "WPOQW") ERC20Permit("Wrapped PoQW") {}

    /// @notice Wrap the coin sent with the call.
    receive() external payable {
        deposit();
    }

    /// @notice Wrap the coin sent with the call into as many tokens for the sender.
    function deposit() public payable {
        if (msg.value == 0) revert ZeroAmount();
        _mint(msg.sender, msg.value);
        emit Deposit(msg.sender, msg.value);
    }

    /// @notice Burn `amount` tokens of the sender and send it as much native coin.
    function withdraw(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        _burn(msg.sender, amount);
        emit Withdrawal(msg.sender, amount);
        Address.sendValue(payable(msg.sender), amount);
    }
}
