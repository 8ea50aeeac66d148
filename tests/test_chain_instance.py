"""Topology construction and puzzle derivation against the saved vectors and a re-derivation."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from poqw.chain import build_topology, derive_instance, derive_instance_reference, derive_seed
from poqw.chain.topology import regular3_edges
from poqw.errors import DecodeError, InvalidGenesis

VECTORS = Path(__file__).parent / "vectors" / "chain"
TOPOLOGIES = json.loads((VECTORS / "topology.json").read_text())["vectors"]
INSTANCES = json.loads((VECTORS / "instances.json").read_text())["vectors"]


def _b(hexstr: str) -> bytes:
    return bytes.fromhex(hexstr[2:])


def _shake(domain: bytes, seed: bytes, length: int) -> bytes:
    return hashlib.shake_256(bytes([len(domain)]) + domain + seed).digest(length)


def rederive(edges_count: int, n: int, parent: bytes, miner: bytes, salt: bytes):
    """The instance rule re-read from the module docstring, with hashlib only."""
    dom = b"poqw/instance/v1"
    seed = hashlib.sha256(bytes([len(dom)]) + dom + parent + miner + salt).digest()
    stream = _shake(b"poqw/instance-stream/v1", seed, 4 * (n + edges_count) + 64)
    pos, h = 0, []
    while len(h) < n:
        if stream[pos] != 255:
            h.append(stream[pos] % 3 - 1)
        pos += 1
    J = [1 - 2 * (stream[pos + e] & 1) for e in range(edges_count)]
    return seed, h, J


@pytest.mark.parametrize("vec", TOPOLOGIES, ids=lambda v: f"{v['family']}-{v['size']}")
def test_topology_vectors(vec):
    t = build_topology(vec["family"], vec["size"])
    assert (t.num_nodes, t.num_edges) == (vec["num_nodes"], vec["num_edges"])
    assert "0x" + t.hash.hex() == vec["hash"]
    if "edges" in vec:
        assert t.edges.tolist() == vec["edges"]
    n, m = t.num_nodes, t.num_edges
    blob = n.to_bytes(4, "big") + m.to_bytes(4, "big") + b"".join(
        int(x).to_bytes(4, "big") for x in t.edges.reshape(-1))
    dom = b"poqw/topology/v1"
    assert hashlib.sha256(bytes([len(dom)]) + dom + blob).digest() == t.hash


@pytest.mark.parametrize("n", [4, 10, 24, 100])
def test_regular3_is_a_connected_simple_cubic_graph(n):
    g = nx.Graph([tuple(e) for e in regular3_edges(n).tolist()])
    assert g.number_of_nodes() == n and g.number_of_edges() == 3 * n // 2
    assert all(d == 3 for _, d in g.degree()) and nx.is_connected(g)


def test_dwave_topology_matches_dwave_graphs():
    import dwave.graphs as dg

    t = build_topology("zephyr", 2)
    assert t.num_nodes == 4 * 4 * 2 * (2 * 2 + 1)  # Zephyr Z(m=2, t=4): 4t m (2m+1) qubits
    g = nx.convert_node_labels_to_integers(dg.zephyr_graph(2), ordering="sorted")
    assert sorted(map(tuple, t.edges.tolist())) == sorted(
        (min(a, b), max(a, b)) for a, b in g.edges)


@pytest.mark.parametrize("family,size", [("regular3", 7), ("regular3", 0), ("hypercube", 3),
                                         ("zephyr", 99)])
def test_bad_topologies_are_refused(family, size):
    with pytest.raises(InvalidGenesis):
        build_topology(family, size)


@pytest.mark.parametrize("vec", INSTANCES, ids=lambda v: f"{v['topology']}-{v['seed'][:10]}")
def test_instance_vectors(vec):
    family, size = vec["topology"].rsplit("-", 1)
    t = build_topology(family, int(size))
    parent, miner, salt = _b(vec["parent_hash"]), _b(vec["miner"]), _b(vec["salt"])
    seed = derive_seed(parent, miner, salt)
    assert "0x" + seed.hex() == vec["seed"]
    for derive in (derive_instance, derive_instance_reference):
        inst = derive(t, seed)
        assert inst.h.tolist() == vec["h"] and inst.J.tolist() == vec["J"]
    seed2, h2, J2 = rederive(t.num_edges, t.num_nodes, parent, miner, salt)
    assert seed2 == seed and h2 == vec["h"] and J2 == vec["J"]


def test_fast_and_reference_derivations_agree_on_many_seeds():
    t = build_topology("regular3", 24)
    for i in range(200):
        seed = hashlib.sha256(i.to_bytes(4, "big")).digest()
        a, b = derive_instance(t, seed), derive_instance_reference(t, seed)
        assert np.array_equal(a.h, b.h) and np.array_equal(a.J, b.J)


def test_value_distribution_is_balanced():
    t = build_topology("zephyr", 2)
    hs, Js = [], []
    for i in range(30):
        inst = derive_instance(t, hashlib.sha256(bytes([i])).digest())
        hs.append(inst.h)
        Js.append(inst.J)
    h, J = np.concatenate(hs), np.concatenate(Js)
    for v in (-1, 0, 1):  # 4800 draws, each value 1/3: 6 sigma is about 200
        assert abs(np.sum(h == v) - len(h) / 3) < 200
    assert abs(J.mean()) < 0.05 and set(np.unique(J)) == {-1, 1}


def test_seed_binds_every_input_and_checks_sizes():
    p, m, s = bytes(32), bytes(20), bytes(32)
    base = derive_seed(p, m, s)
    assert derive_seed(b"\x01" + p[1:], m, s) != base
    assert derive_seed(p, b"\x01" + m[1:], s) != base
    assert derive_seed(p, m, b"\x01" + s[1:]) != base
    with pytest.raises(DecodeError, match="Address must be 20 bytes"):
        derive_seed(p, bytes(19), s)


def test_instance_model_energy_matches_integer_energy():
    from poqw.chain import instance_energies

    t = build_topology("regular3", 24)
    inst = derive_instance(t, bytes(32))
    rng = np.random.default_rng(0)
    spins = rng.choice([-1, 1], size=(50, 24)).astype(np.int64)
    assert np.array_equal(inst.to_model().energies(spins), instance_energies(inst, spins))
