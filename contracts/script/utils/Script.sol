// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice The Foundry cheatcodes poqw's deploy scripts use (forge-std is not installed, so they
/// are declared here from Foundry's documented cheatcode signatures).
interface ScriptVm {
    function startBroadcast() external;
    function stopBroadcast() external;
    function envOr(string calldata name, uint256 defaultValue) external view returns (uint256);
    function envOr(string calldata name, address defaultValue) external view returns (address);
}

/// @notice A minimal base for `forge script`: the cheatcodes and the flag forge looks for.
abstract contract ScriptBase {
    bool public IS_SCRIPT = true;
    ScriptVm internal constant vm = ScriptVm(address(uint160(uint256(keccak256("hevm cheat code")))));
}
