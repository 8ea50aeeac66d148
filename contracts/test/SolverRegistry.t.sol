// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {SolverRegistry} from "../src/SolverRegistry.sol";
import {ISolverRegistry} from "../src/interfaces/ISolverRegistry.sol";
import {MarketFixture} from "./utils/MarketFixture.sol";

/// @notice Stakes, unbonding, the slashing hook and the reputation counters.
contract SolverRegistryTest is MarketFixture {
    address internal computeNetwork = address(0xC0417E);

    function test_unbondThenWithdrawAfterTheDelay() public {
        stakeFor(alice);
        vm.prank(alice);
        registry.requestUnbond(40 ether);
        vm.assertEq(registry.isEligible(alice), false, "below the minimum after unbonding");
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(SolverRegistry.UnbondingNotFinished.selector, START + UNBONDING, START + UNBONDING - 1)
        );
        vm.warp(START + UNBONDING - 1);
        registry.withdrawStake();
        vm.warp(START + UNBONDING);
        vm.prank(alice);
        registry.withdrawStake();
        vm.assertEq(token.balanceOf(alice), 10_000 ether - 60 ether, "40 back");
        vm.assertEq(registry.totalBonded(), 60 ether, "60 still bonded");
        vm.prank(alice);
        vm.expectRevert(SolverRegistry.NothingToWithdraw.selector);
        registry.withdrawStake();
    }

    function test_stakeRules() public {
        vm.prank(alice);
        vm.expectRevert(SolverRegistry.ZeroAmount.selector);
        registry.stake(0);
        stakeFor(alice);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(SolverRegistry.InsufficientStake.selector, MIN_STAKE + 1, MIN_STAKE));
        registry.requestUnbond(MIN_STAKE + 1);
    }

    function test_openCommitmentBlocksWithdrawal() public {
        uint256 id = postRing(100 ether, -5);
        stakeFor(alice);
        commitFor(alice, id, spins4(1, 1, 1, 1), keccak256("a"), 0);
        vm.prank(alice);
        registry.requestUnbond(MIN_STAKE);
        vm.warp(START + UNBONDING);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(SolverRegistry.CommitmentsOpen.selector, 1));
        registry.withdrawStake();
        // the missed reveal is still slashable from the unbonding stake
        vm.prank(reporter);
        market.reportSolver(id, alice);
        vm.assertEq(registry.solverInfo(alice).unbonding, MIN_STAKE - SLASH, "slashed from unbonding");
        vm.prank(alice);
        registry.withdrawStake();
        vm.assertEq(token.balanceOf(alice), 10_000 ether - SLASH, "rest withdrawn");
    }

    function test_computeNetworkSlashesThroughTheHook() public {
        stakeFor(alice);
        ISolverRegistry hook = ISolverRegistry(address(registry));
        bytes32 slasherRole = registry.SLASHER_ROLE();
        vm.prank(computeNetwork);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, computeNetwork, slasherRole)
        );
        hook.slash(alice, reporter, ISolverRegistry.Offence.FakedWork, keccak256("job 7"));
        vm.prank(admin);
        registry.grantRole(slasherRole, computeNetwork);
        vm.prank(computeNetwork);
        vm.expectEmit();
        emit ISolverRegistry.Slashed(alice, reporter, ISolverRegistry.Offence.FakedWork, keccak256("job 7"), SLASH, SLASH / 2);
        uint256 amount = hook.slash(alice, reporter, ISolverRegistry.Offence.FakedWork, keccak256("job 7"));
        vm.assertEq(amount, SLASH, "slashed");
        vm.prank(computeNetwork);
        vm.expectRevert(abi.encodeWithSelector(SolverRegistry.EvidenceAlreadyUsed.selector, keccak256("job 7")));
        hook.slash(alice, reporter, ISolverRegistry.Offence.FakedWork, keccak256("job 7"));
        // a second offence takes what is left, never more
        vm.prank(computeNetwork);
        amount = hook.slash(alice, reporter, ISolverRegistry.Offence.FakedWork, keccak256("job 8"));
        vm.assertEq(amount, MIN_STAKE - SLASH, "only the rest");
        vm.prank(computeNetwork);
        amount = hook.slash(alice, reporter, ISolverRegistry.Offence.FakedWork, keccak256("job 9"));
        vm.assertEq(amount, 0, "nothing left");
        vm.assertEq(registry.solverInfo(alice).slashes, 3, "three slashes counted");
        vm.assertEq(token.balanceOf(address(registry)), 0, "registry empty");
    }

    function test_onlyTheMarketRecords() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, address(this), registry.MARKET_ROLE()
            )
        );
        registry.recordWin(alice);
    }

    function test_constructorChecks() public {
        vm.expectRevert(abi.encodeWithSelector(SolverRegistry.ShareOutOfRange.selector, 10_001));
        new SolverRegistry(IERC20(address(token)), 1, 1, 1, 10_001, treasury, admin);
        vm.expectRevert(abi.encodeWithSelector(SolverRegistry.ZeroAddress.selector, "treasury"));
        new SolverRegistry(IERC20(address(token)), 1, 1, 1, 1, address(0), admin);
    }

    function testFuzz_slashNeverTakesMoreThanTheStake(uint256 stakeAmount, uint256 unbond, uint8 offences) public {
        stakeAmount = bound(stakeAmount, 1, 5_000 ether);
        unbond = bound(unbond, 0, stakeAmount);
        vm.startPrank(alice);
        registry.stake(stakeAmount);
        if (unbond != 0) registry.requestUnbond(unbond);
        vm.stopPrank();
        bytes32 slasherRole = registry.SLASHER_ROLE();
        vm.prank(admin);
        registry.grantRole(slasherRole, computeNetwork);
        uint256 taken;
        for (uint256 k = 0; k < bound(offences, 1, 8); k++) {
            vm.prank(computeNetwork);
            taken += registry.slash(alice, reporter, ISolverRegistry.Offence.FakedWork, bytes32(k));
        }
        SolverRegistry.SolverInfo memory info = registry.solverInfo(alice);
        vm.assertEq(taken + info.stake + info.unbonding, stakeAmount, "conserved");
        vm.assertEq(token.balanceOf(address(registry)), registry.totalBonded(), "balance = bonded");
    }
}
