// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title The calldata encoding of an Ising problem and its on-chain energy
/// @notice A problem on n <= 1024 spins s_i in {-1, +1} has the energy
/// E(s) = sum_i h_i s_i + sum_k J_k s_{i_k} s_{j_k}, all integers. Its terms travel in calldata and
/// are committed on chain by their hash, so a check costs calldata plus one pass, no storage:
/// - `fields`: n bytes, byte i is h_i as int8 in [-127, 127];
/// - `couplings`: 3 bytes per coupling, the big-endian 24-bit word (i << 14) | (j << 4) | (J & 15)
///   with i, j < n, i != j and J in [-7, 7] as a 4-bit two's complement nibble;
/// - `spins`: ceil(n / 8) bytes, spin i is bit (i % 8) of byte i / 8, a set bit meaning -1 (the
///   bit order of poqw's block proofs); unused bits of the last byte are zero.
/// Fields and couplings are symmetric ranges so that a problem with its signs flipped is encodable.
library IsingTerms {
    /// @notice The most variables a problem may have (10-bit indices).
    uint256 internal constant MAX_VARIABLES = 1024;
    /// @notice The most couplings a problem may have.
    uint256 internal constant MAX_COUPLINGS = 65_536;
    /// @notice Bytes per encoded coupling.
    uint256 internal constant TERM_BYTES = 3;

    /// @notice A problem with no variables or more than `max`.
    error VariableCountOutOfRange(uint256 numVariables, uint256 max);
    /// @notice `fields` is not one byte per variable.
    error FieldsLengthMismatch(uint256 length, uint256 numVariables);
    /// @notice `couplings` is not a whole number of 3-byte terms.
    error CouplingsNotWholeTerms(uint256 length);
    /// @notice More couplings than `max`.
    error TooManyCouplings(uint256 count, uint256 max);
    /// @notice A field outside [-127, 127].
    error FieldOutOfRange(uint256 variable, int256 value);
    /// @notice Coupling number `term` names a variable `index` >= the number of variables.
    error IndexOutOfRange(uint256 term, uint256 index, uint256 numVariables);
    /// @notice Coupling number `term` couples variable `index` with itself.
    error SelfCoupling(uint256 term, uint256 index);
    /// @notice Coupling number `term` has a value outside [-7, 7].
    error CouplingOutOfRange(uint256 term, int256 value);
    /// @notice `spins` is not ceil(n / 8) bytes.
    error SpinsLengthMismatch(uint256 length, uint256 expected);
    /// @notice Bits past the last variable are set in `spins`.
    error SpinsPaddingNotZero();

    /// @notice Revert with a named error unless the terms are a well-formed problem on `n` spins.
    function validate(uint256 n, bytes calldata fields, bytes calldata couplings) internal pure {
        if (n == 0 || n > MAX_VARIABLES) revert VariableCountOutOfRange(n, MAX_VARIABLES);
        if (fields.length != n) revert FieldsLengthMismatch(fields.length, n);
        if (couplings.length % TERM_BYTES != 0) revert CouplingsNotWholeTerms(couplings.length);
        uint256 m = couplings.length / TERM_BYTES;
        if (m > MAX_COUPLINGS) revert TooManyCouplings(m, MAX_COUPLINGS);
        uint256 badField = n;
        assembly ("memory-safe") {
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                if eq(byte(0, calldataload(add(fields.offset, i))), 0x80) {
                    badField := i
                    break
                }
            }
        }
        if (badField != n) revert FieldOutOfRange(badField, -128);
        uint256 badTerm = m;
        assembly ("memory-safe") {
            let p := couplings.offset
            for { let k := 0 } lt(k, m) { k := add(k, 1) } {
                let t := shr(232, calldataload(p))
                let i := shr(14, t)
                let j := and(shr(4, t), 0x3ff)
                if or(or(iszero(lt(i, n)), iszero(lt(j, n))), or(eq(i, j), eq(and(t, 0xf), 8))) {
                    badTerm := k
                    break
                }
                p := add(p, 3)
            }
        }
        if (badTerm != m) _revertBadTerm(n, badTerm, couplings);
    }

    /// @notice The coupling number `k` of `couplings`: its two variables and its value.
    function coupling(bytes calldata couplings, uint256 k) internal pure returns (uint256 i, uint256 j, int256 value) {
        uint256 t = (uint256(uint8(couplings[3 * k])) << 16) | (uint256(uint8(couplings[3 * k + 1])) << 8)
            | uint256(uint8(couplings[3 * k + 2]));
        i = t >> 14;
        j = (t >> 4) & 0x3ff;
        value = int256(t & 0xf) ^ 8;
        value -= 8;
    }

    /// @notice The hash that commits a problem's terms (keccak256 of fields followed by couplings).
    function termsHash(bytes calldata fields, bytes calldata couplings) internal pure returns (bytes32 digest) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, fields.offset, fields.length)
            calldatacopy(add(ptr, fields.length), couplings.offset, couplings.length)
            digest := keccak256(ptr, add(fields.length, couplings.length))
        }
    }

    /// @notice The energy of `spins` under well-formed terms on `n` variables (see {validate}).
    /// @dev Spins are first spread into a table of one +-1 word per variable, so each coupling
    /// costs one calldata load, two memory loads and a few arithmetic operations.
    function energy(uint256 n, bytes calldata spins, bytes calldata fields, bytes calldata couplings)
        internal
        pure
        returns (int256 e)
    {
        uint256 expected = (n + 7) >> 3;
        if (spins.length != expected) revert SpinsLengthMismatch(spins.length, expected);
        if (n & 7 != 0 && uint8(spins[expected - 1]) >> (n & 7) != 0) revert SpinsPaddingNotZero();
        assembly ("memory-safe") {
            let table := mload(0x40) // scratch beyond the free memory pointer, never allocated
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                let bit := and(shr(and(i, 7), byte(0, calldataload(add(spins.offset, shr(3, i))))), 1)
                let s := sub(1, shl(1, bit))
                mstore(add(table, shl(5, i)), s)
                e := add(e, mul(signextend(0, byte(0, calldataload(add(fields.offset, i)))), s))
            }
            let p := couplings.offset
            for { let end := add(p, couplings.length) } lt(p, end) { p := add(p, 3) } {
                let t := shr(232, calldataload(p))
                // i * 32 = (t >> 14) << 5 and j * 32 = ((t >> 4) & 1023) << 5, each in one mask.
                let si := mload(add(table, and(shr(9, t), 0x7fe0)))
                let sj := mload(add(table, and(shl(1, t), 0x7fe0)))
                e := add(e, mul(sub(xor(and(t, 0xf), 8), 8), mul(si, sj)))
            }
        }
    }

    function _revertBadTerm(uint256 n, uint256 k, bytes calldata couplings) private pure {
        (uint256 i, uint256 j, int256 value) = coupling(couplings, k);
        if (i >= n) revert IndexOutOfRange(k, i, n);
        if (j >= n) revert IndexOutOfRange(k, j, n);
        if (i == j) revert SelfCoupling(k, i);
        revert CouplingOutOfRange(k, value);
    }
}
