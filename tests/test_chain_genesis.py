"""Genesis documents: the built-ins load, and each wrong field is named by InvalidGenesis."""

from __future__ import annotations

import copy
import json
from importlib import resources

import pytest

from poqw.chain import build_topology, builtin_genesis, genesis_header, load_genesis, parse_genesis
from poqw.crypto.hashing import hash32
from poqw.errors import InvalidGenesis


def devnet_doc() -> dict:
    path = resources.files("poqw") / "data" / "genesis" / "devnet.json"
    return json.loads(path.read_text())


@pytest.mark.parametrize("name", ["devnet", "zephyr-testnet"])
def test_builtin_genesis_loads_and_commits_to_its_topology(name):
    g = builtin_genesis(name)
    t = build_topology(g.topology.family, g.topology.size)
    assert g.topology.hash == t.hash
    d = g.difficulty
    assert d.hardest_bound <= d.initial_bound <= d.easiest_bound
    assert len(d.work) == d.easiest_bound - d.hardest_bound + 1
    assert all(a > b for a, b in zip(d.work, d.work[1:], strict=False))
    assert g.k >= 2 and g.d_min >= 1


def test_zephyr_testnet_is_natively_a_qpu_graph():
    g = builtin_genesis("zephyr-testnet")
    assert g.topology.family == "zephyr" and g.topology.num_nodes == 160


def test_unknown_builtin_names_the_choices():
    with pytest.raises(InvalidGenesis, match="devnet"):
        builtin_genesis("mainnet")


def _set(doc, path, value):
    keys = path.split(".")
    for k in keys[:-1]:
        doc = doc[k]
    if value is DELETE:
        del doc[keys[-1]]
    else:
        doc[keys[-1]] = value


class _Delete:
    def __repr__(self) -> str:
        return "<delete>"


DELETE = _Delete()
BAD_FIELDS = [
    ("format", "v0", "format"),
    ("chain_id", 0, "chain_id"),
    ("chain_id", "seven", "chain_id"),
    ("topology.family", "torus", "unknown topology family"),
    ("topology.size", 25, "cannot be built"),
    ("topology.hash", "0x" + "00" * 32, "does not match"),
    ("topology.hash", "0x1234", "32 bytes"),
    ("proof.k", 0, "proof.k"),
    ("proof.d_min", 13, "proof.d_min"),
    ("difficulty.policy", "random", "unknown difficulty policy"),
    ("difficulty.initial_bound", 0, "initial_bound"),
    ("difficulty.calibration.work", [1, 2], "one work value per bound"),
    ("difficulty.streak_cap", 6, "streak_cap"),
    ("rewards.halving_interval", 0, "halving_interval"),
    ("target_interval", DELETE, "missing target_interval"),
    ("alloc", [], "alloc must be an object"),
    ("limits.max_block_bytes", 10, "max_block_bytes"),
]


@pytest.mark.parametrize("path,value,reason", BAD_FIELDS, ids=[f"{p}={v!r}" for p, v, _ in
                                                               BAD_FIELDS])
def test_each_bad_field_is_named(path, value, reason):
    doc = devnet_doc()
    _set(doc, path, value)
    with pytest.raises(InvalidGenesis, match=reason):
        parse_genesis(doc)


def test_work_must_strictly_decrease():
    doc = devnet_doc()
    work = doc["difficulty"]["calibration"]["work"]
    work[1] = work[0]
    with pytest.raises(InvalidGenesis, match="strictly decrease"):
        parse_genesis(doc)


def test_bad_alloc_entries():
    doc = devnet_doc()
    doc["alloc"] = {"0x1234": "1"}
    with pytest.raises(InvalidGenesis, match="20 bytes"):
        parse_genesis(doc)
    doc["alloc"] = {"0x" + "11" * 20: "-5"}
    with pytest.raises(InvalidGenesis, match="outside"):
        parse_genesis(doc)


def test_load_from_bytes_and_path(tmp_path):
    raw = json.dumps(devnet_doc()).encode()
    p = tmp_path / "g.json"
    p.write_bytes(raw)
    expected = builtin_genesis().genesis_id
    assert load_genesis(p).genesis_id == load_genesis(raw).genesis_id == expected
    with pytest.raises(InvalidGenesis, match="not valid JSON"):
        load_genesis(b"{nope")
    with pytest.raises(InvalidGenesis, match="cannot read"):
        load_genesis(tmp_path / "missing.json")
    with pytest.raises(InvalidGenesis, match="bytes, over"):
        load_genesis(b" " * (5 << 20))


def test_genesis_id_changes_with_any_parameter_and_binds_block_zero():
    doc = devnet_doc()
    other = copy.deepcopy(doc)
    other["target_interval"] += 1
    a, b = parse_genesis(doc), parse_genesis(other)
    assert a.genesis_id != b.genesis_id
    root = hash32(b"x", b"")
    ha, hb = genesis_header(a, root, root), genesis_header(b, root, root)
    assert ha.hash() != hb.hash() and ha.number == 0
    assert ha.energy_bound == a.difficulty.initial_bound


def test_genesis_does_not_depend_on_key_order():
    doc = devnet_doc()
    doc["alloc"] = {"0x" + "22" * 20: "5", "0x" + "11" * 20: "7"}
    reordered = json.loads(json.dumps(doc))
    reordered["alloc"] = dict(reversed(list(doc["alloc"].items())))
    reordered = dict(reversed(list(reordered.items())))
    a, b = parse_genesis(doc), parse_genesis(reordered)
    assert a.genesis_id == b.genesis_id and a.alloc == b.alloc
    assert [addr for addr, _ in a.alloc] == sorted(addr for addr, _ in a.alloc)
