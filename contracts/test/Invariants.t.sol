// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {PoQWToken} from "../src/PoQWToken.sol";
import {ProblemMarket} from "../src/ProblemMarket.sol";
import {SolverRegistry} from "../src/SolverRegistry.sol";
import {Ising} from "./utils/Ising.sol";
import {Vm} from "./utils/Test.sol";

/// @notice Drives the market and the registry with random actions from a few actors, and keeps
/// ghost books of what went in and out.
contract MarketHandler {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    PoQWToken internal immutable token;
    SolverRegistry internal immutable registry;
    ProblemMarket internal immutable market;
    address[4] internal actors = [address(0xC0FFEE), address(0xA1), address(0xB0B), address(0xCA201)];
    bytes internal fields = abi.encodePacked(int8(1), int8(0), int8(-1), int8(0));
    bytes internal couplings =
        bytes.concat(Ising.term(0, 1, 1), Ising.term(1, 2, -2), Ising.term(2, 3, 3), Ising.term(3, 0, 1));

    mapping(uint256 problemId => uint256) public closings; // successful settle + cancel calls
    mapping(uint256 problemId => mapping(address => bytes)) internal spinsOf;
    uint256[] internal committedIds;
    address[] internal committedSolvers;
    uint256 public stakedIn;
    uint256 public stakeOut; // withdrawals and slashes
    uint256 public now_ = 1_000_000;

    constructor(PoQWToken token_, SolverRegistry registry_, ProblemMarket market_) {
        token = token_;
        registry = registry_;
        market = market_;
    }

    /// Every action runs at the handler's clock (the fuzzer does not carry block time between calls).
    modifier timed() {
        vm.warp(now_);
        _;
    }

    function actorCount() external pure returns (uint256) {
        return 4;
    }

    function actor(uint256 k) external view returns (address) {
        return actors[k];
    }

    function _actor(uint256 seed) internal view returns (address) {
        return actors[seed % actors.length];
    }

    function _problem(uint256 seed) internal view returns (uint256) {
        uint256 count = market.problemCount();
        return count == 0 ? 1 : 1 + seed % count;
    }

    function warp(uint256 dt) external {
        now_ += dt % 20;
        vm.warp(now_);
    }

    function post(uint256 who, uint128 bounty, int64 target, uint8 deadline, uint8 window) external timed {
        bounty = uint128(1 + bounty % 1_000 ether);
        target = 7 - int64(target % 4); // usually reachable: the energy lies in [-9, 9]
        vm.prank(_actor(who));
        try market.post(
            4, fields, couplings, bounty, target, uint64(now_ + 10 + deadline % 60), uint32(10 + window % 60)
        ) {} catch {}
    }

    function commit(uint256 who, uint256 problem, uint8 rawSpins, bool honest) external timed {
        uint256 id = _problem(problem);
        address solver = _actor(who);
        bytes memory spins = abi.encodePacked(uint8(rawSpins & 15));
        int256 energy = Ising.referenceEnergy(spins, fields, couplings);
        int64 claim = int64(honest ? energy : energy - 1 - int256(uint256(rawSpins >> 4)));
        vm.prank(solver);
        try market.commit(id, keccak256(abi.encode(id, spins, bytes32(id), solver)), claim) {
            spinsOf[id][solver] = spins;
            committedIds.push(id);
            committedSolvers.push(solver);
        } catch {}
    }

    function reveal(uint256 pick) external timed {
        if (committedIds.length == 0) return;
        uint256 id = committedIds[pick % committedIds.length];
        address solver = committedSolvers[pick % committedIds.length];
        vm.prank(solver);
        try market.reveal(id, spinsOf[id][solver], bytes32(id), fields, couplings) {} catch {}
    }

    function report(uint256 who, uint256 problem, uint256 by) external timed {
        uint256 id = _problem(problem);
        vm.prank(_actor(by));
        try market.reportSolver(id, _actor(who)) returns (uint256 slashed) {
            stakeOut += slashed;
        } catch {}
    }

    function settle(uint256 problem) external timed {
        uint256 id = _problem(problem);
        try market.settle(id) {
            closings[id] += 1;
        } catch {}
    }

    function cancel(uint256 who, uint256 problem) external timed {
        if (who % 8 != 0) return; // rare, or problems die before anyone commits
        uint256 id = _problem(problem);
        vm.prank(_actor(who >> 3));
        try market.cancel(id) {
            closings[id] += 1;
        } catch {}
    }

    function withdraw(uint256 who) external timed {
        vm.prank(_actor(who));
        try market.withdraw() {} catch {}
    }

    function stake(uint256 who, uint256 amount) external timed {
        amount = 100 ether + amount % 200 ether; // mostly enough to commit
        vm.prank(_actor(who));
        try registry.stake(amount) {
            stakedIn += amount;
        } catch {}
    }

    function unbond(uint256 who, uint256 amount) external timed {
        vm.prank(_actor(who));
        try registry.requestUnbond(1 + amount % 300 ether) {} catch {}
    }

    function withdrawStake(uint256 who) external timed {
        address solver = _actor(who);
        uint256 before = token.balanceOf(solver);
        vm.prank(solver);
        try registry.withdrawStake() {
            stakeOut += token.balanceOf(solver) - before;
        } catch {}
    }
}

/// @notice Escrow always equals open bounties plus unpaid credits; a stake is never paid out twice;
/// a problem is settled (or cancelled) at most once.
contract InvariantsTest {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    PoQWToken internal token;
    SolverRegistry internal registry;
    ProblemMarket internal market;
    MarketHandler internal handler;

    function setUp() public {
        vm.warp(1_000_000);
        token = new PoQWToken(address(this), 1e9 ether);
        registry = new SolverRegistry(token, 100 ether, 30, 60 ether, 5_000, address(0x7EA5), address(this));
        market = new ProblemMarket(token, registry, address(0xFEE), 250);
        registry.grantRole(registry.MARKET_ROLE(), address(market));
        registry.grantRole(registry.SLASHER_ROLE(), address(market));
        handler = new MarketHandler(token, registry, market);
        for (uint256 k = 0; k < handler.actorCount(); k++) {
            address a = handler.actor(k);
            token.transfer(a, 1_000_000 ether);
            vm.startPrank(a);
            token.approve(address(market), type(uint256).max);
            token.approve(address(registry), type(uint256).max);
            vm.stopPrank();
        }
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function invariant_escrowEqualsOpenBountiesPlusUnpaid() public view {
        uint256 open;
        for (uint256 id = 1; id <= market.problemCount(); id++) {
            ProblemMarket.Problem memory p = market.getProblem(id);
            if (p.status == ProblemMarket.Status.Open) open += p.bounty;
        }
        uint256 owed = market.claimable(address(0xFEE));
        for (uint256 k = 0; k < handler.actorCount(); k++) owed += market.claimable(handler.actor(k));
        vm.assertEq(open, market.totalOpenBounties(), "open bounties book");
        vm.assertEq(owed, market.totalClaimable(), "credits book");
        vm.assertEq(token.balanceOf(address(market)), open + owed, "escrow = open bounties + unpaid");
    }

    function invariant_stakeNeverPaidTwice() public view {
        uint256 bonded;
        for (uint256 k = 0; k < handler.actorCount(); k++) {
            SolverRegistry.SolverInfo memory info = registry.solverInfo(handler.actor(k));
            bonded += info.stake + info.unbonding;
        }
        vm.assertEq(bonded, registry.totalBonded(), "bonded book");
        vm.assertEq(token.balanceOf(address(registry)), bonded, "registry holds exactly the stakes");
        vm.assertEq(handler.stakedIn() - handler.stakeOut(), bonded, "out = in - still bonded");
    }

    function invariant_problemClosedAtMostOnce() public view {
        for (uint256 id = 1; id <= market.problemCount(); id++) {
            vm.assertLe(handler.closings(id), 1, "settled or cancelled at most once");
        }
    }
}
