// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {SolverRegistry} from "../src/SolverRegistry.sol";
import {StrikeFraudJudge} from "../src/StrikeFraudJudge.sol";
import {StrikeFraudQuorum} from "../src/StrikeFraudQuorum.sol";
import {ISolverRegistry} from "../src/interfaces/ISolverRegistry.sol";
import {MarketFixture} from "./utils/MarketFixture.sol";

interface VmMock {
    function mockCall(address callee, bytes calldata data, bytes calldata returnData) external;
}

/// @notice The judge's own logic (and the quorum that replaces its re-run on other chains): signatures, Merkle paths, the decision on the precompile's answer
/// and the slash. forge has no strike precompile, so its answer is mocked here (the real one runs in
/// pytest, tests/test_strike_fraud_judge.py); without a mock, as on any other EVM chain, settling
/// reverts with PrecompileFailed.
contract StrikeFraudJudgeTest is MarketFixture {
    VmMock internal constant MOCK = VmMock(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);
    uint256 internal constant SOLVER_KEY = 5;
    // the compressed secp256k1 public key of private key 5 (computed with poqw.crypto.ecdsa)
    bytes internal constant SOLVER_PUBKEY = hex"022f8bde4d1a07209355b4a7250a5c5128e88b84bddc619ab7cba8d569b240efe4";

    StrikeFraudJudge internal judge;
    address internal solver;
    StrikeFraudJudge.StrikeLeaf[3] internal leaves;
    bytes32 internal root;

    function setUp() public override {
        super.setUp();
        judge = new StrikeFraudJudge(ISolverRegistry(address(registry)));
        vm.startPrank(admin);
        registry.grantRole(registry.SLASHER_ROLE(), address(judge));
        vm.stopPrank();
        solver = vm.addr(SOLVER_KEY);
        token.transfer(solver, MIN_STAKE);
        vm.startPrank(solver);
        token.approve(address(registry), MIN_STAKE);
        registry.stake(MIN_STAKE);
        vm.stopPrank();
        for (uint256 k = 0; k < 3; ++k) {
            // version 1, model hash, depth 1, 4 shots, seed, gamma, beta (86 bytes)
            bytes memory spec = abi.encodePacked(
                uint8(1), keccak256("model"), uint8(1), uint32(4), keccak256(abi.encode(k)), uint64(0), uint64(0)
            );
            bytes memory samples = abi.encodePacked(uint32(k), uint32(3), uint32(9), uint32(12));
            leaves[k] = StrikeFraudJudge.StrikeLeaf(spec, samples, keccak256("energies"));
        }
        bytes32 pair = _node(judge.leafDigest(leaves[0]), judge.leafDigest(leaves[1]));
        root = _node(pair, judge.leafDigest(leaves[2])); // the third leaf is carried up alone
    }

    function _node(bytes32 left, bytes32 right) internal pure returns (bytes32) {
        bytes memory domain = "poqw/compute/merkle-node/v1";
        return sha256(abi.encodePacked(uint8(domain.length), domain, left, right));
    }

    function _signed(uint256 key) internal view returns (StrikeFraudJudge.SignedCommitment memory c) {
        c = StrikeFraudJudge.SignedCommitment(SOLVER_PUBKEY, keccak256("batch"), 3, root, "");
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, judge.commitmentDigest(c));
        c.signature = abi.encodePacked(r, s, v - 27);
    }

    function _proof(uint32 index) internal view returns (StrikeFraudJudge.LeafProof memory p) {
        bytes32[] memory siblings;
        if (index == 2) {
            siblings = new bytes32[](1);
            siblings[0] = _node(judge.leafDigest(leaves[0]), judge.leafDigest(leaves[1]));
        } else {
            siblings = new bytes32[](2);
            siblings[0] = judge.leafDigest(leaves[1 - index]);
            siblings[1] = judge.leafDigest(leaves[2]);
        }
        p = StrikeFraudJudge.LeafProof(index, siblings);
    }

    /// @dev Make the precompile answer `canonical` (with `ambiguous`) for shot 1 of any strike.
    function _answer(uint32 canonical, bool ambiguous) internal {
        uint256 word = (ambiguous ? uint256(1) << 32 : 0) | canonical;
        MOCK.mockCall(judge.STRIKE_PRECOMPILE(), "", abi.encodePacked(bytes32(0), uint256(0), word));
    }

    function _shots() internal pure returns (uint32[] memory shots) {
        shots = new uint32[](1);
        shots[0] = 1;
    }

    function test_keyAddressAndSignature() public view {
        vm.assertEq(judge.keyAddress(SOLVER_PUBKEY), solver, "compressed key decompressed");
        StrikeFraudJudge.SignedCommitment memory c = _signed(SOLVER_KEY);
        (address signer, bytes32 digest) = judge.verifyLeaf(c, _proof(2), leaves[2]);
        vm.assertEq(signer, solver, "signer");
        vm.assertEq(digest, judge.commitmentDigest(c), "digest");
    }

    function test_canonicalShotIsNoFraud() public {
        _answer(3, false);
        (StrikeFraudJudge.SignedCommitment memory c, StrikeFraudJudge.LeafProof memory p) =
            (_signed(SOLVER_KEY), _proof(0));
        vm.prank(reporter);
        vm.expectRevert(StrikeFraudJudge.NoFraud.selector);
        judge.settle(c, p, leaves[0], "", _shots());
    }

    function test_ambiguousShotIsNoFraud() public {
        _answer(4, true);
        (StrikeFraudJudge.SignedCommitment memory c, StrikeFraudJudge.LeafProof memory p) =
            (_signed(SOLVER_KEY), _proof(1));
        vm.prank(reporter);
        vm.expectRevert(StrikeFraudJudge.NoFraud.selector);
        judge.settle(c, p, leaves[1], "", _shots());
    }

    function test_fakedShotIsSlashedOnce() public {
        _answer(4, false);
        StrikeFraudJudge.SignedCommitment memory c = _signed(SOLVER_KEY);
        StrikeFraudJudge.LeafProof memory p = _proof(2);
        vm.prank(reporter);
        uint256 amount = judge.settle(c, p, leaves[2], "", _shots());
        vm.assertEq(amount, SLASH, "slashed");
        vm.assertEq(registry.solverInfo(solver).stake, MIN_STAKE - SLASH, "stake");
        bytes32 digest = judge.commitmentDigest(c);
        vm.prank(reporter);
        vm.expectRevert(abi.encodeWithSelector(SolverRegistry.EvidenceAlreadyUsed.selector, digest));
        judge.settle(c, p, leaves[2], "", _shots());
    }

    function test_refusals() public {
        _answer(4, false);
        StrikeFraudJudge.SignedCommitment memory forged = _signed(SOLVER_KEY + 1);
        StrikeFraudJudge.SignedCommitment memory c = _signed(SOLVER_KEY);
        (StrikeFraudJudge.LeafProof memory p0, StrikeFraudJudge.LeafProof memory p1) = (_proof(0), _proof(1));
        vm.expectRevert(StrikeFraudJudge.BadSignature.selector);
        judge.settle(forged, p0, leaves[0], "", _shots());
        vm.expectRevert(abi.encodeWithSelector(StrikeFraudJudge.BadMerklePath.selector, uint32(1), uint32(3)));
        judge.settle(c, p1, leaves[0], "", _shots());
        uint32[] memory outside = new uint32[](1);
        outside[0] = 4;
        vm.expectRevert(abi.encodeWithSelector(StrikeFraudJudge.BadShotList.selector, uint256(1)));
        judge.settle(c, p0, leaves[0], "", outside);
        vm.assertEq(registry.solverInfo(solver).stake, MIN_STAKE, "nothing slashed");
    }

    function test_withoutThePrecompileNothingSettles() public {
        (StrikeFraudJudge.SignedCommitment memory c, StrikeFraudJudge.LeafProof memory p) =
            (_signed(SOLVER_KEY), _proof(0));
        vm.expectRevert(StrikeFraudJudge.PrecompileFailed.selector);
        judge.settle(c, p, leaves[0], "", _shots());
    }

    function _quorum() internal returns (StrikeFraudQuorum q) {
        address[] memory committee = new address[](3);
        (committee[0], committee[1], committee[2]) = (alice, bob, carol);
        q = new StrikeFraudQuorum(judge, ISolverRegistry(address(registry)), committee, 2);
        vm.startPrank(admin);
        registry.grantRole(registry.SLASHER_ROLE(), address(q));
        vm.stopPrank();
    }

    function test_quorumSlashesAtTheThreshold() public {
        StrikeFraudQuorum q = _quorum();
        (StrikeFraudJudge.SignedCommitment memory c, StrikeFraudJudge.LeafProof memory p) =
            (_signed(SOLVER_KEY), _proof(1));
        vm.prank(reporter);
        bytes32 id = q.accuse(c, p, leaves[1], _shots());
        vm.prank(alice);
        vm.assertEq(q.vote(id, true), false, "one vote of two");
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(StrikeFraudQuorum.AlreadyVoted.selector, alice));
        q.vote(id, true);
        vm.prank(reporter);
        vm.expectRevert(abi.encodeWithSelector(StrikeFraudQuorum.NotMember.selector, reporter));
        q.vote(id, true);
        uint256 before = token.balanceOf(reporter);
        vm.prank(bob);
        vm.assertEq(q.vote(id, true), true, "settled");
        vm.assertEq(registry.solverInfo(solver).stake, MIN_STAKE - SLASH, "slashed");
        vm.assertEq(token.balanceOf(reporter) - before, SLASH * REPORTER_BPS / 10_000, "reporter paid");
        vm.prank(carol);
        vm.expectRevert(abi.encodeWithSelector(StrikeFraudQuorum.NotOpen.selector, id));
        q.vote(id, false);
    }

    function test_quorumClearsAnInnocentSolver() public {
        StrikeFraudQuorum q = _quorum();
        (StrikeFraudJudge.SignedCommitment memory c, StrikeFraudJudge.LeafProof memory p) =
            (_signed(SOLVER_KEY), _proof(0));
        bytes32 id = q.accuse(c, p, leaves[0], _shots());
        vm.prank(alice);
        q.vote(id, true);
        vm.prank(bob);
        q.vote(id, false);
        vm.prank(carol);
        vm.assertEq(q.vote(id, false), true, "cleared by two of three");
        vm.assertEq(registry.solverInfo(solver).stake, MIN_STAKE, "not slashed");
        vm.expectRevert(abi.encodeWithSelector(StrikeFraudQuorum.AlreadyAccused.selector, id));
        q.accuse(c, p, leaves[0], _shots());
    }

    function test_quorumChecksWhatTheChainCan() public {
        StrikeFraudQuorum q = _quorum();
        (StrikeFraudJudge.SignedCommitment memory forged, StrikeFraudJudge.LeafProof memory p) =
            (_signed(SOLVER_KEY + 1), _proof(0));
        vm.expectRevert(StrikeFraudJudge.BadSignature.selector);
        q.accuse(forged, p, leaves[0], _shots());
        address[] memory committee = new address[](3);
        (committee[0], committee[1], committee[2]) = (alice, bob, carol);
        vm.expectRevert(StrikeFraudQuorum.BadCommittee.selector);
        new StrikeFraudQuorum(judge, ISolverRegistry(address(registry)), committee, 1);
    }
}
