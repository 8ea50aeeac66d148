// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IsingTerms} from "../src/IsingTerms.sol";
import {Ising} from "./utils/Ising.sol";
import {TestBase} from "./utils/Test.sol";

/// @notice Exposes the library's calldata functions to the tests.
contract IsingTermsHarness {
    function validate(uint256 n, bytes calldata fields, bytes calldata couplings) external pure {
        IsingTerms.validate(n, fields, couplings);
    }

    function energy(uint256 n, bytes calldata spins, bytes calldata fields, bytes calldata couplings)
        external
        pure
        returns (int256)
    {
        return IsingTerms.energy(n, spins, fields, couplings);
    }

    function termsHash(bytes calldata fields, bytes calldata couplings) external pure returns (bytes32) {
        return IsingTerms.termsHash(fields, couplings);
    }
}

/// @notice The optimised on-chain energy against the plain reference, and the encoding's edges.
contract IsingTermsTest is TestBase {
    IsingTermsHarness internal h = new IsingTermsHarness();

    function testFuzz_energyMatchesReference(uint256 seed, uint256 n, uint256 m) public view {
        n = bound(n, 2, 1024);
        m = bound(m, 0, 300);
        (bytes memory fields, bytes memory couplings) = Ising.randomProblem(seed, n, m);
        bytes memory spins = Ising.randomSpins(seed, n);
        h.validate(n, fields, couplings);
        vm.assertEq(h.energy(n, spins, fields, couplings), Ising.referenceEnergy(spins, fields, couplings), "energy");
    }

    function testFuzz_hashIsKeccakOfFieldsThenCouplings(bytes calldata fields, bytes calldata couplings) public view {
        vm.assertEq(h.termsHash(fields, couplings), keccak256(bytes.concat(fields, couplings)), "terms hash");
    }

    function test_extremesOfTheEncoding() public view {
        // variables 0 and 1023, couplings -7 and +7, fields -127 and +127
        bytes memory fields = new bytes(1024);
        fields[0] = bytes1(uint8(127));
        fields[1023] = bytes1(uint8(int8(-127)));
        bytes memory couplings = bytes.concat(Ising.term(0, 1023, -7), Ising.term(1023, 1, 7));
        h.validate(1024, fields, couplings);
        int8[] memory s = new int8[](1024);
        for (uint256 i = 0; i < 1024; i++) s[i] = 1;
        s[1023] = -1;
        bytes memory spins = Ising.pack(s);
        // 127 + 127 (h_1023 * -1) + (-7)(1)(-1) + 7(-1)(1) = 254
        vm.assertEq(h.energy(1024, spins, fields, couplings), 254, "extreme energy");
    }

    function testFuzz_validateRejectsEveryBadTerm(uint256 n, uint256 i, uint256 j, uint256 raw) public {
        n = bound(n, 1, 1024);
        i = bound(i, 0, 1023);
        j = bound(j, 0, 1023);
        int256 value = int256(bound(raw, 0, 15)) - 8;
        bytes memory couplings = bytes.concat(Ising.term(0 % n, (n > 1 ? 1 : 0) % n, 1), Ising.term(i, j, value));
        bool firstBad = n == 1; // a single variable cannot hold even the first coupling
        bool bad = i >= n || j >= n || i == j || value == -8;
        if (firstBad) {
            vm.expectRevert(abi.encodeWithSelector(IsingTerms.SelfCoupling.selector, 0, 0));
        } else if (i >= n) {
            vm.expectRevert(abi.encodeWithSelector(IsingTerms.IndexOutOfRange.selector, 1, i, n));
        } else if (j >= n) {
            vm.expectRevert(abi.encodeWithSelector(IsingTerms.IndexOutOfRange.selector, 1, j, n));
        } else if (i == j) {
            vm.expectRevert(abi.encodeWithSelector(IsingTerms.SelfCoupling.selector, 1, i));
        } else if (bad) {
            vm.expectRevert(abi.encodeWithSelector(IsingTerms.CouplingOutOfRange.selector, 1, value));
        }
        h.validate(n, new bytes(n), couplings);
    }

    function testFuzz_validateFindsTheFieldOutOfRange(uint256 seed, uint256 n, uint256 pos, bool plant) public {
        n = bound(n, 1, 1024);
        (bytes memory fields,) = Ising.randomProblem(seed, n, 0);
        if (plant) {
            pos = bound(pos, 0, n - 1);
            fields[pos] = bytes1(uint8(0x80));
        }
        bytes memory data = abi.encodeCall(IsingTermsHarness.validate, (n, fields, ""));
        // Fill the ABI padding after the fields with 0x80 bytes: they are not fields and must pass.
        for (uint256 b = 4 + 128 + n; b < 4 + 128 + (n + 31) / 32 * 32; b++) data[b] = bytes1(uint8(0x80));
        if (plant) vm.expectRevert(abi.encodeWithSelector(IsingTerms.FieldOutOfRange.selector, pos, -128));
        (bool ok, bytes memory ret) = address(h).call(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
    }
}
