"""Prometheus metrics of one node: what a real chain, miner and RPC calls report, parsed back from
the exposition text; the registry is per node; RPC method labels stay bounded; the Grafana
dashboard only charts metrics the exposition has.

Oracles: the chain's own answers (tip height, ``ImportResult.reorg_depth``, which imports were
refused) and the miner's :class:`~poqw.node.miner.MiningProgress` counts.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from poqw.api.metrics import MAX_RPC_METHOD_LABELS, NodeMetrics, NodeReadings
from poqw.chain import Block, Header, Instance
from poqw.errors import InvalidBlock
from poqw.node import Blockchain
from poqw.node.miner import Miner, make_solver
from poqw.node.testing import (
    build_block_on,
    funded_genesis,
    make_chain,
    mldsa_signer,
    salt_stream,
)

GENESIS = funded_genesis()
T0 = GENESIS.timestamp + 10**6  # far behind schedule: the easiest bound, quick to mine
ALICE = mldsa_signer("alice")
BOB = mldsa_signer("bob")
DASHBOARD = Path(__file__).resolve().parents[1] / "deploy" / "grafana-poqw.json"


def samples(metrics: NodeMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, parsed back: (name, sorted labels) -> value."""
    out = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def readings_of(chain: Blockchain) -> NodeReadings:
    return NodeReadings(height=chain.tip().number, peers=0, mempool_transactions=0,
                        mempool_bytes=0)


def mine(chain: Blockchain, parent: Header, signer: object, count: int,
         label: str) -> list[Block]:
    blocks = []
    for i in range(count):
        block = build_block_on(chain, parent, signer, T0 + int(parent.number) + 1,  # type: ignore[arg-type]
                               label=f"{label}{i}")
        chain.import_block(block, T0 + 10**3)
        blocks.append(block)
        parent = block.header
    return blocks


def test_imports_proofs_and_reorgs_are_counted_as_the_chain_saw_them(tmp_path: Path) -> None:
    chain, _ = make_chain(tmp_path, GENESIS)
    metrics = NodeMetrics(lambda: readings_of(chain))
    metrics.watch(chain.telemetry)
    genesis = chain.tip_header()
    main = mine(chain, genesis, ALICE, 2, "a")
    # a heavier branch from genesis: three blocks, the third undoes both of alice's
    side: list[Block] = []
    results = []
    for i in range(3):
        parent = side[-1].header if side else genesis
        side.append(build_block_on(chain, parent, BOB, T0 + 1 + i, label=f"b{i}"))
        results.append(chain.import_block(side[-1], T0 + 10**3))
    assert [r.status for r in results] == ["side", "side", "new-tip"]
    assert results[-1].reorg_depth == len(main) == 2
    assert chain.import_block(side[0], T0 + 10**3).status == "duplicate"
    honest = build_block_on(chain, side[-1].header, BOB, T0 + 4, label="b3")
    forged = dataclasses.replace(honest, signature=bytes(len(honest.signature)))
    with pytest.raises(InvalidBlock):
        chain.import_block(forged, T0 + 10**3)

    got = samples(metrics)
    count = "poqw_block_import_seconds_count"
    assert got[(count, (("status", "new-tip"),))] == 3  # alice's two, then bob's third
    assert got[(count, (("status", "side"),))] == 2
    assert got[(count, (("status", "duplicate"),))] == 1
    assert got[(count, (("status", "invalid"),))] == 1
    # every block that reached its signature check had its proof verified: 5 blocks + the forgery
    assert got[("poqw_proof_verification_seconds_count", ())] == 6
    assert got[("poqw_reorg_depth_count", ())] == 1
    assert got[("poqw_reorg_depth_sum", ())] == 2
    assert got[("poqw_reorg_depth_bucket", (("le", "1.0"),))] == 0
    assert got[("poqw_reorg_depth_bucket", (("le", "2.0"),))] == 1
    assert got[("poqw_chain_height", ())] == chain.tip().number == 3


def test_mining_attempts_and_successes_per_miner_kind(tmp_path: Path) -> None:
    chain, mempool = make_chain(tmp_path, GENESIS)
    metrics = NodeMetrics(lambda: readings_of(chain))
    metrics.watch(chain.telemetry)
    annealer = make_solver(num_sweeps=16)
    calls = [0]

    def every_other_attempt_lazy(instance: Instance, seed: int) -> npt.NDArray[np.int64]:
        # one spin vector repeated has no k diverse solutions: that attempt finds no proof
        calls[0] += 1
        if calls[0] % 2:
            return np.ones((8, instance.num_variables), dtype=np.int64)
        return annealer(instance, seed)

    miner = Miner(chain, mempool, ALICE, every_other_attempt_lazy, kind="lazy",
                  clock=lambda: float(T0 + 10**3), salt_source=salt_stream("kinds"))
    assert miner.run(threading.Event(), max_blocks=3) == 3
    got = samples(metrics)
    kind = (("kind", "lazy"),)
    assert miner.stats.salts_tried >= 6
    assert got[("poqw_mining_attempts_total", kind)] == miner.stats.salts_tried
    assert got[("poqw_mining_proofs_found_total", kind)] == 3
    assert got[("poqw_mining_attempt_seconds_count", kind)] == miner.stats.salts_tried


def test_each_node_has_its_own_registry(tmp_path: Path) -> None:
    chain_a, _ = make_chain(tmp_path / "a", GENESIS)
    chain_b, _ = make_chain(tmp_path / "b", GENESIS)
    metrics_a = NodeMetrics(lambda: readings_of(chain_a))
    metrics_b = NodeMetrics(lambda: readings_of(chain_b))
    metrics_a.watch(chain_a.telemetry)
    metrics_b.watch(chain_b.telemetry)
    mine(chain_a, chain_a.tip_header(), ALICE, 1, "a")
    assert samples(metrics_a)[("poqw_chain_height", ())] == 1
    assert samples(metrics_b)[("poqw_chain_height", ())] == 0
    assert ("poqw_block_import_seconds_count", (("status", "new-tip"),)) not in samples(metrics_b)


def test_rpc_calls_by_method_and_a_bounded_set_of_labels(tmp_path: Path) -> None:
    metrics = NodeMetrics(lambda: NodeReadings(0, 0, 0, 0))
    metrics.observe_rpc("eth_blockNumber", 0.002, True)
    metrics.observe_rpc("eth_blockNumber", 0.004, True)
    metrics.observe_rpc("eth_call", 0.01, False)
    for i in range(MAX_RPC_METHOD_LABELS + 50):  # a client inventing method names
        metrics.observe_rpc(f"junk_{i}", 0.0001, False)
    got = samples(metrics)
    assert got[("poqw_rpc_requests_total", (("method", "eth_blockNumber"),
                                            ("outcome", "ok")))] == 2
    assert got[("poqw_rpc_requests_total", (("method", "eth_call"), ("outcome", "error")))] == 1
    assert got[("poqw_rpc_request_seconds_sum", (("method", "eth_blockNumber"),))] == \
        pytest.approx(0.006)
    methods = {dict(labels)["method"] for name, labels in got
               if name == "poqw_rpc_requests_total"}
    assert len(methods) == MAX_RPC_METHOD_LABELS + 1  # the kept names and "other"
    assert got[("poqw_rpc_requests_total", (("method", "other"), ("outcome", "error")))] == 50 + 2

    known = NodeMetrics(lambda: NodeReadings(0, 0, 0, 0), rpc_methods=["eth_chainId"])
    known.observe_rpc("eth_chainId", 0.001, True)
    known.observe_rpc("no_such_method", 0.001, False)
    assert {dict(labels)["method"] for name, labels in samples(known)
            if name == "poqw_rpc_requests_total"} == {"eth_chainId", "other"}


def exposition_names(metrics: NodeMetrics) -> set[str]:
    return {name for name, _ in samples(metrics)}


def test_the_grafana_dashboard_charts_only_metrics_the_node_exposes(tmp_path: Path) -> None:
    chain, mempool = make_chain(tmp_path, GENESIS)
    metrics = NodeMetrics(lambda: readings_of(chain))
    metrics.watch(chain.telemetry)
    miner = Miner(chain, mempool, ALICE, make_solver(num_sweeps=16), kind="simulated-annealing",
                  clock=lambda: float(T0 + 10**3), salt_source=salt_stream("dash"))
    miner.run(threading.Event(), max_blocks=1)
    metrics.observe_rpc("eth_blockNumber", 0.001, True)
    exposed = exposition_names(metrics)

    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    assert dashboard["title"] and dashboard["uid"]
    expressions = [t["expr"] for p in panels for t in p.get("targets", [])]
    charted = {m for e in expressions for m in re.findall(r"\bpoqw_[a-z_]+\b", e)}
    missing = charted - exposed
    assert not missing, f"the dashboard charts metrics the node does not expose: {missing}"
    # every metric family the node exposes has a panel
    families = {re.sub(r"_(bucket|count|sum|total|created)$", "", n) for n in exposed}
    uncharted = {f for f in families
                 if not any(c == f or c.startswith(f + "_") for c in charted)}
    assert not uncharted, f"no panel charts {uncharted}"
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
