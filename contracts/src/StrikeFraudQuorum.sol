// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ISolverRegistry} from "./interfaces/ISolverRegistry.sol";
import {StrikeFraudJudge} from "./StrikeFraudJudge.sol";

/// @title Strike fraud quorum: settles faked strikes on EVM chains without the strike precompile
/// @notice On a chain that cannot re-run a strike, a fixed committee of staked verifiers decides.
/// The chain still checks what it can: the accused leaf must be committed (Merkle path) under a
/// commitment signed by the solver's own key, checked by a StrikeFraudJudge's view functions.
/// Whether the leaf's shots are faked is then the committee's vote: `threshold` guilty votes slash
/// the solver through the registry (this contract holds its SLASHER_ROLE); `members - threshold + 1`
/// innocent votes clear the accusation. What this trusts: that fewer than `threshold` members
/// collude to slash an honest solver, and fewer than `members - threshold + 1` to shield a cheater.
/// The chain cannot punish a wrong vote (it has no ground truth); every vote is public and every
/// re-run is deterministic, so anyone can show a member voted against the strike's draws.
contract StrikeFraudQuorum {
    /// @notice Where the signature and Merkle path are checked (its view functions only).
    StrikeFraudJudge public immutable judge;
    /// @notice The registry whose stakes back the solvers' commitments.
    ISolverRegistry public immutable registry;
    /// @notice Guilty votes that slash.
    uint256 public immutable threshold;
    /// @notice How many members the committee has.
    uint256 public immutable members;

    /// @notice Is `account` on the committee?
    mapping(address account => bool) public isMember;

    /// @notice An open or closed accusation: the solver, the vote counts and who voted.
    struct Accusation {
        address solver;
        address reporter;
        uint32 guilty;
        uint32 innocent;
        bool closed;
    }

    /// @notice Accusations by commitment digest (one per commitment, as the registry slashes once).
    mapping(bytes32 commitment => Accusation) public accusations;
    mapping(bytes32 commitment => mapping(address member => bool)) public hasVoted;

    /// @notice The committee is empty, the threshold is not a majority, or a member is listed twice.
    error BadCommittee();
    /// @notice The caller is not on the committee.
    error NotMember(address account);
    /// @notice This commitment is already accused.
    error AlreadyAccused(bytes32 commitment);
    /// @notice No open accusation for this commitment.
    error NotOpen(bytes32 commitment);
    /// @notice The member already voted on this accusation.
    error AlreadyVoted(address member);

    /// @notice `reporter` accused `solver` over leaf `leafIndex` of `commitment`, shots `shots`.
    event Accused(
        bytes32 indexed commitment, address indexed solver, address indexed reporter, uint32 leafIndex, uint32[] shots
    );
    /// @notice `member` voted on the accusation of `commitment`.
    event Voted(bytes32 indexed commitment, address indexed member, bool guilty);
    /// @notice The accusation of `commitment` closed: `guilty` (and `amount` slashed) or cleared.
    event Settled(bytes32 indexed commitment, address indexed solver, bool guilty, uint256 amount);

    /// @param judge_ A StrikeFraudJudge (only its pure and view checks are used here).
    /// @param registry_ The solver registry (grant this contract its SLASHER_ROLE).
    /// @param committee The verifiers; each should be staked (their stake is what they risk socially).
    /// @param threshold_ Guilty votes needed; more than half of the committee.
    constructor(StrikeFraudJudge judge_, ISolverRegistry registry_, address[] memory committee, uint256 threshold_) {
        if (committee.length == 0 || threshold_ * 2 <= committee.length || threshold_ > committee.length) {
            revert BadCommittee();
        }
        for (uint256 k = 0; k < committee.length; ++k) {
            if (committee[k] == address(0) || isMember[committee[k]]) revert BadCommittee();
            isMember[committee[k]] = true;
        }
        judge = judge_;
        registry = registry_;
        threshold = threshold_;
        members = committee.length;
    }

    /// @notice Accuse the signer of `c` of faking `shots` of the leaf at `proof.index`. The signature
    /// and Merkle path are checked here; the committee re-runs the strike off chain and votes.
    function accuse(
        StrikeFraudJudge.SignedCommitment calldata c,
        StrikeFraudJudge.LeafProof calldata proof,
        StrikeFraudJudge.StrikeLeaf calldata leaf,
        uint32[] calldata shots
    ) external returns (bytes32 commitment) {
        address solver;
        (solver, commitment) = judge.verifyLeaf(c, proof, leaf);
        if (accusations[commitment].solver != address(0)) revert AlreadyAccused(commitment);
        accusations[commitment] = Accusation(solver, msg.sender, 0, 0, false);
        emit Accused(commitment, solver, msg.sender, proof.index, shots);
    }

    /// @notice A committee member's verdict on an open accusation; the deciding vote settles it.
    function vote(bytes32 commitment, bool guilty) external returns (bool settled) {
        if (!isMember[msg.sender]) revert NotMember(msg.sender);
        Accusation storage a = accusations[commitment];
        if (a.solver == address(0) || a.closed) revert NotOpen(commitment);
        if (hasVoted[commitment][msg.sender]) revert AlreadyVoted(msg.sender);
        hasVoted[commitment][msg.sender] = true;
        emit Voted(commitment, msg.sender, guilty);
        if (guilty) {
            a.guilty += 1;
            if (a.guilty < threshold) return false;
            a.closed = true;
            uint256 amount = registry.slash(a.solver, a.reporter, ISolverRegistry.Offence.FakedWork, commitment);
            emit Settled(commitment, a.solver, true, amount);
            return true;
        }
        a.innocent += 1;
        if (a.innocent < members - threshold + 1) return false;
        a.closed = true;
        emit Settled(commitment, a.solver, false, 0);
        return true;
    }
}
