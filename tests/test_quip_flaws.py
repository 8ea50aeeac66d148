"""QUIP v0.1's flaws that belong to the node, each closed by a test.

(3) one one-time key signed every block; (4) the node's config, with the signing secret and the
QPU API token, travelled inside every block; (8) the chain lived only in memory. (The spec-level
flaws 1, 2, 5, 6, 7 and 9 are tested in ``tests/test_chain_*.py``.)
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from poqw.cli.main import app
from poqw.crypto import new_key, show_key
from poqw.crypto.hybrid import HybridSignature
from poqw.node import Node, load_config
from poqw.node.info import chain_info
from poqw.node.testing import genesis_document

PASSPHRASE = "quip-flaw-4 passphrase 7f3a9c"
API_TOKEN = "DEV-4c1d-quip-flaw-4-token-e55e"


def make_node_config(tmp_path: Path) -> Path:
    datadir = tmp_path / "data"
    datadir.mkdir()
    key = tmp_path / "miner.key"
    new_key(key, PASSPHRASE, "ecdsa+xmss", height=6, scrypt_log2_n=10)
    genesis = tmp_path / "genesis.json"  # the devnet on a cheap difficulty anchor
    genesis.write_text(json.dumps(genesis_document()))
    path = tmp_path / "node.toml"
    path.write_text(f"""
[global]
auto_mine = true
genesis = "{genesis}"
datadir = "{datadir}"
node_name = "flaw-test"
key_file = "{key}"
key_passphrase = "{PASSPHRASE}"

[qpu]
api_token = "{API_TOKEN}"
solver = "Advantage_system4.1"
""")
    return path


def mine(config_path: Path, blocks: int) -> list[bytes]:
    with Node(load_config(config_path)) as node:
        node.run(max_blocks=blocks)
        return [node.block_bytes(h) or b"" for h in node.store.canonical_range(1, 10**6)]


def test_flaw3_every_block_uses_a_fresh_one_time_key_across_restarts(tmp_path: Path) -> None:
    config = make_node_config(tmp_path)
    mine(config, 3)
    bodies = mine(config, 3)
    assert len(bodies) == 6
    with Node(load_config(config)) as node:
        blocks = [node.chain.block(h) for h in node.store.canonical_range(1, 100)]
        indices = [HybridSignature.from_bytes(b.signature).one_time_index
                   for b in blocks if b is not None]
    assert None not in indices
    assert len(set(indices)) == 6
    assert show_key(tmp_path / "miner.key")["used"] >= 6
    assert max(i for i in indices if i is not None) < show_key(tmp_path / "miner.key")["used"]


def test_flaw4_no_secret_in_blocks_log_database_or_chain_info(tmp_path: Path) -> None:
    config = make_node_config(tmp_path)
    bodies = mine(config, 3)
    secrets = [s.encode() for s in (PASSPHRASE, API_TOKEN)]
    secrets += [s.hex().encode() for s in secrets]
    for body in bodies:
        assert body and not any(s in body for s in secrets)
    datadir = tmp_path / "data"
    files = [p for p in datadir.iterdir() if p.is_file()]
    assert any(p.name == "node.log" for p in files)
    assert any(p.name.startswith("chain.sqlite") for p in files)
    for path in files:
        data = path.read_bytes()
        assert not any(s in data for s in secrets), path.name
    log = (datadir / "node.log").read_text()
    assert "Advantage_system4.1" in log and "***" in log  # the config is logged, masked
    result = CliRunner().invoke(app, ["chain", "info", "--datadir", str(datadir), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["height"] == 3
    assert PASSPHRASE not in result.output and API_TOKEN not in result.output


def test_flaw8_chain_survives_a_restart(tmp_path: Path) -> None:
    config = make_node_config(tmp_path)
    with Node(load_config(config)) as node:
        node.run(max_blocks=3)
        tip = node.tip()
        headers = node.headers(0, 10)
    assert tip.number == 3 and len(headers) == 4
    with Node(load_config(config)) as node:
        assert node.tip() == tip
        assert node.headers(0, 10) == headers
    info = chain_info(tmp_path / "data")
    assert (info["height"], info["tip"]) == (3, "0x" + tip.block_hash.hex())
