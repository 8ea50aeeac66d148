"""The market's calldata encoding, commitments, revert decoding and key loading (no node)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak

from poqw.crypto.keystore import new_key
from poqw.errors import InvalidProblem, KeyStoreError
from poqw.market import (
    commitment_digest,
    decode_problem,
    decode_revert,
    encode_problem,
    load_account,
    load_artifact,
    pack_spins,
    unpack_spins,
)
from poqw.market.contracts import CONTRACT_NAMES
from poqw.market.meanings import ERROR_MEANINGS
from poqw.problems import IsingModel, maxcut_to_ising, random_regular_graph

CONTRACTS = Path(__file__).resolve().parents[1] / "contracts" / "src"


def test_spins_pack_little_endian_with_set_bits_for_minus_one() -> None:
    spins = np.array([-1, 1, 1, 1, 1, 1, 1, 1, 1, -1])
    packed = pack_spins(spins)
    assert packed == bytes([0b00000001, 0b00000010])
    assert unpack_spins(packed, 10).tolist() == spins.tolist()
    with pytest.raises(InvalidProblem, match="bytes of spins"):
        unpack_spins(packed, 17)


def test_maxcut_is_scaled_to_integers_and_energies_map_back() -> None:
    model = maxcut_to_ising(random_regular_graph(3, 10, seed=3))  # J = 1/2, offset -m/2
    problem = encode_problem(model)
    assert problem.scale == 2 and len(problem.couplings) == 3 * 15
    spins = np.random.default_rng(1).choice([-1, 1], size=10)
    chain = problem.chain_energy(spins)
    assert problem.to_model_energy(chain) == pytest.approx(model.energy(spins))
    assert problem.to_chain_target(model.energy(spins)) == chain
    assert decode_problem(10, problem.fields, problem.couplings) == problem.model()


def test_coupling_word_layout() -> None:
    model = IsingModel.from_dicts([3, -127, 0], {(0, 2): -7.0, (1, 2): 5.0}, num_variables=3)
    problem = encode_problem(model)
    assert problem.fields == bytes([3, 0x81, 0])
    assert problem.couplings == ((0 << 14) | (2 << 4) | 9).to_bytes(3, "big") + \
        ((1 << 14) | (2 << 4) | 5).to_bytes(3, "big")


@pytest.mark.parametrize(("h", "J", "message"), [
    ([200, 0], {(0, 1): 1.0}, r"field h\[0\] = 200"),
    ([0, 0], {(0, 1): 9.0}, r"coupling J\[0,1\] = 9"),
    ([0.3, 0], {(0, 1): 1.0}, r"J\[0,1\] = 1 \(x10 = 10\)"),
    ([3.14159, 0], {(0, 1): 1.0}, "integer"),
])
def test_terms_the_market_cannot_hold_are_named(h: list[float], J: dict[tuple[int, int], float],
                                               message: str) -> None:
    with pytest.raises(InvalidProblem, match=message):
        encode_problem(IsingModel.from_dicts(h, J, num_variables=2))


def test_decoding_rejects_what_the_contract_rejects() -> None:
    with pytest.raises(InvalidProblem, match="coupling 0"):
        decode_problem(2, b"\0\0", ((0 << 14) | (5 << 4) | 1).to_bytes(3, "big"))
    with pytest.raises(InvalidProblem, match="whole 3-byte"):
        decode_problem(2, b"\0\0", b"\0\0")


def test_commitment_is_keccak_of_the_abi_encoding() -> None:
    solver = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    salt = bytes(range(32))
    expected = keccak(abi_encode(["uint256", "bytes", "bytes32", "address"],
                                 [7, b"\x05", salt, solver]))
    assert commitment_digest(7, b"\x05", salt, solver) == expected


def test_revert_data_decodes_to_the_named_error() -> None:
    selector = keccak(text="StakeTooLow(address,uint256,uint256)")[:4]
    data = selector + abi_encode(["address", "uint256", "uint256"],
                                 ["0x70997970C51812dc3A010C7d01b50e0d17dc79C8", 5, 100])
    error = decode_revert("0x" + data.hex())
    assert error.error == "StakeTooLow" and error.contract == "SolverRegistry"
    assert error.args_by_name["minStake"] == 100
    assert error.meaning == "Committing with a stake below the minimum."
    assert "StakeTooLow" in str(error)
    unknown = decode_revert("0xdeadbeef")
    assert unknown.error == "UnknownError" and "0xdeadbeef" in str(unknown)
    text = decode_revert(keccak(text="Error(string)")[:4] + abi_encode(["string"], ["nope"]))
    assert text.error == "Error" and text.meaning == "nope"


def _natspec_notices() -> dict[str, str]:
    """``/// @notice`` of every error declared in the repository's Solidity sources."""
    found: dict[str, str] = {}
    for path in sorted(CONTRACTS.rglob("*.sol")):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            match = re.match(r"\s*error (\w+)\(", line)
            notice = re.match(r"\s*/// @notice (.*)", lines[i - 1]) if i else None
            if match and notice:
                found.setdefault(match.group(1), re.sub(r"\{(\w+)\}", r"\1", notice.group(1)))
    return found


def test_every_contract_error_has_its_meaning() -> None:
    for name in CONTRACT_NAMES:
        for entry in load_artifact(name).abi:
            if entry["type"] == "error":
                assert entry["name"] in ERROR_MEANINGS, f"{name}.{entry['name']} has no meaning"
    notices = _natspec_notices()
    assert "ZeroBounty" in notices
    for error, notice in notices.items():
        if error not in ("ZeroAmount", "ZeroAddress"):  # declared twice, merged in the table
            assert ERROR_MEANINGS[error] == notice, error


def test_keys_from_an_ethereum_keystore_and_a_poqw_key_file(tmp_path: Path) -> None:
    account = Account.create()
    keystore = tmp_path / "eth.json"
    import json

    keystore.write_text(json.dumps(Account.encrypt(account.key, "pw", kdf="scrypt",
                                                   iterations=2**10)))
    assert load_account(keystore, "pw").address == account.address
    with pytest.raises(KeyStoreError, match="wrong passphrase"):
        load_account(keystore, "not it")
    poqw_key = tmp_path / "node.key"
    public = new_key(poqw_key, "pw", "ecdsa+mldsa44", scrypt_log2_n=10)
    assert load_account(poqw_key, "pw").address.lower() == "0x" + public.address().hex()
    with pytest.raises(KeyStoreError):
        load_account(tmp_path / "missing.json", "pw")
