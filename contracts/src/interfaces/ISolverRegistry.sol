// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title The stake, reputation and slashing interface of poqw's solver registry
/// @notice Markets record commitments and outcomes through it; any holder of the slasher role (the
/// problem market, later the compute network's verifier for faked off-chain work) slashes through
/// {slash} with a unique piece of evidence.
interface ISolverRegistry {
    /// @notice Why a solver was slashed.
    enum Offence {
        /// A revealed energy that differs from the committed claim (claim above the true energy).
        EnergyMismatch,
        /// A commitment never revealed before the reveal window closed.
        NeverRevealed,
        /// A claimed energy below the true energy of the revealed spins.
        ClaimBelowTrueEnergy,
        /// Off-chain work shown to be faked (reported by the compute network).
        FakedWork
    }

    /// @notice How a commitment ended, for the reputation counters.
    enum Outcome {
        Revealed,
        Missed,
        Invalid
    }

    event Staked(address indexed solver, uint256 amount, uint256 stake);
    event UnbondRequested(address indexed solver, uint256 amount, uint256 unbonding, uint64 releaseAt);
    event StakeWithdrawn(address indexed solver, uint256 amount);
    event CommitRecorded(address indexed solver, address indexed market, uint32 openCommitments);
    event OutcomeRecorded(address indexed solver, address indexed market, Outcome outcome);
    event WinRecorded(address indexed solver, address indexed market, uint32 wins);
    event Slashed(
        address indexed solver,
        address indexed reporter,
        Offence indexed offence,
        bytes32 evidence,
        uint256 amount,
        uint256 reporterReward
    );

    /// @notice The ERC-20 that stakes are held in.
    function stakeToken() external view returns (IERC20);

    /// @notice The stake a solver needs to commit to a problem.
    function minStake() external view returns (uint256);

    /// @notice Whether `solver` holds at least the minimum stake.
    function isEligible(address solver) external view returns (bool);

    /// @notice Count an open commitment of `solver`; reverts when its stake is below the minimum.
    /// A solver with open commitments cannot withdraw, so its stake stays slashable.
    function recordCommit(address solver) external;

    /// @notice Close one open commitment of `solver` and count its outcome.
    function recordOutcome(address solver, Outcome outcome) external;

    /// @notice Count a won problem for `solver`.
    function recordWin(address solver) external;

    /// @notice Slash `solver` for `offence`, paying part of the slash to `reporter`.
    /// @param evidence A digest naming the evidence; each digest can be used only once.
    /// @return amount The amount taken from the solver's stake (zero when nothing was left).
    function slash(address solver, address reporter, Offence offence, bytes32 evidence)
        external
        returns (uint256 amount);
}
