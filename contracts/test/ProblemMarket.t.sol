// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

import {IsingTerms} from "../src/IsingTerms.sol";
import {ProblemMarket} from "../src/ProblemMarket.sol";
import {SolverRegistry} from "../src/SolverRegistry.sol";
import {ISolverRegistry} from "../src/interfaces/ISolverRegistry.sol";
import {Ising} from "./utils/Ising.sol";
import {MarketFixture} from "./utils/MarketFixture.sol";

/// @notice The problem market's whole flow and every named rejection.
contract ProblemMarketTest is MarketFixture {
    bytes32 internal constant SALT_A = keccak256("alice");
    bytes32 internal constant SALT_B = keccak256("bob");
    bytes32 internal constant SALT_C = keccak256("carol");

    // ---- posting ----

    function test_post_escrowsBountyAndEmitsTheTerms() public {
        (bytes memory fields, bytes memory couplings) = ring();
        vm.expectEmit();
        emit ProblemMarket.ProblemPosted(
            1, customer, 500 ether, -4, START + 100, START + 150, 4, keccak256(bytes.concat(fields, couplings)),
            fields, couplings
        );
        uint256 id = postRing(500 ether, -4);
        vm.assertEq(id, 1, "first id");
        vm.assertEq(token.balanceOf(address(market)), 500 ether, "escrowed");
        vm.assertEq(market.totalOpenBounties(), 500 ether, "open bounties");
        ProblemMarket.Problem memory p = market.getProblem(id);
        vm.assertEq(p.customer, customer, "customer");
        vm.assertEq(uint256(p.status), uint256(ProblemMarket.Status.Open), "open");
    }

    function test_post_rejectsZeroBounty() public {
        (bytes memory fields, bytes memory couplings) = ring();
        vm.expectRevert(ProblemMarket.ZeroBounty.selector);
        market.post(4, fields, couplings, 0, -4, START + 100, 50);
    }

    function test_post_rejectsDeadlineInPast() public {
        (bytes memory fields, bytes memory couplings) = ring();
        vm.expectRevert(abi.encodeWithSelector(ProblemMarket.DeadlineInPast.selector, START, START));
        market.post(4, fields, couplings, 1, -4, START, 50);
    }

    function test_post_rejectsRevealWindowOutOfRange() public {
        (bytes memory fields, bytes memory couplings) = ring();
        vm.expectRevert(abi.encodeWithSelector(ProblemMarket.RevealWindowOutOfRange.selector, 0, 30 days));
        market.post(4, fields, couplings, 1, -4, START + 100, 0);
    }

    function test_post_rejectsIndexOutOfRange() public {
        bytes memory couplings = bytes.concat(Ising.term(0, 1, 1), Ising.term(2, 4, 1));
        vm.expectRevert(abi.encodeWithSelector(IsingTerms.IndexOutOfRange.selector, 1, 4, 4));
        market.post(4, new bytes(4), couplings, 1, -4, START + 100, 50);
    }

    function test_post_rejectsSelfCoupling() public {
        vm.expectRevert(abi.encodeWithSelector(IsingTerms.SelfCoupling.selector, 0, 3));
        market.post(4, new bytes(4), Ising.term(3, 3, 1), 1, -4, START + 100, 50);
    }

    function test_post_rejectsCouplingOutOfRange() public {
        vm.expectRevert(abi.encodeWithSelector(IsingTerms.CouplingOutOfRange.selector, 0, -8));
        market.post(4, new bytes(4), Ising.term(0, 1, -8), 1, -4, START + 100, 50);
    }

    function test_post_rejectsFieldOutOfRange() public {
        bytes memory fields = abi.encodePacked(int8(0), int8(-128), int8(0), int8(0));
        vm.expectRevert(abi.encodeWithSelector(IsingTerms.FieldOutOfRange.selector, 1, -128));
        market.post(4, fields, "", 1, -4, START + 100, 50);
    }

    function test_post_rejectsTooManyCouplings() public {
        bytes memory couplings = new bytes(3 * (IsingTerms.MAX_COUPLINGS + 1));
        vm.expectRevert(
            abi.encodeWithSelector(
                IsingTerms.TooManyCouplings.selector, IsingTerms.MAX_COUPLINGS + 1, IsingTerms.MAX_COUPLINGS
            )
        );
        market.post(4, new bytes(4), couplings, 1, -4, START + 100, 50);
    }

    function test_post_rejectsTooManyVariablesAndBadLengths() public {
        vm.expectRevert(abi.encodeWithSelector(IsingTerms.VariableCountOutOfRange.selector, 1025, 1024));
        market.post(1025, new bytes(1025), "", 1, -4, START + 100, 50);
        vm.expectRevert(abi.encodeWithSelector(IsingTerms.FieldsLengthMismatch.selector, 3, 4));
        market.post(4, new bytes(3), "", 1, -4, START + 100, 50);
        vm.expectRevert(abi.encodeWithSelector(IsingTerms.CouplingsNotWholeTerms.selector, 4));
        market.post(4, new bytes(4), new bytes(4), 1, -4, START + 100, 50);
    }

    function test_post_failsWithoutAllowance() public {
        (bytes memory fields, bytes memory couplings) = ring();
        vm.prank(address(0xD00D));
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(market), 0, 1)
        );
        market.post(4, fields, couplings, 1, -4, START + 100, 50);
    }

    // ---- the whole flow ----

    function test_bestRevealWins_feeTaken_cheaterSlashed_reporterPaid() public {
        uint256 id = postRing(1000 ether, -3);
        stakeFor(alice);
        stakeFor(bob);
        stakeFor(carol);
        bytes memory best = spins4(-1, 1, -1, 1); // -5
        bytes memory good = spins4(1, -1, 1, -1); // -3
        commitFor(alice, id, good, SALT_A, -3);
        commitFor(bob, id, best, SALT_B, -5);
        commitFor(carol, id, good, SALT_C, -5); // claims -5, can only show -3
        vm.warp(START + 100);
        vm.assertEq(revealFor(alice, id, good, SALT_A), -3, "alice energy");
        vm.assertEq(revealFor(bob, id, best, SALT_B), -5, "bob energy");
        vm.assertEq(revealFor(carol, id, good, SALT_C), -3, "carol energy");
        vm.assertEq(
            uint256(market.getCommitment(id, carol).state), uint256(ProblemMarket.CommitState.Mismatched), "carol"
        );

        uint256 treasuryBefore = token.balanceOf(treasury);
        vm.prank(reporter);
        vm.expectEmit();
        emit ProblemMarket.SolverReported(id, carol, reporter, ISolverRegistry.Offence.ClaimBelowTrueEnergy, SLASH);
        market.reportSolver(id, carol);
        vm.assertEq(token.balanceOf(reporter), 10_000 ether + SLASH / 2, "reporter reward");
        vm.assertEq(token.balanceOf(treasury) - treasuryBefore, SLASH / 2, "treasury share");
        vm.assertEq(registry.solverInfo(carol).stake, MIN_STAKE - SLASH, "carol stake");
        vm.assertEq(registry.solverInfo(carol).slashes, 1, "carol slashes");

        vm.expectEmit();
        emit ProblemMarket.ProblemSettled(id, bob, -5, 975 ether, 25 ether);
        market.settle(id); // every commitment is revealed: no need to wait for the window
        vm.assertEq(market.claimable(bob), 975 ether, "reward");
        vm.assertEq(market.claimable(feeRecipient), 25 ether, "fee");
        vm.assertEq(registry.solverInfo(bob).wins, 1, "bob wins");

        vm.prank(bob);
        market.withdraw();
        vm.assertEq(token.balanceOf(bob), 10_000 ether - MIN_STAKE + 975 ether, "bob paid");
        vm.assertEq(token.balanceOf(address(market)), 25 ether, "fee left in escrow");
    }

    function test_tieGoesToEarliestCommit() public {
        uint256 id = postRing(100 ether, -3);
        stakeFor(alice);
        stakeFor(bob);
        bytes memory best = spins4(-1, 1, -1, 1);
        commitFor(bob, id, best, SALT_B, -5);
        commitFor(alice, id, best, SALT_A, -5);
        vm.warp(START + 100);
        revealFor(alice, id, best, SALT_A); // alice reveals first but committed second
        revealFor(bob, id, best, SALT_B);
        market.settle(id);
        vm.assertEq(market.getProblem(id).bestSolver, bob, "earliest commit wins the tie");
    }

    function test_refundWhenNothingReachesTarget_andNeverRevealedIsSlashed() public {
        uint256 id = postRing(100 ether, -5);
        stakeFor(alice);
        stakeFor(bob);
        commitFor(alice, id, spins4(1, -1, 1, -1), SALT_A, -3);
        commitFor(bob, id, spins4(-1, 1, -1, 1), SALT_B, -5); // never revealed
        vm.warp(START + 100);
        revealFor(alice, id, spins4(1, -1, 1, -1), SALT_A);
        vm.expectRevert(abi.encodeWithSelector(ProblemMarket.RevealWindowOpen.selector, id, START + 150));
        market.settle(id);
        vm.expectRevert(
            abi.encodeWithSelector(ProblemMarket.NothingToReport.selector, id, bob, ProblemMarket.CommitState.Committed)
        );
        market.reportSolver(id, bob);

        vm.warp(START + 150);
        vm.expectEmit();
        emit ProblemMarket.ProblemRefunded(id, customer, 100 ether, -3);
        market.settle(id);
        vm.assertEq(market.claimable(customer), 100 ether, "refund credited");

        vm.prank(reporter);
        market.reportSolver(id, bob);
        vm.assertEq(registry.solverInfo(bob).revealsMissed, 1, "missed reveal counted");
        vm.assertEq(registry.solverInfo(bob).openCommitments, 0, "commitment closed");
        vm.expectRevert(
            abi.encodeWithSelector(ProblemMarket.NothingToReport.selector, id, bob, ProblemMarket.CommitState.Slashed)
        );
        market.reportSolver(id, bob);
        vm.expectRevert(
            abi.encodeWithSelector(ProblemMarket.NothingToReport.selector, id, alice, ProblemMarket.CommitState.Revealed)
        );
        market.reportSolver(id, alice);
    }

    function test_secondSettleReverts() public {
        uint256 id = postRing(100 ether, -5);
        vm.warp(START + 150);
        market.settle(id);
        vm.expectRevert(abi.encodeWithSelector(ProblemMarket.AlreadySettled.selector, id));
        market.settle(id);
        vm.expectRevert(abi.encodeWithSelector(ProblemMarket.UnknownProblem.selector, 7));
        market.settle(7);
    }

    function test_revealRules() public {
        uint256 id = postRing(100 ether, -5);
        stakeFor(alice);
        bytes memory s = spins4(-1, 1, -1, 1);
        commitFor(alice, id, s, SALT_A, -5);
        vm.expectRevert(abi.encodeWithSelector(ProblemMarket.RevealPhaseNotStarted.selector, id, START + 100));
        revealFor(alice, id, s, SALT_A);
        vm.warp(START + 100);
        vm.expectRevert(abi.encodeWithSelector(ProblemMarket.CommitPhaseOver.selector, id, START + 100));
        commitFor(bob, id, s, SALT_B, -5);
        vm.expectRevert(abi.encodeWithSelector(ProblemMarket.CommitmentMismatch.selector, id, alice));
        revealFor(alice, id, s, SALT_B);
        vm.expectRevert(abi.encodeWithSelector(ProblemMarket.CommitmentMismatch.selector, id, alice));
        revealFor(alice, id, spins4(1, -1, 1, -1), SALT_A);
        (bytes memory fields, bytes memory couplings) = ring();
        bytes memory other = bytes.concat(couplings, Ising.term(0, 2, 1));
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(
                ProblemMarket.TermsMismatch.selector,
                id,
                keccak256(bytes.concat(fields, couplings)),
                keccak256(bytes.concat(fields, other))
            )
        );
        market.reveal(id, s, SALT_A, fields, other);
        vm.expectRevert(
            abi.encodeWithSelector(ProblemMarket.NotCommitted.selector, id, bob, ProblemMarket.CommitState.None)
        );
        revealFor(bob, id, s, SALT_B);
        vm.warp(START + 150);
        vm.expectRevert(abi.encodeWithSelector(ProblemMarket.RevealWindowClosed.selector, id, START + 150));
        revealFor(alice, id, s, SALT_A);
    }

    function test_spinsMustHaveTheRightLengthAndZeroPadding() public {
        uint256 id = postRing(100 ether, -5);
        stakeFor(alice);
        bytes memory padded = hex"1a"; // bit 4 set past the 4 variables
        commitFor(alice, id, padded, SALT_A, -5);
        vm.warp(START + 100);
        vm.expectRevert(IsingTerms.SpinsPaddingNotZero.selector);
        revealFor(alice, id, padded, SALT_A);
        vm.expectRevert(abi.encodeWithSelector(IsingTerms.SpinsLengthMismatch.selector, 2, 1));
        market.energyOf(4, hex"0a00", new bytes(4), "");
    }

    function test_commitRules() public {
        uint256 id = postRing(100 ether, -5);
        vm.expectRevert(
            abi.encodeWithSelector(SolverRegistry.StakeTooLow.selector, alice, 0, MIN_STAKE)
        );
        commitFor(alice, id, spins4(1, 1, 1, 1), SALT_A, 0);
        stakeFor(alice);
        vm.prank(alice);
        vm.expectRevert(ProblemMarket.EmptyCommitment.selector);
        market.commit(id, bytes32(0), 0);
        commitFor(alice, id, spins4(1, 1, 1, 1), SALT_A, 0);
        vm.expectRevert(abi.encodeWithSelector(ProblemMarket.AlreadyCommitted.selector, id, alice));
        commitFor(alice, id, spins4(1, 1, 1, 1), SALT_B, 0);
        vm.expectRevert(abi.encodeWithSelector(ProblemMarket.UnknownProblem.selector, 9));
        commitFor(alice, 9, spins4(1, 1, 1, 1), SALT_A, 0);
    }

    function test_cancelOnlyWithoutCommitsAndOnlyByCustomer() public {
        uint256 id = postRing(100 ether, -5);
        vm.expectRevert(abi.encodeWithSelector(ProblemMarket.NotCustomer.selector, id, alice));
        vm.prank(alice);
        market.cancel(id);
        vm.prank(customer);
        market.cancel(id);
        vm.assertEq(market.claimable(customer), 100 ether, "refund credited");
        vm.expectRevert(
            abi.encodeWithSelector(ProblemMarket.ProblemNotOpen.selector, id, ProblemMarket.Status.Cancelled)
        );
        market.settle(id);

        uint256 id2 = postRing(100 ether, -5);
        stakeFor(alice);
        commitFor(alice, id2, spins4(1, 1, 1, 1), SALT_A, 0);
        vm.prank(customer);
        vm.expectRevert(abi.encodeWithSelector(ProblemMarket.HasCommitments.selector, id2, 1));
        market.cancel(id2);

        vm.prank(customer);
        market.withdraw();
        vm.expectRevert(abi.encodeWithSelector(ProblemMarket.NothingToWithdraw.selector, customer));
        vm.prank(customer);
        market.withdraw();
    }

    function test_constructorChecks() public {
        vm.expectRevert(abi.encodeWithSelector(ProblemMarket.FeeTooHigh.selector, 1001, 1000));
        new ProblemMarket(token, ISolverRegistry(address(registry)), feeRecipient, 1001);
    }
}
