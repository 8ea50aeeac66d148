// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice Test helpers: encode problems and solutions the way IsingTerms reads them, and a plain
/// reference energy to check the contract's optimised one against.
library Ising {
    function term(uint256 i, uint256 j, int256 value) internal pure returns (bytes memory) {
        uint256 t = (i << 14) | (j << 4) | (uint256(value) & 0xf);
        return abi.encodePacked(uint8(t >> 16), uint8(t >> 8), uint8(t));
    }

    /// @notice Pack +-1 spins: bit i % 8 of byte i / 8, set for -1.
    function pack(int8[] memory spins) internal pure returns (bytes memory out) {
        out = new bytes((spins.length + 7) / 8);
        for (uint256 i = 0; i < spins.length; i++) {
            if (spins[i] < 0) out[i / 8] = bytes1(uint8(out[i / 8]) | uint8(1 << (i % 8)));
        }
    }

    function spinOf(bytes memory packed, uint256 i) internal pure returns (int256) {
        return (uint8(packed[i / 8]) >> (i % 8)) & 1 == 1 ? int256(-1) : int256(1);
    }

    /// @notice The energy sum_i h_i s_i + sum_k J_k s_i s_j, computed the obvious way.
    function referenceEnergy(bytes memory spins, bytes memory fields, bytes memory couplings)
        internal
        pure
        returns (int256 e)
    {
        for (uint256 i = 0; i < fields.length; i++) {
            e += int256(int8(uint8(fields[i]))) * spinOf(spins, i);
        }
        for (uint256 k = 0; k < couplings.length / 3; k++) {
            uint256 t = (uint256(uint8(couplings[3 * k])) << 16) | (uint256(uint8(couplings[3 * k + 1])) << 8)
                | uint256(uint8(couplings[3 * k + 2]));
            uint256 i = t >> 14;
            uint256 j = (t >> 4) & 0x3ff;
            int256 value = int256(t & 0xf);
            if (value >= 8) value -= 16;
            e += value * spinOf(spins, i) * spinOf(spins, j);
        }
    }

    /// @notice A pseudo-random problem on n spins with m couplings drawn from `seed`.
    function randomProblem(uint256 seed, uint256 n, uint256 m)
        internal
        pure
        returns (bytes memory fields, bytes memory couplings)
    {
        fields = new bytes(n);
        for (uint256 i = 0; i < n; i++) {
            uint256 r = uint256(keccak256(abi.encode(seed, "h", i)));
            fields[i] = bytes1(uint8(int8(int256(r % 255) - 127)));
        }
        couplings = new bytes(3 * m);
        for (uint256 k = 0; k < m; k++) {
            uint256 r = uint256(keccak256(abi.encode(seed, "J", k)));
            uint256 i = r % n;
            uint256 j = (i + 1 + (r >> 16) % (n - 1)) % n;
            int256 value = int256((r >> 32) % 15) - 7;
            bytes memory t = term(i, j, value);
            couplings[3 * k] = t[0];
            couplings[3 * k + 1] = t[1];
            couplings[3 * k + 2] = t[2];
        }
    }

    /// @notice Pseudo-random packed spins for n variables.
    function randomSpins(uint256 seed, uint256 n) internal pure returns (bytes memory out) {
        out = new bytes((n + 7) / 8);
        for (uint256 b = 0; b < out.length; b++) {
            out[b] = bytes1(uint8(uint256(keccak256(abi.encode(seed, "s", b)))));
        }
        if (n % 8 != 0) out[out.length - 1] = bytes1(uint8(out[out.length - 1]) & uint8((1 << (n % 8)) - 1));
    }
}
