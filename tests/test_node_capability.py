"""Capability reports: measured on this machine, signed with the node key, decoded with a size
limit; a tampered, oversized, non-canonical or wrongly signed record is refused."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from poqw.cli.main import app
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.encoding import rlp
from poqw.errors import CryptoError, DecodeError
from poqw.node.capability import (
    MAX_CAPABILITY_BYTES,
    Capability,
    GpuInfo,
    decode_capability,
    measure_capability,
    sign_capability,
)
from poqw.node.testing import funded_genesis

KEY = EcdsaPrivateKey(bytes(31) + b"\x07")
GENESIS = funded_genesis({})


@pytest.mark.slow
def test_measured_capability_round_trips_signed() -> None:
    topology = GENESIS.topology
    cap = measure_capability(GENESIS.chain_id, 1_800_000_000, topology.edges,
                             topology.num_nodes, qpu="mock")
    assert cap.cores == os.cpu_count() and cap.memory_bytes > 0
    assert cap.statevector_layer_ns > 0 and cap.anneal_flips_per_s > 0
    signed = sign_capability(cap, KEY)
    data = signed.encode()
    assert len(data) <= MAX_CAPABILITY_BYTES
    back = decode_capability(data)
    assert back == signed and back.node_id == KEY.public_key().compressed


def test_bad_records_are_refused() -> None:
    cap = Capability(7357, 1, 2, 3, (GpuInfo("NVIDIA H100 80GB HBM3", 80 << 30),), "d-wave",
                     1000, 2000, 3000)
    signed = sign_capability(cap, KEY)
    assert decode_capability(signed.encode()).capability == cap
    forged = replace(signed, capability=replace(cap, gpu_flips_per_s=10**12))
    with pytest.raises(CryptoError):
        decode_capability(forged.encode())
    with pytest.raises(DecodeError, match="over"):
        decode_capability(b"\x00" * (MAX_CAPABILITY_BYTES + 1))
    with pytest.raises(DecodeError):
        decode_capability(signed.encode()[:-3])
    # too many GPUs is refused by the decoder's list bound, before any signature check
    many = rlp.encode([rlp.encode([b"\x01", b"\x01", b"\x01", b"\x01",
                                   [[b"g", b"\x01"]] * 17, b"none", b"\x01",
                                   b"\x01", b"\x01"]), signed.node_id, signed.signature])
    with pytest.raises(DecodeError, match="GPUs"):
        decode_capability(many)
    odd = rlp.encode([rlp.encode([b"\x01", b"\x01", b"\x01", b"\x01", [], b"quantum",
                                  b"\x01", b"\x01", b"\x01"]), signed.node_id, signed.signature])
    with pytest.raises(DecodeError, match="qpu"):
        decode_capability(odd)


@pytest.mark.slow
def test_node_capability_command_prints_a_record_peers_can_check(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["node", "capability", "--datadir", str(tmp_path),
                                      "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    signed = decode_capability(bytes.fromhex(doc["record"][2:]))
    assert "0x" + signed.node_id.hex() == doc["node_id"]
    assert signed.capability.cores == doc["cores"] and doc["qpu"] == "none"
    assert (tmp_path / "p2p.key").exists()
