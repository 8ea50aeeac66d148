// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ISolverRegistry} from "./interfaces/ISolverRegistry.sol";

/// @title Strike fraud judge: settles faked off-chain strikes on the PoQW chain
/// @notice A solver of the compute network signs (with its secp256k1 node key, whose address is its
/// stake in the registry) the Merkle root of its strike leaves. Anyone holding a leaf whose shots
/// are not the strike's draws brings the signed commitment, the leaf, its Merkle path, the model and
/// the shot numbers to check; the judge re-runs the strike through the PoQW chain's strike
/// precompile (0x...504f5157) and slashes the solver through the registry (this contract holds its
/// SLASHER_ROLE) when a claimed shot differs from the canonical one and is not ambiguous. Hashes
/// are poqw's domain-separated SHA-256 (`sha256(len(domain) || domain || data)`), exactly
/// poqw.compute.merkle and poqw.compute.commitment, so no hash is re-encoded for the EVM.
/// @dev Only the PoQW chain has the precompile; elsewhere every settlement reverts with
/// PrecompileFailed (see the README: a quorum of staked verifiers settles there instead).
contract StrikeFraudJudge {
    /// @notice The PoQW chain's strike precompile.
    address public constant STRIKE_PRECOMPILE = address(0x504F5157);
    /// @notice The most shot numbers one settlement asks the precompile about.
    uint256 public constant MAX_ASKED_SHOTS = 256;

    uint256 internal constant P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F;
    uint256 internal constant HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;
    uint256 internal constant SPEC_SHOTS_AT = 34; // version(1) model hash(32) depth(1), then u32 shots

    /// @notice The registry whose stakes back the solvers' commitments.
    ISolverRegistry public immutable registry;

    /// @notice A solver's signed commitment: compressed key, batch id, leaf count, Merkle root and
    /// the 65-byte recoverable signature `r || s || v` (v in {0, 1}) over its digest.
    struct SignedCommitment {
        bytes solverKey;
        bytes32 batch;
        uint32 leafCount;
        bytes32 root;
        bytes signature;
    }

    /// @notice One committed strike: its spec bytes, the shots' basis indices as big-endian u32s and
    /// the digest of their energies (not re-checked here).
    struct StrikeLeaf {
        bytes spec;
        bytes samples;
        bytes32 energiesDigest;
    }

    /// @notice A leaf's place in the committed tree: its index and the Merkle path bottom-up (a
    /// level's unpaired last node has no sibling).
    struct LeafProof {
        uint32 index;
        bytes32[] siblings;
    }

    /// @notice What a re-run found: the first faked shot, its claimed and canonical basis index.
    struct Finding {
        bool fraud;
        uint32 shot;
        uint32 claimed;
        uint32 canonical;
    }

    /// @notice The signature is malformed or was not made by the commitment's key.
    error BadSignature();
    /// @notice The commitment's key is not a compressed secp256k1 point.
    error BadSolverKey();
    /// @notice The Merkle path does not lead from the leaf to the committed root.
    error BadMerklePath(uint32 index, uint32 leafCount);
    /// @notice The leaf's samples are not 4 bytes per shot of its spec.
    error BadLeaf();
    /// @notice No shots, too many, or a shot number outside the strike.
    error BadShotList(uint256 count);
    /// @notice The precompile refused the re-run (wrong model, bad spec, out of gas, or no precompile).
    error PrecompileFailed();
    /// @notice Every asked shot is the canonical draw or ambiguous: no fraud shown.
    error NoFraud();

    /// @notice `solver` was slashed `amount` for leaf `leafIndex` of commitment `commitment`: shot
    /// `shot` claimed basis index `claimed`, the strike's draw is `canonical`.
    event FraudSettled(
        address indexed solver,
        address indexed reporter,
        bytes32 indexed commitment,
        uint32 leafIndex,
        uint32 shot,
        uint32 claimed,
        uint32 canonical,
        uint256 amount
    );

    /// @param registry_ The solver registry (grant this contract its SLASHER_ROLE).
    constructor(ISolverRegistry registry_) {
        registry = registry_;
    }

    /// @notice Check a leaf against a signed commitment and slash its solver if the re-run shows a
    /// faked shot. Reverts (nothing changes) unless fraud is proven; each commitment is slashed once.
    /// @param c The solver's signed commitment.
    /// @param proof The leaf's index and Merkle path.
    /// @param leaf The committed strike.
    /// @param model The model's canonical bytes (hashed by the precompile against the spec).
    /// @param shots The shot numbers to check, at most MAX_ASKED_SHOTS.
    /// @return amount What the registry took from the solver.
    function settle(
        SignedCommitment calldata c,
        LeafProof calldata proof,
        StrikeLeaf calldata leaf,
        bytes calldata model,
        uint32[] calldata shots
    ) external returns (uint256 amount) {
        (address solver, bytes32 digest) = verifyLeaf(c, proof, leaf);
        Finding memory found = findFakedShot(leaf, model, shots);
        if (!found.fraud) revert NoFraud();
        amount = registry.slash(solver, msg.sender, ISolverRegistry.Offence.FakedWork, digest);
        emit FraudSettled(solver, msg.sender, digest, proof.index, found.shot, found.claimed, found.canonical, amount);
    }

    /// @notice The signer's address and the commitment's digest, if `leaf` is committed at
    /// `proof.index` under a commitment signed by its own key; reverts otherwise.
    function verifyLeaf(SignedCommitment calldata c, LeafProof calldata proof, StrikeLeaf calldata leaf)
        public
        view
        returns (address solver, bytes32 digest)
    {
        digest = commitmentDigest(c);
        solver = keyAddress(c.solverKey);
        if (recoverSigner(digest, c.signature) != solver) revert BadSignature();
        if (merkleRoot(leafDigest(leaf), proof.index, c.leafCount, proof.siblings) != c.root) {
            revert BadMerklePath(proof.index, c.leafCount);
        }
    }

    /// @notice Re-run the leaf's strike for `shots` and return the first faked one, if any.
    function findFakedShot(StrikeLeaf calldata leaf, bytes calldata model, uint32[] calldata shots)
        public
        view
        returns (Finding memory found)
    {
        if (leaf.spec.length < SPEC_SHOTS_AT + 4) revert BadLeaf();
        uint256 total = uint32(bytes4(leaf.spec[SPEC_SHOTS_AT:SPEC_SHOTS_AT + 4]));
        if (leaf.samples.length != 4 * total) revert BadLeaf();
        bytes memory out = _rerun(leaf.spec, model, shots, total);
        for (uint256 k = 0; k < shots.length; ++k) {
            uint256 answer;
            assembly ("memory-safe") {
                answer := mload(add(out, add(96, mul(32, k))))
            }
            uint32 claimed = _claimedShot(leaf.samples, shots[k]);
            if (claimed != uint32(answer) && (answer >> 32) == 0) {
                return Finding(true, shots[k], claimed, uint32(answer));
            }
        }
    }

    function _claimedShot(bytes calldata samples, uint32 shot) private pure returns (uint32) {
        uint256 offset = 4 * uint256(shot);
        return uint32(bytes4(samples[offset:offset + 4]));
    }

    /// @dev The precompile's answer for `shots` of the strike `spec` over `model`.
    function _rerun(bytes calldata spec, bytes calldata model, uint32[] calldata shots, uint256 total)
        private
        view
        returns (bytes memory out)
    {
        if (shots.length == 0 || shots.length > MAX_ASKED_SHOTS) revert BadShotList(shots.length);
        bytes memory asked = new bytes(4 * shots.length);
        for (uint256 k = 0; k < shots.length; ++k) {
            if (shots[k] >= total) revert BadShotList(shots.length);
            bytes4 word = bytes4(shots[k]);
            for (uint256 b = 0; b < 4; ++b) {
                asked[4 * k + b] = word[b];
            }
        }
        bool ok;
        (ok, out) = STRIKE_PRECOMPILE.staticcall(
            abi.encodePacked(uint16(model.length), model, uint16(spec.length), spec, uint16(shots.length), asked)
        );
        if (!ok || out.length != 64 + 32 * shots.length) revert PrecompileFailed();
    }

    /// @notice poqw.compute.commitment.Commitment.digest().
    function commitmentDigest(SignedCommitment calldata c) public pure returns (bytes32) {
        if (c.solverKey.length != 33) revert BadSolverKey();
        return _hash("poqw/compute/commitment/v1", abi.encodePacked(c.solverKey, c.batch, c.leafCount, c.root));
    }

    /// @notice poqw.compute.commitment.StrikeLeaf.digest() (the Merkle leaf hash).
    function leafDigest(StrikeLeaf calldata leaf) public pure returns (bytes32) {
        bytes32 spec = _hash("poqw/compute/strike-spec/v1", leaf.spec);
        bytes32 samples = _hash("poqw/compute/samples/v1", leaf.samples);
        return _hash("poqw/compute/merkle-leaf/v1", abi.encodePacked(spec, samples, leaf.energiesDigest));
    }

    /// @notice The root reached from `leaf` at `index` of `count` leaves (poqw.compute.merkle's
    /// rule: an unpaired last node is carried up unchanged); reverts when the path has the wrong length.
    function merkleRoot(bytes32 leaf, uint32 index, uint32 count, bytes32[] calldata siblings)
        public
        pure
        returns (bytes32 node)
    {
        if (count == 0 || index >= count) revert BadMerklePath(index, count);
        node = leaf;
        uint256 i = index;
        uint256 n = count;
        uint256 used = 0;
        while (n > 1) {
            if ((i ^ 1) < n) {
                if (used == siblings.length) revert BadMerklePath(index, count);
                bytes32 sibling = siblings[used++];
                node = i & 1 == 1
                    ? _hash("poqw/compute/merkle-node/v1", abi.encodePacked(sibling, node))
                    : _hash("poqw/compute/merkle-node/v1", abi.encodePacked(node, sibling));
            }
            i >>= 1;
            n = (n + 1) >> 1;
        }
        if (used != siblings.length) revert BadMerklePath(index, count);
    }

    /// @notice The Ethereum address of a compressed secp256k1 key (decompressed with MODEXP).
    function keyAddress(bytes calldata key) public view returns (address) {
        if (key.length != 33 || (key[0] != 0x02 && key[0] != 0x03)) revert BadSolverKey();
        uint256 x = uint256(bytes32(key[1:33]));
        if (x >= P) revert BadSolverKey();
        uint256 rhs = addmod(mulmod(mulmod(x, x, P), x, P), 7, P);
        (bool ok, bytes memory out) =
            address(0x05).staticcall(abi.encodePacked(uint256(32), uint256(32), uint256(32), rhs, (P + 1) / 4, P));
        if (!ok || out.length != 32) revert BadSolverKey();
        uint256 y = uint256(bytes32(out));
        if (mulmod(y, y, P) != rhs) revert BadSolverKey();
        if ((y & 1) != uint8(key[0]) - 2) y = P - y;
        return address(uint160(uint256(keccak256(abi.encodePacked(x, y)))));
    }

    /// @notice The signer of `digest` under poqw's rules: 65 bytes `r || s || v`, v in {0, 1},
    /// low s (no malleable twin). Reverts on a malformed signature.
    function recoverSigner(bytes32 digest, bytes calldata signature) public pure returns (address signer) {
        if (signature.length != 65) revert BadSignature();
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (v > 1 || uint256(s) == 0 || uint256(s) > HALF_N || uint256(r) == 0) revert BadSignature();
        signer = ecrecover(digest, v + 27, r, s);
        if (signer == address(0)) revert BadSignature();
    }

    function _hash(bytes memory domain, bytes memory data) private pure returns (bytes32) {
        return sha256(abi.encodePacked(uint8(domain.length), domain, data));
    }
}
