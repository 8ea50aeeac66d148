// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice The Foundry cheatcodes these tests use (forge-std is not installed, so they are declared
/// here from Foundry's documented cheatcode signatures).
interface Vm {
    function warp(uint256 timestamp) external;
    function prank(address sender) external;
    function startPrank(address sender) external;
    function stopPrank() external;
    function deal(address account, uint256 amount) external;
    function expectRevert(bytes calldata revertData) external;
    function expectRevert(bytes4 selector) external;
    function expectRevert() external;
    function expectEmit(bool topic1, bool topic2, bool topic3, bool data) external;
    function expectEmit() external;
    function assume(bool condition) external pure;
    function addr(uint256 privateKey) external pure returns (address);
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    function label(address account, string calldata name) external;
    function assertEq(uint256 left, uint256 right, string calldata err) external pure;
    function assertEq(int256 left, int256 right, string calldata err) external pure;
    function assertEq(address left, address right, string calldata err) external pure;
    function assertEq(bytes32 left, bytes32 right, string calldata err) external pure;
    function assertEq(bool left, bool right, string calldata err) external pure;
    function assertLe(uint256 left, uint256 right, string calldata err) external pure;
    function assertTrue(bool condition, string calldata err) external pure;
    function pauseGasMetering() external;
    function resumeGasMetering() external;
}

/// @notice A minimal test base: cheatcodes, console output and a fuzz-input bounder.
abstract contract TestBase {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    address private constant CONSOLE = 0x000000000000000000636F6e736F6c652e6c6f67;

    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    function log(string memory message) internal view {
        (bool ok,) = CONSOLE.staticcall(abi.encodeWithSignature("log(string)", message));
        ok;
    }

    /// @notice Map `x` into [lo, hi] (both included), keeping small inputs where they are.
    function bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        require(lo <= hi, "bound: empty range");
        uint256 size = hi - lo + 1;
        if (size == 0) return x; // the whole uint256 range
        return lo + x % size;
    }
}
