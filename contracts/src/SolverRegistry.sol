// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {ISolverRegistry} from "./interfaces/ISolverRegistry.sol";

/// @title Solver registry: stakes, unbonding, reputation and slashing
/// @notice Solvers stake the payment token to take part in problem markets. A stake leaves the
/// registry only after an unbonding delay and once every commitment it backs is closed, so cheating
/// is always slashable; part of every slash goes to whoever brought the evidence, the rest to the
/// treasury. Markets hold MARKET_ROLE (commit and outcome counters) and SLASHER_ROLE; the compute
/// network's verifier can be given SLASHER_ROLE to slash for faked off-chain work.
contract SolverRegistry is ISolverRegistry, AccessControl, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice May record commitments, outcomes and wins.
    bytes32 public constant MARKET_ROLE = keccak256("poqw.registry.market");
    /// @notice May slash stakes.
    bytes32 public constant SLASHER_ROLE = keccak256("poqw.registry.slasher");
    uint256 internal constant BPS = 10_000;

    /// @notice A stake, unbond or withdrawal of zero.
    error ZeroAmount();
    /// @notice An address that must not be zero was zero (`what` names it).
    error ZeroAddress(string what);
    /// @notice A share in basis points above 100 %.
    error ShareOutOfRange(uint256 bps);
    /// @notice Unbonding more than the active stake.
    error InsufficientStake(uint256 requested, uint256 stake);
    /// @notice Committing with a stake below the minimum.
    error StakeTooLow(address solver, uint256 stake, uint256 minStake);
    /// @notice Withdrawing with nothing unbonded.
    error NothingToWithdraw();
    /// @notice Withdrawing before the unbonding delay has passed.
    error UnbondingNotFinished(uint64 releaseAt, uint256 now_);
    /// @notice Withdrawing while commitments backed by the stake are still open.
    error CommitmentsOpen(uint32 openCommitments);
    /// @notice Recording an outcome for a solver without an open commitment.
    error NoOpenCommitment(address solver);
    /// @notice Slashing twice on the same evidence.
    error EvidenceAlreadyUsed(bytes32 evidence);

    /// @notice Everything the registry knows about one solver.
    struct SolverInfo {
        uint128 stake; // active, counts towards the minimum
        uint128 unbonding; // waiting for releaseAt; still slashable
        uint64 releaseAt;
        uint32 openCommitments;
        uint32 wins;
        uint32 reveals;
        uint32 revealsMissed;
        uint32 slashes;
    }

    IERC20 private immutable _token;
    uint256 private immutable _minStake;
    /// @notice Seconds between an unbond request and the withdrawal.
    uint64 public immutable unbondingDelay;
    /// @notice The amount taken per offence (or the whole stake when less is left).
    uint256 public immutable slashAmount;
    /// @notice The reporter's share of a slash, in basis points.
    uint256 public immutable reporterShareBps;
    /// @notice Receives the rest of every slash.
    address public immutable treasury;

    mapping(address solver => SolverInfo) private _solvers;
    mapping(bytes32 evidence => bool) public evidenceUsed;
    /// @notice Sum of all active and unbonding stakes: always the registry's token balance.
    uint256 public totalBonded;

    /// @param token_ The staking token (the market's payment token).
    /// @param minStake_ The stake needed to commit.
    /// @param unbondingDelay_ Seconds an unbonding stake waits before it can be withdrawn.
    /// @param slashAmount_ The amount taken per offence.
    /// @param reporterShareBps_ The reporter's share of a slash in basis points.
    /// @param treasury_ Receives the rest of each slash.
    /// @param admin Holds DEFAULT_ADMIN_ROLE (grants MARKET_ROLE and SLASHER_ROLE).
    constructor(
        IERC20 token_,
        uint256 minStake_,
        uint64 unbondingDelay_,
        uint256 slashAmount_,
        uint256 reporterShareBps_,
        address treasury_,
        address admin
    ) {
        if (address(token_) == address(0)) revert ZeroAddress("token");
        if (treasury_ == address(0)) revert ZeroAddress("treasury");
        if (admin == address(0)) revert ZeroAddress("admin");
        if (reporterShareBps_ > BPS) revert ShareOutOfRange(reporterShareBps_);
        _token = token_;
        _minStake = minStake_;
        unbondingDelay = unbondingDelay_;
        slashAmount = slashAmount_;
        reporterShareBps = reporterShareBps_;
        treasury = treasury_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @inheritdoc ISolverRegistry
    function stakeToken() external view returns (IERC20) {
        return _token;
    }

    /// @inheritdoc ISolverRegistry
    function minStake() external view returns (uint256) {
        return _minStake;
    }

    /// @notice The stake, unbonding state and reputation counters of `solver`.
    function solverInfo(address solver) external view returns (SolverInfo memory) {
        return _solvers[solver];
    }

    /// @inheritdoc ISolverRegistry
    function isEligible(address solver) public view returns (bool) {
        return _solvers[solver].stake >= _minStake;
    }

    /// @notice Add `amount` tokens (approved beforehand) to the sender's active stake.
    function stake(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        SolverInfo storage info = _solvers[msg.sender];
        uint256 stake_ = info.stake + amount;
        info.stake = SafeCast.toUint128(stake_);
        totalBonded += amount;
        emit Staked(msg.sender, amount, stake_);
        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Move `amount` of the active stake into unbonding; the delay restarts for all of it.
    function requestUnbond(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        SolverInfo storage info = _solvers[msg.sender];
        if (amount > info.stake) revert InsufficientStake(amount, info.stake);
        info.stake -= uint128(amount);
        info.unbonding += uint128(amount);
        uint64 releaseAt = uint64(block.timestamp) + unbondingDelay;
        info.releaseAt = releaseAt;
        emit UnbondRequested(msg.sender, amount, info.unbonding, releaseAt);
    }

    /// @notice Send the sender its unbonded stake once the delay has passed and no commitment is open.
    function withdrawStake() external nonReentrant {
        SolverInfo storage info = _solvers[msg.sender];
        uint256 amount = info.unbonding;
        if (amount == 0) revert NothingToWithdraw();
        if (block.timestamp < info.releaseAt) revert UnbondingNotFinished(info.releaseAt, block.timestamp);
        if (info.openCommitments != 0) revert CommitmentsOpen(info.openCommitments);
        info.unbonding = 0;
        totalBonded -= amount;
        emit StakeWithdrawn(msg.sender, amount);
        _token.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc ISolverRegistry
    function recordCommit(address solver) external onlyRole(MARKET_ROLE) {
        SolverInfo storage info = _solvers[solver];
        if (info.stake < _minStake) revert StakeTooLow(solver, info.stake, _minStake);
        uint32 open = info.openCommitments + 1;
        info.openCommitments = open;
        emit CommitRecorded(solver, msg.sender, open);
    }

    /// @inheritdoc ISolverRegistry
    function recordOutcome(address solver, Outcome outcome) external onlyRole(MARKET_ROLE) {
        SolverInfo storage info = _solvers[solver];
        if (info.openCommitments == 0) revert NoOpenCommitment(solver);
        info.openCommitments -= 1;
        if (outcome == Outcome.Revealed) info.reveals += 1;
        else if (outcome == Outcome.Missed) info.revealsMissed += 1;
        emit OutcomeRecorded(solver, msg.sender, outcome);
    }

    /// @inheritdoc ISolverRegistry
    function recordWin(address solver) external onlyRole(MARKET_ROLE) {
        uint32 wins = _solvers[solver].wins + 1;
        _solvers[solver].wins = wins;
        emit WinRecorded(solver, msg.sender, wins);
    }

    /// @inheritdoc ISolverRegistry
    function slash(address solver, address reporter, Offence offence, bytes32 evidence)
        external
        onlyRole(SLASHER_ROLE)
        nonReentrant
        returns (uint256 amount)
    {
        if (reporter == address(0)) revert ZeroAddress("reporter");
        if (evidenceUsed[evidence]) revert EvidenceAlreadyUsed(evidence);
        evidenceUsed[evidence] = true;
        SolverInfo storage info = _solvers[solver];
        info.slashes += 1;
        uint256 fromStake = info.stake;
        uint256 fromUnbonding = info.unbonding;
        amount = slashAmount;
        if (amount > fromStake + fromUnbonding) amount = fromStake + fromUnbonding;
        // Take the active stake first, then the unbonding part.
        if (amount <= fromStake) {
            fromStake = amount;
            fromUnbonding = 0;
        } else {
            fromUnbonding = amount - fromStake;
        }
        info.stake -= uint128(fromStake);
        info.unbonding -= uint128(fromUnbonding);
        totalBonded -= amount;
        uint256 reward = amount * reporterShareBps / BPS;
        emit Slashed(solver, reporter, offence, evidence, amount, reward);
        if (reward != 0) _token.safeTransfer(reporter, reward);
        if (amount != reward) _token.safeTransfer(treasury, amount - reward);
    }
}
