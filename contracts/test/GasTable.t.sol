// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";

import {ProblemMarket} from "../src/ProblemMarket.sol";
import {Ising} from "./utils/Ising.sol";
import {MarketFixture} from "./utils/MarketFixture.sol";

interface VmCool {
    function cool(address target) external;
}

/// @notice Calls a target from a fresh frame whose memory holds only the calldata, as a
/// transaction would (the test contract's own memory grows to megabytes while it builds problems,
/// and that would be charged to the measured call).
contract GasMeter {
    function measure(address target, bytes calldata data) external returns (uint256 used, bytes memory ret) {
        bytes memory copy = data;
        uint256 before = gasleft();
        bool ok;
        assembly {
            ok := call(gas(), target, 0, add(copy, 32), mload(copy), 0, 0)
            used := sub(before, gas())
        }
        uint256 size;
        assembly {
            size := returndatasize()
        }
        ret = new bytes(size);
        assembly {
            returndatacopy(add(ret, 32), 0, size)
        }
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
    }
}

/// @notice The gas of posting a problem and of checking a solution on chain, against the number of
/// variables and couplings, for 3-regular and dense graphs. Each measured call starts cold (as the
/// first call of its own transaction), and the transaction's gas adds the intrinsic 21000 and the
/// calldata charge under EIP-7623 (Prague): max(4 * tokens + execution, 10 * tokens), where a
/// zero byte is one token and any other byte four. Print with:
///   cd contracts && ../node_modules/.bin/forge test --match-contract GasTable -vv
contract GasTableTest is MarketFixture {
    using Strings for uint256;

    uint256 internal constant GOAL_PER_COUPLING = 150; // issue 12: at most 150 gas per coupling checked

    struct Row {
        uint256 postGas;
        uint256 revealGas;
        uint256 revealExec;
        uint256 postBytes;
    }

    uint256 internal nonce;
    GasMeter internal meter = new GasMeter();

    function test_gasTable() public {
        log("| graph | n | couplings | post calldata (bytes) | post gas | reveal gas | reveal gas per coupling | marginal gas per coupling | of which execution |");
        log("|---|---|---|---|---|---|---|---|---|");
        uint16[7] memory regular = [uint16(16), 32, 64, 128, 256, 512, 1000];
        for (uint256 k = 0; k < regular.length; k++) _row("3-regular", regular[k], false);
        uint16[6] memory dense = [uint16(16), 32, 64, 128, 256, 362];
        for (uint256 k = 0; k < dense.length; k++) _row("dense", dense[k], true);
    }

    function _row(string memory kind, uint16 n, bool dense) internal {
        bytes memory couplings = dense ? _dense(n) : _regular(n);
        uint256 m = couplings.length / 3;
        Row memory base = _measure(n, "");
        Row memory full = _measure(n, couplings);
        uint256 marginal = (full.revealGas - base.revealGas) / m;
        uint256 marginalExec = (full.revealExec - base.revealExec) / m;
        log(
            string.concat(
                "| ", kind, " | ", uint256(n).toString(), " | ", m.toString(), " | ", full.postBytes.toString(),
                " | ", full.postGas.toString(), " | ", full.revealGas.toString(), " | ",
                (full.revealGas / m).toString(), " | ", marginal.toString(), " | ", marginalExec.toString(), " |"
            )
        );
        vm.assertLe(marginal, GOAL_PER_COUPLING, "checking a coupling costs at most 150 gas");
    }

    function _measure(uint16 n, bytes memory couplings) internal returns (Row memory row) {
        bytes memory fields = _fields(n);
        uint64 deadline = uint64(block.timestamp + 100);
        bytes memory postData =
            abi.encodeCall(ProblemMarket.post, (n, fields, couplings, 1 ether, type(int64).max, deadline, 100));
        _becomeMeter(customer);
        (uint256 postExec, bytes memory ret) = _call(postData);
        row.postGas = _txGas(postData, postExec);
        row.postBytes = postData.length;
        (row.revealGas, row.revealExec) = _reveal(abi.decode(ret, (uint256)), n, deadline, fields, couplings);
    }

    function _reveal(uint256 id, uint16 n, uint64 deadline, bytes memory fields, bytes memory couplings)
        internal
        returns (uint256 gas, uint256 exec)
    {
        bytes memory spins = Ising.randomSpins(++nonce, n);
        int64 energy = int64(Ising.referenceEnergy(spins, fields, couplings));
        vm.prank(address(meter));
        market.commit(id, keccak256(abi.encode(id, spins, bytes32(nonce), address(meter))), energy);
        vm.warp(deadline);
        bytes memory revealData = abi.encodeCall(ProblemMarket.reveal, (id, spins, bytes32(nonce), fields, couplings));
        bytes memory ret;
        (exec, ret) = _call(revealData);
        vm.assertEq(abi.decode(ret, (int64)), energy, "revealed energy");
        gas = _txGas(revealData, exec);
    }

    /// The execution gas of one call to the market, every account and slot cold.
    function _call(bytes memory data) internal returns (uint256 used, bytes memory ret) {
        VmCool(address(vm)).cool(address(market));
        VmCool(address(vm)).cool(address(token));
        VmCool(address(vm)).cool(address(registry));
        (used, ret) = meter.measure(address(market), data);
        // A transaction's target is warm from the start: take back the cold-account surcharge.
        used -= 2500;
    }

    /// The meter posts and solves: it holds the customer's tokens and the solver's stake.
    function _becomeMeter(address from) internal {
        if (token.balanceOf(address(meter)) != 0) return;
        vm.prank(from);
        token.transfer(address(meter), 5_000 ether);
        vm.startPrank(address(meter));
        token.approve(address(market), type(uint256).max);
        token.approve(address(registry), type(uint256).max);
        registry.stake(MIN_STAKE);
        vm.stopPrank();
    }

    function _txGas(bytes memory data, uint256 execution) internal pure returns (uint256) {
        uint256 tokens;
        for (uint256 i = 0; i < data.length; i++) tokens += data[i] == 0 ? 1 : 4;
        uint256 standard = 4 * tokens + execution;
        uint256 floor = 10 * tokens;
        return 21_000 + (standard > floor ? standard : floor);
    }

    function _fields(uint256 n) internal view returns (bytes memory fields) {
        fields = new bytes(n);
        for (uint256 i = 0; i < n; i++) {
            uint256 r = uint256(keccak256(abi.encode(nonce, "h", i))) % 3;
            fields[i] = bytes1(uint8(int8(int256(r) - 1)));
        }
    }

    function _sign(uint256 a, uint256 b) internal pure returns (int256) {
        return uint256(keccak256(abi.encode(a, b))) & 1 == 0 ? int256(1) : int256(-1);
    }

    function _put(bytes memory out, uint256 k, uint256 i, uint256 j) internal pure {
        uint256 t = (i << 14) | (j << 4) | (uint256(_sign(i, j)) & 0xf);
        out[3 * k] = bytes1(uint8(t >> 16));
        out[3 * k + 1] = bytes1(uint8(t >> 8));
        out[3 * k + 2] = bytes1(uint8(t));
    }

    /// A Moebius ladder: the ring i ~ i+1 plus the chords i ~ i + n/2, 3-regular for even n.
    function _regular(uint256 n) internal pure returns (bytes memory out) {
        out = new bytes(3 * (n + n / 2));
        uint256 k;
        for (uint256 i = 0; i < n; i++) _put(out, k++, i, (i + 1) % n);
        for (uint256 i = 0; i < n / 2; i++) _put(out, k++, i, i + n / 2);
    }

    function _dense(uint256 n) internal pure returns (bytes memory out) {
        out = new bytes(3 * (n * (n - 1) / 2));
        uint256 k;
        for (uint256 i = 0; i < n; i++) {
            for (uint256 j = i + 1; j < n; j++) _put(out, k++, i, j);
        }
    }
}
