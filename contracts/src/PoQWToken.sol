// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title PoQW token
/// @notice The payment and staking token for deployments of the problem market on EVM chains
/// other than PoQW (where the wrapped native coin {WrappedPoQW} plays this part). A fixed supply is
/// minted once to `holder`; EIP-2612 permits let a customer approve and post in one transaction.
contract PoQWToken is ERC20, ERC20Permit {
    /// @param holder Receives the whole supply.
    /// @param supply The fixed total supply, in the smallest unit (18 decimals).
    constructor(address holder, uint256 supply) ERC20("PoQW Token", "PQW") ERC20Permit("PoQW Token") {
        _mint(holder, supply);
    }
}
