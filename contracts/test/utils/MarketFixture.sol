// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {PoQWToken} from "../../src/PoQWToken.sol";
import {ProblemMarket} from "../../src/ProblemMarket.sol";
import {SolverRegistry} from "../../src/SolverRegistry.sol";
import {ISolverRegistry} from "../../src/interfaces/ISolverRegistry.sol";
import {Ising} from "./Ising.sol";
import {TestBase} from "./Test.sol";

/// @notice A deployed token, registry and market, with funded actors, for the market tests.
abstract contract MarketFixture is TestBase {
    uint256 internal constant MIN_STAKE = 100 ether;
    uint256 internal constant SLASH = 60 ether;
    uint256 internal constant REPORTER_BPS = 5_000;
    uint256 internal constant FEE_BPS = 250;
    uint64 internal constant UNBONDING = 7 days;
    uint64 internal constant START = 1_000_000;

    PoQWToken internal token;
    SolverRegistry internal registry;
    ProblemMarket internal market;

    address internal admin = address(0xA11CE);
    address internal treasury = address(0x7EA5);
    address internal feeRecipient = address(0xFEE);
    address internal customer = address(0xC0FFEE);
    address internal alice = address(0xA1);
    address internal bob = address(0xB0B);
    address internal carol = address(0xCA201);
    address internal reporter = address(0x2E9);

    function setUp() public virtual {
        vm.warp(START);
        token = new PoQWToken(address(this), 1e9 ether);
        registry = new SolverRegistry(IERC20(address(token)), MIN_STAKE, UNBONDING, SLASH, REPORTER_BPS, treasury, admin);
        market = new ProblemMarket(IERC20(address(token)), ISolverRegistry(address(registry)), feeRecipient, FEE_BPS);
        vm.startPrank(admin);
        registry.grantRole(registry.MARKET_ROLE(), address(market));
        registry.grantRole(registry.SLASHER_ROLE(), address(market));
        vm.stopPrank();
        address[5] memory actors = [customer, alice, bob, carol, reporter];
        for (uint256 k = 0; k < actors.length; k++) {
            token.transfer(actors[k], 10_000 ether);
            vm.startPrank(actors[k]);
            token.approve(address(market), type(uint256).max);
            token.approve(address(registry), type(uint256).max);
            vm.stopPrank();
        }
    }

    /// @notice A 4-spin antiferromagnetic ring with one field: ground energy -5 at - + - +, then -3 at + - + -.
    function ring() internal pure returns (bytes memory fields, bytes memory couplings) {
        fields = abi.encodePacked(int8(1), int8(0), int8(0), int8(0));
        couplings = bytes.concat(Ising.term(0, 1, 1), Ising.term(1, 2, 1), Ising.term(2, 3, 1), Ising.term(3, 0, 1));
    }

    function spins4(int8 a, int8 b, int8 c, int8 d) internal pure returns (bytes memory) {
        int8[] memory s = new int8[](4);
        (s[0], s[1], s[2], s[3]) = (a, b, c, d);
        return Ising.pack(s);
    }

    function postRing(uint128 bounty, int64 target) internal returns (uint256 id) {
        (bytes memory fields, bytes memory couplings) = ring();
        vm.prank(customer);
        id = market.post(4, fields, couplings, bounty, target, START + 100, 50);
    }

    function stakeFor(address solver) internal {
        vm.prank(solver);
        registry.stake(MIN_STAKE);
    }

    function commitFor(address solver, uint256 id, bytes memory spins, bytes32 salt, int64 claim) internal {
        bytes32 digest = keccak256(abi.encode(id, spins, salt, solver));
        vm.prank(solver);
        market.commit(id, digest, claim);
    }

    function revealFor(address solver, uint256 id, bytes memory spins, bytes32 salt) internal returns (int64) {
        (bytes memory fields, bytes memory couplings) = ring();
        vm.prank(solver);
        return market.reveal(id, spins, salt, fields, couplings);
    }
}
