// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {IsingTerms} from "./IsingTerms.sol";
import {ISolverRegistry} from "./interfaces/ISolverRegistry.sol";

/// @title Problem market: bounties for Ising problems, checked on chain
/// @notice A customer posts an Ising problem (terms in calldata, committed by hash; see
/// {IsingTerms}) with a bounty escrowed in the payment token, a target energy, a commit deadline and
/// a reveal window. Staked solvers commit keccak256(abi.encode(problemId, spins, salt, solver))
/// with a claimed energy before the deadline, then reveal; the contract recomputes the energy of
/// every revealed solution. After the window (or once every commitment is revealed) the best
/// revealed energy wins, ties going to the earliest commitment: it earns the bounty less the protocol
/// fee if it reaches the target, otherwise the customer gets the bounty back. A problem nobody
/// committed to can be cancelled. Cheating the chain can see (a reveal that does not match its
/// claim, a commitment never revealed) is slashed through the registry by whoever reports it.
/// Payments are credited and pulled with {withdraw}: the token balance of the market always equals
/// the open bounties plus the credited, unpaid amounts.
contract ProblemMarket is ReentrancyGuard {
    using SafeERC20 for IERC20;

    enum Status {
        None,
        Open,
        Settled,
        Cancelled
    }

    enum CommitState {
        None,
        Committed,
        Revealed, // energy matches the claim: competes for the bounty
        Mismatched, // energy differs from the claim: slashable
        Slashed
    }

    struct Problem {
        address customer;
        uint64 commitDeadline;
        uint32 revealWindow;
        uint128 bounty;
        int64 targetEnergy;
        uint16 numVariables;
        Status status;
        bytes32 termsHash;
        address bestSolver;
        int64 bestEnergy;
        uint32 bestCommitIndex;
        uint32 numCommits;
        uint32 numRevealed;
    }

    struct Commitment {
        bytes32 digest;
        int64 claimedEnergy;
        int64 revealedEnergy;
        uint32 index;
        CommitState state;
    }

    uint256 internal constant BPS = 10_000;
    /// @notice The highest protocol fee the market can be deployed with (10 %).
    uint256 public constant MAX_FEE_BPS = 1_000;
    /// @notice The longest a commit deadline may lie in the future.
    uint256 public constant MAX_COMMIT_PERIOD = 365 days;
    /// @notice The longest reveal window.
    uint256 public constant MAX_REVEAL_WINDOW = 30 days;

    /// @notice A constructor address that must not be zero was zero (`what` names it).
    error ZeroAddress(string what);
    /// @notice A protocol fee above {MAX_FEE_BPS}.
    error FeeTooHigh(uint256 feeBps, uint256 max);
    /// @notice The registry stakes a different token than the market pays in.
    error TokenMismatch(address marketToken, address registryToken);
    /// @notice A problem posted without a bounty.
    error ZeroBounty();
    /// @notice The token moved a different amount than asked (fee-on-transfer tokens are refused).
    error TransferAmountMismatch(uint256 expected, uint256 received);
    /// @notice A commit deadline not in the future.
    error DeadlineInPast(uint64 deadline, uint256 now_);
    /// @notice A commit deadline more than {MAX_COMMIT_PERIOD} away.
    error DeadlineTooFar(uint64 deadline, uint256 latest);
    /// @notice A reveal window of zero or longer than {MAX_REVEAL_WINDOW}.
    error RevealWindowOutOfRange(uint32 window, uint256 max);
    /// @notice No problem has this id.
    error UnknownProblem(uint256 problemId);
    /// @notice The problem is settled or cancelled.
    error ProblemNotOpen(uint256 problemId, Status status);
    /// @notice Settling a problem that is already settled.
    error AlreadySettled(uint256 problemId);
    /// @notice Committing after the commit deadline.
    error CommitPhaseOver(uint256 problemId, uint64 deadline);
    /// @notice A commitment of zero.
    error EmptyCommitment();
    /// @notice A solver committing twice to the same problem.
    error AlreadyCommitted(uint256 problemId, address solver);
    /// @notice Revealing before the commit deadline.
    error RevealPhaseNotStarted(uint256 problemId, uint64 startsAt);
    /// @notice Revealing after the reveal window.
    error RevealWindowClosed(uint256 problemId, uint64 closedAt);
    /// @notice Revealing without a commitment, or a second time.
    error NotCommitted(uint256 problemId, address solver, CommitState state);
    /// @notice The revealed spins and salt do not open the solver's commitment.
    error CommitmentMismatch(uint256 problemId, address solver);
    /// @notice The terms given do not hash to the problem's committed terms.
    error TermsMismatch(uint256 problemId, bytes32 expected, bytes32 given);
    /// @notice Settling while solvers may still reveal.
    error RevealWindowOpen(uint256 problemId, uint64 closesAt);
    /// @notice Cancelling a problem someone committed to.
    error HasCommitments(uint256 problemId, uint32 numCommits);
    /// @notice Only the customer who posted the problem may do this.
    error NotCustomer(uint256 problemId, address caller);
    /// @notice Reporting a solver who did nothing slashable (yet).
    error NothingToReport(uint256 problemId, address solver, CommitState state);
    /// @notice Withdrawing with nothing credited.
    error NothingToWithdraw(address account);

    event ProblemPosted(
        uint256 indexed problemId,
        address indexed customer,
        uint256 bounty,
        int64 targetEnergy,
        uint64 commitDeadline,
        uint64 revealDeadline,
        uint16 numVariables,
        bytes32 termsHash,
        bytes fields,
        bytes couplings
    );
    event Committed(
        uint256 indexed problemId, address indexed solver, bytes32 commitment, int64 claimedEnergy, uint32 index
    );
    event Revealed(
        uint256 indexed problemId, address indexed solver, int64 energy, int64 claimedEnergy, bool valid, bytes spins
    );
    event SolverReported(
        uint256 indexed problemId,
        address indexed solver,
        address indexed reporter,
        ISolverRegistry.Offence offence,
        uint256 slashed
    );
    event ProblemSettled(
        uint256 indexed problemId, address indexed winner, int64 energy, uint256 reward, uint256 fee
    );
    event ProblemRefunded(uint256 indexed problemId, address indexed customer, uint256 amount, int64 bestEnergy);
    event ProblemCancelled(uint256 indexed problemId, address indexed customer, uint256 amount);
    event Withdrawn(address indexed account, uint256 amount);

    /// @notice The payment token bounties are escrowed in.
    IERC20 public immutable token;
    /// @notice The registry holding solvers' stakes.
    ISolverRegistry public immutable registry;
    /// @notice Receives the protocol fee.
    address public immutable feeRecipient;
    /// @notice The protocol fee, in basis points of the bounty.
    uint256 public immutable feeBps;

    /// @notice The number of problems posted; ids run from 1 to this.
    uint256 public problemCount;
    /// @notice Sum of the bounties of open problems.
    uint256 public totalOpenBounties;
    /// @notice Sum of all credited, not yet withdrawn amounts.
    uint256 public totalClaimable;
    /// @notice Amounts credited to each account, taken with {withdraw}.
    mapping(address account => uint256) public claimable;

    mapping(uint256 problemId => Problem) private _problems;
    mapping(uint256 problemId => mapping(address solver => Commitment)) private _commitments;

    /// @param token_ The payment token (WrappedPoQW on the PoQW chain, PoQWToken elsewhere).
    /// @param registry_ The solver registry; it must stake the same token.
    /// @param feeRecipient_ Receives the protocol fee.
    /// @param feeBps_ The protocol fee in basis points, at most {MAX_FEE_BPS}.
    constructor(IERC20 token_, ISolverRegistry registry_, address feeRecipient_, uint256 feeBps_) {
        if (address(token_) == address(0)) revert ZeroAddress("token");
        if (address(registry_) == address(0)) revert ZeroAddress("registry");
        if (feeRecipient_ == address(0)) revert ZeroAddress("feeRecipient");
        if (feeBps_ > MAX_FEE_BPS) revert FeeTooHigh(feeBps_, MAX_FEE_BPS);
        if (address(registry_.stakeToken()) != address(token_)) {
            revert TokenMismatch(address(token_), address(registry_.stakeToken()));
        }
        token = token_;
        registry = registry_;
        feeRecipient = feeRecipient_;
        feeBps = feeBps_;
    }

    /// @notice Post a problem with a bounty (approved beforehand) escrowed until it settles.
    /// @param numVariables The number of spins n, 1 to 1024.
    /// @param fields n bytes of int8 fields h_i (see {IsingTerms}).
    /// @param couplings 3 bytes per coupling (see {IsingTerms}).
    /// @param bounty The reward, in the payment token.
    /// @param targetEnergy The energy a solution must reach (<=) to be paid.
    /// @param commitDeadline The time until which solvers may commit.
    /// @param revealWindow Seconds after the deadline during which solvers reveal.
    /// @return problemId The new problem's id.
    function post(
        uint16 numVariables,
        bytes calldata fields,
        bytes calldata couplings,
        uint128 bounty,
        int64 targetEnergy,
        uint64 commitDeadline,
        uint32 revealWindow
    ) external nonReentrant returns (uint256 problemId) {
        if (bounty == 0) revert ZeroBounty();
        if (commitDeadline <= block.timestamp) revert DeadlineInPast(commitDeadline, block.timestamp);
        if (commitDeadline > block.timestamp + MAX_COMMIT_PERIOD) {
            revert DeadlineTooFar(commitDeadline, block.timestamp + MAX_COMMIT_PERIOD);
        }
        if (revealWindow == 0 || revealWindow > MAX_REVEAL_WINDOW) {
            revert RevealWindowOutOfRange(revealWindow, MAX_REVEAL_WINDOW);
        }
        IsingTerms.validate(numVariables, fields, couplings);
        bytes32 digest = IsingTerms.termsHash(fields, couplings);

        problemId = ++problemCount;
        Problem storage p = _problems[problemId];
        p.customer = msg.sender;
        p.commitDeadline = commitDeadline;
        p.revealWindow = revealWindow;
        p.bounty = bounty;
        p.targetEnergy = targetEnergy;
        p.numVariables = numVariables;
        p.status = Status.Open;
        p.termsHash = digest;
        totalOpenBounties += bounty;
        _emitPosted(problemId, p, fields, couplings);
        _pull(msg.sender, bounty);
    }

    /// @notice Commit to a solution of an open problem before its deadline. The sender must hold the
    /// registry's minimum stake, which stays locked until the commitment is revealed or slashed.
    /// @param commitment keccak256(abi.encode(problemId, spins, salt, sender)).
    /// @param claimedEnergy The energy the solution will show when revealed.
    function commit(uint256 problemId, bytes32 commitment, int64 claimedEnergy) external nonReentrant {
        Problem storage p = _openProblem(problemId);
        if (block.timestamp >= p.commitDeadline) revert CommitPhaseOver(problemId, p.commitDeadline);
        if (commitment == bytes32(0)) revert EmptyCommitment();
        Commitment storage c = _commitments[problemId][msg.sender];
        if (c.state != CommitState.None) revert AlreadyCommitted(problemId, msg.sender);
        uint32 index = p.numCommits;
        p.numCommits = index + 1;
        c.digest = commitment;
        c.claimedEnergy = claimedEnergy;
        c.index = index;
        c.state = CommitState.Committed;
        emit Committed(problemId, msg.sender, commitment, claimedEnergy, index);
        registry.recordCommit(msg.sender);
    }

    /// @notice Reveal the sender's committed solution; the contract recomputes its energy from the
    /// problem's terms. A solution whose energy equals the claim competes for the bounty; one that
    /// differs is recorded and can be reported for slashing.
    /// @param spins The solution, bit-packed (see {IsingTerms}).
    /// @param salt The salt of the commitment.
    /// @param fields The problem's fields, as posted.
    /// @param couplings The problem's couplings, as posted.
    /// @return energy The energy of `spins`.
    function reveal(
        uint256 problemId,
        bytes calldata spins,
        bytes32 salt,
        bytes calldata fields,
        bytes calldata couplings
    ) external nonReentrant returns (int64 energy) {
        Problem storage p = _openProblem(problemId);
        Commitment storage c = _checkOpening(problemId, p, spins, salt);
        bytes32 given = IsingTerms.termsHash(fields, couplings);
        if (given != p.termsHash) revert TermsMismatch(problemId, p.termsHash, given);
        // Bounded by the posting checks: |E| <= 127 * 1024 + 7 * 65536, far inside int64.
        energy = int64(IsingTerms.energy(p.numVariables, spins, fields, couplings));
        _recordReveal(problemId, p, c, energy, spins);
    }

    /// @notice Report `solver` for a reveal that did not match its claim, or for a commitment not
    /// revealed in time; the registry slashes its stake and pays part of it to the sender.
    /// @return slashed The amount taken from the solver's stake.
    function reportSolver(uint256 problemId, address solver) external nonReentrant returns (uint256 slashed) {
        Problem storage p = _problems[problemId];
        if (p.status == Status.None) revert UnknownProblem(problemId);
        Commitment storage c = _commitments[problemId][solver];
        ISolverRegistry.Offence offence;
        ISolverRegistry.Outcome outcome;
        if (c.state == CommitState.Mismatched) {
            offence = c.claimedEnergy < c.revealedEnergy
                ? ISolverRegistry.Offence.ClaimBelowTrueEnergy
                : ISolverRegistry.Offence.EnergyMismatch;
            outcome = ISolverRegistry.Outcome.Invalid;
        } else if (
            c.state == CommitState.Committed && block.timestamp >= uint256(p.commitDeadline) + p.revealWindow
        ) {
            offence = ISolverRegistry.Offence.NeverRevealed;
            outcome = ISolverRegistry.Outcome.Missed;
        } else {
            revert NothingToReport(problemId, solver, c.state);
        }
        c.state = CommitState.Slashed;
        registry.recordOutcome(solver, outcome);
        slashed = registry.slash(solver, msg.sender, offence, keccak256(abi.encode(address(this), problemId, solver)));
        emit SolverReported(problemId, solver, msg.sender, offence, slashed);
    }

    /// @notice Close a problem once its reveal window has passed (or every commitment is revealed):
    /// credit the winner the bounty less the fee, or credit the customer a refund when no revealed
    /// solution reaches the target. Anyone may call it.
    function settle(uint256 problemId) external nonReentrant {
        Problem storage p = _problems[problemId];
        if (p.status == Status.None) revert UnknownProblem(problemId);
        if (p.status == Status.Settled) revert AlreadySettled(problemId);
        if (p.status != Status.Open) revert ProblemNotOpen(problemId, p.status);
        uint64 closesAt = p.commitDeadline + p.revealWindow;
        bool allRevealed = p.numCommits != 0 && p.numRevealed == p.numCommits;
        if (block.timestamp < closesAt && !(allRevealed && block.timestamp >= p.commitDeadline)) {
            revert RevealWindowOpen(problemId, closesAt);
        }
        p.status = Status.Settled;
        uint256 bounty = p.bounty;
        totalOpenBounties -= bounty;
        address winner = p.bestSolver;
        if (winner != address(0) && p.bestEnergy <= p.targetEnergy) {
            uint256 fee = bounty * feeBps / BPS;
            _credit(winner, bounty - fee);
            _credit(feeRecipient, fee);
            emit ProblemSettled(problemId, winner, p.bestEnergy, bounty - fee, fee);
            registry.recordWin(winner);
        } else {
            _credit(p.customer, bounty);
            emit ProblemRefunded(problemId, p.customer, bounty, p.bestEnergy);
        }
    }

    /// @notice Withdraw a problem nobody has committed to, crediting the bounty back. Customer only.
    function cancel(uint256 problemId) external nonReentrant {
        Problem storage p = _openProblem(problemId);
        if (msg.sender != p.customer) revert NotCustomer(problemId, msg.sender);
        if (p.numCommits != 0) revert HasCommitments(problemId, p.numCommits);
        p.status = Status.Cancelled;
        uint256 bounty = p.bounty;
        totalOpenBounties -= bounty;
        _credit(msg.sender, bounty);
        emit ProblemCancelled(problemId, msg.sender, bounty);
    }

    /// @notice Send the sender everything credited to it (rewards, refunds, fees).
    function withdraw() external nonReentrant returns (uint256 amount) {
        amount = claimable[msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        claimable[msg.sender] = 0;
        totalClaimable -= amount;
        emit Withdrawn(msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    /// @notice Everything stored about problem `problemId`.
    function getProblem(uint256 problemId) external view returns (Problem memory) {
        return _problems[problemId];
    }

    /// @notice The commitment of `solver` to problem `problemId`.
    function getCommitment(uint256 problemId, address solver) external view returns (Commitment memory) {
        return _commitments[problemId][solver];
    }

    /// @notice The commitment a solver must send: keccak256(abi.encode(problemId, spins, salt, solver)).
    function commitmentOf(uint256 problemId, bytes calldata spins, bytes32 salt, address solver)
        external
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(problemId, spins, salt, solver));
    }

    /// @notice The energy of `spins` under terms on `numVariables` spins, with the posting checks.
    function energyOf(uint16 numVariables, bytes calldata spins, bytes calldata fields, bytes calldata couplings)
        external
        pure
        returns (int256)
    {
        IsingTerms.validate(numVariables, fields, couplings);
        return IsingTerms.energy(numVariables, spins, fields, couplings);
    }

    function _checkOpening(uint256 problemId, Problem storage p, bytes calldata spins, bytes32 salt)
        private
        view
        returns (Commitment storage c)
    {
        if (block.timestamp < p.commitDeadline) revert RevealPhaseNotStarted(problemId, p.commitDeadline);
        uint64 closesAt = p.commitDeadline + p.revealWindow;
        if (block.timestamp >= closesAt) revert RevealWindowClosed(problemId, closesAt);
        c = _commitments[problemId][msg.sender];
        if (c.state != CommitState.Committed) revert NotCommitted(problemId, msg.sender, c.state);
        if (keccak256(abi.encode(problemId, spins, salt, msg.sender)) != c.digest) {
            revert CommitmentMismatch(problemId, msg.sender);
        }
    }

    function _recordReveal(
        uint256 problemId,
        Problem storage p,
        Commitment storage c,
        int64 energy,
        bytes calldata spins
    ) private {
        c.revealedEnergy = energy;
        p.numRevealed += 1;
        bool valid = energy == c.claimedEnergy;
        if (valid) {
            c.state = CommitState.Revealed;
            if (
                p.bestSolver == address(0) || energy < p.bestEnergy
                    || (energy == p.bestEnergy && c.index < p.bestCommitIndex)
            ) {
                p.bestSolver = msg.sender;
                p.bestEnergy = energy;
                p.bestCommitIndex = c.index;
            }
        } else {
            c.state = CommitState.Mismatched;
        }
        emit Revealed(problemId, msg.sender, energy, c.claimedEnergy, valid, spins);
        if (valid) registry.recordOutcome(msg.sender, ISolverRegistry.Outcome.Revealed);
    }

    function _emitPosted(uint256 problemId, Problem storage p, bytes calldata fields, bytes calldata couplings)
        private
    {
        emit ProblemPosted(
            problemId,
            p.customer,
            p.bounty,
            p.targetEnergy,
            p.commitDeadline,
            p.commitDeadline + p.revealWindow,
            p.numVariables,
            p.termsHash,
            fields,
            couplings
        );
    }

    function _openProblem(uint256 problemId) private view returns (Problem storage p) {
        p = _problems[problemId];
        if (p.status == Status.None) revert UnknownProblem(problemId);
        if (p.status != Status.Open) revert ProblemNotOpen(problemId, p.status);
    }

    function _credit(address account, uint256 amount) private {
        if (amount == 0) return;
        claimable[account] += amount;
        totalClaimable += amount;
    }

    function _pull(address from, uint256 amount) private {
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(from, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != amount) revert TransferAmountMismatch(amount, received);
    }
}
