// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {ProblemMarket} from "../src/ProblemMarket.sol";
import {SolverRegistry} from "../src/SolverRegistry.sol";
import {WrappedPoQW} from "../src/WrappedPoQW.sol";
import {ISolverRegistry} from "../src/interfaces/ISolverRegistry.sol";
import {Ising} from "./utils/Ising.sol";
import {TestBase} from "./utils/Test.sol";

/// @notice A token that, once armed, calls an attacker in the middle of its next transfer.
contract HookToken is ERC20 {
    address public attacker;

    constructor() ERC20("Hook", "HOOK") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function arm(address attacker_) external {
        attacker = attacker_;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        address target = attacker;
        if (target != address(0)) {
            attacker = address(0);
            Attacker(payable(target)).onTransfer();
        }
    }
}

/// @notice Posts, cancels and withdraws; when the token calls back it tries to take a second time.
contract Attacker {
    ProblemMarket internal immutable market;
    SolverRegistry internal immutable registry;
    HookToken internal immutable token;
    bytes internal reentry;
    bool internal swallow;
    bool public reentryFailed;

    constructor(ProblemMarket market_, SolverRegistry registry_, HookToken token_) {
        market = market_;
        registry = registry_;
        token = token_;
        token_.approve(address(market_), type(uint256).max);
        token_.approve(address(registry_), type(uint256).max);
    }

    function setReentry(bytes calldata call, bool swallow_) external {
        reentry = call;
        swallow = swallow_;
    }

    function run(address target, bytes calldata call) external {
        (bool ok, bytes memory ret) = target.call(call);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
    }

    function onTransfer() external {
        (bool ok, bytes memory ret) = _target().call(reentry);
        if (!ok) {
            reentryFailed = true;
            if (!swallow) {
                assembly {
                    revert(add(ret, 32), mload(ret))
                }
            }
        }
    }

    function _target() internal view returns (address) {
        return bytes4(reentry) == SolverRegistry.withdrawStake.selector ? address(registry) : address(market);
    }

    receive() external payable {}
}

/// @notice Re-entering the market, the registry and the wrapped coin through a malicious token or
/// a receiving contract is refused with ReentrancyGuardReentrantCall, and nothing is paid twice.
contract ReentrancyTest is TestBase {
    HookToken internal token;
    SolverRegistry internal registry;
    ProblemMarket internal market;
    Attacker internal attacker;

    function setUp() public {
        vm.warp(1_000_000);
        token = new HookToken();
        registry = new SolverRegistry(IERC20(address(token)), 10, 1 days, 5, 5_000, address(0x7EA5), address(this));
        market = new ProblemMarket(IERC20(address(token)), ISolverRegistry(address(registry)), address(0xFEE), 100);
        registry.grantRole(registry.MARKET_ROLE(), address(market));
        registry.grantRole(registry.SLASHER_ROLE(), address(market));
        attacker = new Attacker(market, registry, token);
        token.mint(address(attacker), 1_000);
    }

    function _postAndCancel() internal {
        bytes memory couplings = Ising.term(0, 1, 1);
        attacker.run(
            address(market),
            abi.encodeCall(ProblemMarket.post, (2, new bytes(2), couplings, 400, -1, 1_000_100, 10))
        );
        attacker.run(address(market), abi.encodeCall(ProblemMarket.cancel, (1)));
    }

    function test_withdrawReentryReverts() public {
        _postAndCancel();
        attacker.setReentry(abi.encodeCall(ProblemMarket.withdraw, ()), false);
        token.arm(address(attacker));
        vm.expectRevert(ReentrancyGuard.ReentrancyGuardReentrantCall.selector);
        attacker.run(address(market), abi.encodeCall(ProblemMarket.withdraw, ()));
    }

    function test_withdrawReentryCannotPayTwice() public {
        _postAndCancel();
        attacker.setReentry(abi.encodeCall(ProblemMarket.withdraw, ()), true);
        token.arm(address(attacker));
        attacker.run(address(market), abi.encodeCall(ProblemMarket.withdraw, ()));
        vm.assertTrue(attacker.reentryFailed(), "the second withdrawal was refused");
        vm.assertEq(token.balanceOf(address(attacker)), 1_000, "paid once");
        vm.assertEq(token.balanceOf(address(market)), 0, "market empty");
        vm.assertEq(market.totalClaimable(), 0, "nothing owed");
    }

    function test_settleReentryDuringPostReverts() public {
        attacker.setReentry(abi.encodeCall(ProblemMarket.settle, (1)), false);
        token.arm(address(attacker));
        vm.expectRevert(ReentrancyGuard.ReentrancyGuardReentrantCall.selector);
        attacker.run(
            address(market),
            abi.encodeCall(ProblemMarket.post, (2, new bytes(2), Ising.term(0, 1, 1), 400, -1, 1_000_100, 10))
        );
    }

    function test_registryWithdrawReentryReverts() public {
        attacker.run(address(registry), abi.encodeCall(SolverRegistry.stake, (100)));
        attacker.run(address(registry), abi.encodeCall(SolverRegistry.requestUnbond, (100)));
        vm.warp(1_000_000 + 1 days);
        attacker.setReentry(abi.encodeCall(SolverRegistry.withdrawStake, ()), false);
        token.arm(address(attacker));
        vm.expectRevert(ReentrancyGuard.ReentrancyGuardReentrantCall.selector);
        attacker.run(address(registry), abi.encodeCall(SolverRegistry.withdrawStake, ()));
    }
}

/// @notice A coin receiver that withdraws again from inside its receive hook.
contract GreedyReceiver {
    WrappedPoQW internal immutable wrapped;

    constructor(WrappedPoQW wrapped_) {
        wrapped = wrapped_;
    }

    function start(uint256 amount) external payable {
        wrapped.deposit{value: msg.value}();
        wrapped.withdraw(amount);
    }

    receive() external payable {
        if (msg.sender == address(wrapped) && address(wrapped).balance > 0) wrapped.withdraw(msg.value);
    }
}

/// @notice The wrapped coin: one to one, and its withdrawal cannot be re-entered.
contract WrappedPoQWTest is TestBase {
    WrappedPoQW internal wrapped = new WrappedPoQW();

    function test_depositAndWithdraw() public {
        address user = address(0xBEEF);
        vm.deal(user, 5 ether);
        vm.prank(user);
        (bool ok,) = address(wrapped).call{value: 2 ether}("");
        vm.assertTrue(ok, "plain transfer wraps");
        vm.assertEq(wrapped.balanceOf(user), 2 ether, "wrapped");
        vm.prank(user);
        wrapped.withdraw(1.5 ether);
        vm.assertEq(user.balance, 4.5 ether, "unwrapped");
        vm.assertEq(wrapped.totalSupply(), address(wrapped).balance, "fully backed");
        vm.prank(user);
        vm.expectRevert(WrappedPoQW.ZeroAmount.selector);
        wrapped.withdraw(0);
    }

    function test_withdrawReentryReverts() public {
        GreedyReceiver greedy = new GreedyReceiver(wrapped);
        vm.deal(address(this), 2 ether);
        vm.deal(address(wrapped), 0);
        (bool ok,) = address(wrapped).call{value: 1 ether}(""); // someone else's deposit to steal
        vm.assertTrue(ok, "deposit");
        vm.expectRevert(ReentrancyGuard.ReentrancyGuardReentrantCall.selector);
        greedy.start{value: 1 ether}(1 ether);
    }
}
