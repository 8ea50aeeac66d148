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
        bool bad;
        assembly ("memory-safe") {
            // A field byte of 0x80 (-128) is the one out of range: xor with 0x80.. turns it into a
            // zero byte, which the borrow trick (x - 0x0101..) & ~x & 0x8080.. finds 32 at a time.
            let ones := 0x0101010101010101010101010101010101010101010101010101010101010101
            let highs := shl(7, ones)
            for { let off := 0 } lt(off, n) { off := add(off, 32) } {
                let x := xor(calldataload(add(fields.offset, off)), highs)
                let rest := sub(n, off)
                if lt(rest, 32) { x := or(x, shr(shl(3, rest), not(0))) } // bytes past the fields
                if and(and(sub(x, ones), not(x)), highs) { bad := 1 }
            }
        }
        if (bad) _revertBadField(fields);
        assembly ("memory-safe") {
            // Ten 3-byte terms per load; term k: i = (w >> (246 - 24k)) & 1023,
            // j = (w >> (236 - 24k)) & 1023, J nibble = (w >> (232 - 24k)) & 15 (8 means -8).
            let p := couplings.offset
            let end := add(p, couplings.length)
            for {} iszero(gt(add(p, 30), end)) { p := add(p, 30) } {
                let w := calldataload(p)
                {
                    let i := and(shr(246, w), 0x3ff)
                    let j := and(shr(236, w), 0x3ff)
                    bad := or(bad, or(or(iszero(lt(i, n)), iszero(lt(j, n))), or(eq(i, j), eq(and(shr(232, w), 0xf), 8))))
                }
                {
                    let i := and(shr(222, w), 0x3ff)
                    let j := and(shr(212, w), 0x3ff)
                    bad := or(bad, or(or(iszero(lt(i, n)), iszero(lt(j, n))), or(eq(i, j), eq(and(shr(208, w), 0xf), 8))))
                }
                {
                    let i := and(shr(198, w), 0x3ff)
                    let j := and(shr(188, w), 0x3ff)
                    bad := or(bad, or(or(iszero(lt(i, n)), iszero(lt(j, n))), or(eq(i, j), eq(and(shr(184, w), 0xf), 8))))
                }
                {
                    let i := and(shr(174, w), 0x3ff)
                    let j := and(shr(164, w), 0x3ff)
                    bad := or(bad, or(or(iszero(lt(i, n)), iszero(lt(j, n))), or(eq(i, j), eq(and(shr(160, w), 0xf), 8))))
                }
                {
                    let i := and(shr(150, w), 0x3ff)
                    let j := and(shr(140, w), 0x3ff)
                    bad := or(bad, or(or(iszero(lt(i, n)), iszero(lt(j, n))), or(eq(i, j), eq(and(shr(136, w), 0xf), 8))))
                }
                {
                    let i := and(shr(126, w), 0x3ff)
                    let j := and(shr(116, w), 0x3ff)
                    bad := or(bad, or(or(iszero(lt(i, n)), iszero(lt(j, n))), or(eq(i, j), eq(and(shr(112, w), 0xf), 8))))
                }
                {
                    let i := and(shr(102, w), 0x3ff)
                    let j := and(shr(92, w), 0x3ff)
                    bad := or(bad, or(or(iszero(lt(i, n)), iszero(lt(j, n))), or(eq(i, j), eq(and(shr(88, w), 0xf), 8))))
                }
                {
                    let i := and(shr(78, w), 0x3ff)
                    let j := and(shr(68, w), 0x3ff)
                    bad := or(bad, or(or(iszero(lt(i, n)), iszero(lt(j, n))), or(eq(i, j), eq(and(shr(64, w), 0xf), 8))))
                }
                {
                    let i := and(shr(54, w), 0x3ff)
                    let j := and(shr(44, w), 0x3ff)
                    bad := or(bad, or(or(iszero(lt(i, n)), iszero(lt(j, n))), or(eq(i, j), eq(and(shr(40, w), 0xf), 8))))
                }
                {
                    let i := and(shr(30, w), 0x3ff)
                    let j := and(shr(20, w), 0x3ff)
                    bad := or(bad, or(or(iszero(lt(i, n)), iszero(lt(j, n))), or(eq(i, j), eq(and(shr(16, w), 0xf), 8))))
                }
            }
            for {} lt(p, end) { p := add(p, 3) } {
                let w := calldataload(p)
                let i := and(shr(246, w), 0x3ff)
                let j := and(shr(236, w), 0x3ff)
                bad := or(bad, or(or(iszero(lt(i, n)), iszero(lt(j, n))), or(eq(i, j), eq(and(shr(232, w), 0xf), 8))))
            }
        }
        if (bad) _revertBadTerm(n, couplings);
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
    /// @dev Overwrites memory below the free memory pointer (see the assembly block): call it only
    /// where no memory object is live. Spins are first spread into a table of one sign-mask word per
    /// variable, so each coupling
    /// costs two memory loads and a few shifts, masks and xors; the loops are unrolled (8 variables
    /// per spin byte, 10 couplings per calldata word) because stack shuffling dominates otherwise.
    function energy(uint256 n, bytes calldata spins, bytes calldata fields, bytes calldata couplings)
        internal
        pure
        returns (int256 e)
    {
        uint256 expected = (n + 7) >> 3;
        if (spins.length != expected) revert SpinsLengthMismatch(spins.length, expected);
        if (n & 7 != 0 && uint8(spins[expected - 1]) >> (n & 7) != 0) revert SpinsPaddingNotZero();
        // Not memory-safe in the via-IR sense: the table starts at address 0 (saving an addition
        // per lookup) and overwrites memory the caller no longer needs; the free memory pointer and
        // the zero slot are restored before returning. Callers must hold no live memory objects.
        assembly {
            let freeMemory := mload(0x40)
            // Word v of memory holds variable v's sign mask: 0 for spin +1 and all ones (-1) for
            // spin -1, so that x * s_v is xor(x, mask) - mask and s_i * s_j is xor(mask_i, mask_j).
            let fullBytes := shr(3, n)
            for { let b := 0 } lt(b, fullBytes) { b := add(b, 1) } {
                let bits := byte(0, calldataload(add(spins.offset, b)))
                let hs := calldataload(add(fields.offset, shl(3, b))) // fields 8b .. 8b + 7 on top
                let ptr := shl(8, b)
                {
                    let mask := sub(0, and(shr(0, bits), 1))
                    mstore(add(ptr, 0), mask)
                    e := add(e, sub(xor(signextend(0, byte(0, hs)), mask), mask))
                }
                {
                    let mask := sub(0, and(shr(1, bits), 1))
                    mstore(add(ptr, 32), mask)
                    e := add(e, sub(xor(signextend(0, byte(1, hs)), mask), mask))
                }
                {
                    let mask := sub(0, and(shr(2, bits), 1))
                    mstore(add(ptr, 64), mask)
                    e := add(e, sub(xor(signextend(0, byte(2, hs)), mask), mask))
                }
                {
                    let mask := sub(0, and(shr(3, bits), 1))
                    mstore(add(ptr, 96), mask)
                    e := add(e, sub(xor(signextend(0, byte(3, hs)), mask), mask))
                }
                {
                    let mask := sub(0, and(shr(4, bits), 1))
                    mstore(add(ptr, 128), mask)
                    e := add(e, sub(xor(signextend(0, byte(4, hs)), mask), mask))
                }
                {
                    let mask := sub(0, and(shr(5, bits), 1))
                    mstore(add(ptr, 160), mask)
                    e := add(e, sub(xor(signextend(0, byte(5, hs)), mask), mask))
                }
                {
                    let mask := sub(0, and(shr(6, bits), 1))
                    mstore(add(ptr, 192), mask)
                    e := add(e, sub(xor(signextend(0, byte(6, hs)), mask), mask))
                }
                {
                    let mask := sub(0, and(shr(7, bits), 1))
                    mstore(add(ptr, 224), mask)
                    e := add(e, sub(xor(signextend(0, byte(7, hs)), mask), mask))
                }
            }
            for { let i := shl(3, fullBytes) } lt(i, n) { i := add(i, 1) } {
                let mask := sub(0, and(shr(and(i, 7), byte(0, calldataload(add(spins.offset, shr(3, i))))), 1))
                mstore(shl(5, i), mask)
                e := add(e, sub(xor(signextend(0, byte(0, calldataload(add(fields.offset, i)))), mask), mask))
            }
            // Couplings, ten 3-byte terms per 32-byte load. Term k of a word sits at bits
            // [232 - 24k, 256 - 24k): i * 32 is (w >> (241 - 24k)) & 0x7fe0, j * 32 is
            // (w >> (231 - 24k)) & 0x7fe0, and J is the top nibble of w << (20 + 24k), shifted down
            // arithmetically.
            let p := couplings.offset
            let end := add(p, couplings.length)
            for {} iszero(gt(add(p, 30), end)) { p := add(p, 30) } {
                let w := calldataload(p)
                {
                    let x := xor(mload(and(shr(241, w), 0x7fe0)), mload(and(shr(231, w), 0x7fe0)))
                    e := add(e, sub(xor(sar(252, shl(20, w)), x), x))
                }
                {
                    let x := xor(mload(and(shr(217, w), 0x7fe0)), mload(and(shr(207, w), 0x7fe0)))
                    e := add(e, sub(xor(sar(252, shl(44, w)), x), x))
                }
                {
                    let x := xor(mload(and(shr(193, w), 0x7fe0)), mload(and(shr(183, w), 0x7fe0)))
                    e := add(e, sub(xor(sar(252, shl(68, w)), x), x))
                }
                {
                    let x := xor(mload(and(shr(169, w), 0x7fe0)), mload(and(shr(159, w), 0x7fe0)))
                    e := add(e, sub(xor(sar(252, shl(92, w)), x), x))
                }
                {
                    let x := xor(mload(and(shr(145, w), 0x7fe0)), mload(and(shr(135, w), 0x7fe0)))
                    e := add(e, sub(xor(sar(252, shl(116, w)), x), x))
                }
                {
                    let x := xor(mload(and(shr(121, w), 0x7fe0)), mload(and(shr(111, w), 0x7fe0)))
                    e := add(e, sub(xor(sar(252, shl(140, w)), x), x))
                }
                {
                    let x := xor(mload(and(shr(97, w), 0x7fe0)), mload(and(shr(87, w), 0x7fe0)))
                    e := add(e, sub(xor(sar(252, shl(164, w)), x), x))
                }
                {
                    let x := xor(mload(and(shr(73, w), 0x7fe0)), mload(and(shr(63, w), 0x7fe0)))
                    e := add(e, sub(xor(sar(252, shl(188, w)), x), x))
                }
                {
                    let x := xor(mload(and(shr(49, w), 0x7fe0)), mload(and(shr(39, w), 0x7fe0)))
                    e := add(e, sub(xor(sar(252, shl(212, w)), x), x))
                }
                {
                    let x := xor(mload(and(shr(25, w), 0x7fe0)), mload(and(shr(15, w), 0x7fe0)))
                    e := add(e, sub(xor(sar(252, shl(236, w)), x), x))
                }
            }
            for {} lt(p, end) { p := add(p, 3) } {
                let w := calldataload(p)
                let x := xor(mload(and(shr(241, w), 0x7fe0)), mload(and(shr(231, w), 0x7fe0)))
                e := add(e, sub(xor(sar(252, shl(20, w)), x), x))
            }
            mstore(0x40, freeMemory)
            mstore(0x60, 0)
        }
    }

    /// @dev The slow path of {validate}: name the first field out of range.
    function _revertBadField(bytes calldata fields) private pure {
        for (uint256 v = 0; v < fields.length; v++) {
            if (uint8(fields[v]) == 0x80) revert FieldOutOfRange(v, -128);
        }
    }

    /// @dev The slow path of {validate}: name the first bad coupling and what is wrong with it.
    function _revertBadTerm(uint256 n, bytes calldata couplings) private pure {
        for (uint256 k = 0; k < couplings.length / TERM_BYTES; k++) {
            (uint256 i, uint256 j, int256 value) = coupling(couplings, k);
            if (i >= n) revert IndexOutOfRange(k, i, n);
            if (j >= n) revert IndexOutOfRange(k, j, n);
            if (i == j) revert SelfCoupling(k, i);
            if (value == -8) revert CouplingOutOfRange(k, value);
        }
    }
}
