"""The shard marketplace: a 60-variable QAOA expectation solved by bidding nodes equals the
single-node answer, and a node that returns wrong unit results is caught and not paid."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import numpy as np
import pytest

from poqw.compute.ledger import Ledger
from poqw.compute.shards import (
    FloatArray,
    ShardJob,
    decompose,
    evaluate_unit,
    single_node_energies,
    unit_values,
)
from poqw.compute.shards_cones import CostModel, cone_plan, simulate_cone, slice_ranges
from poqw.compute.shards_market import Bid, BiddingPolicy, ShardMarket
from poqw.compute.shards_sim import SimNode, random_nodes, simulate_market
from poqw.errors import ConfigError, ResultRejected
from poqw.problems import IsingModel, random_maxcut
from poqw.sim.lightcone import Cone, cone_of

POINTS = [([0.3, 0.5], [0.4, 0.2]), ([0.2, 0.4], [0.5, 0.3])]


@pytest.fixture(scope="module")
def job60() -> ShardJob:
    return decompose(random_maxcut(3, 60, seed=1), 2, POINTS, 12)


@pytest.fixture(scope="module")
def reference(job60: ShardJob) -> FloatArray:
    return single_node_energies(job60)


def _coverage(job: ShardJob) -> Counter[tuple[tuple[int, ...], int]]:
    """How often each (cone root set, angle point) is computed over all units (unsliced)."""
    seen: Counter[tuple[tuple[int, ...], int]] = Counter()
    for unit in job.units:
        for group in unit.groups:
            assert group.slices is None
            seen.update((r, k) for r in group.roots for k in group.points)
    return seen


def test_decompose_covers_every_cone_at_every_point_once(job60: ShardJob) -> None:
    seen = _coverage(job60)
    edges = [tuple(e) for e in job60.model.edges.tolist()]  # no fields on MaxCut
    assert set(seen) == {(e, k) for e in edges for k in range(2)}
    assert set(seen.values()) == {1}
    assert 1 < len(job60.units) <= 12
    # identical cones (here the 54 tree cones of the regular graph) form one group: one
    # simulation per point stands for all of them
    assert max(len(g.roots) for u in job60.units for g in u.groups) == 54
    assert max(u.memory_bytes for u in job60.units) == 16 << 14  # p=2 cones: up to 14 qubits


def test_big_classes_split_over_points_and_small_ones_batched() -> None:
    model = random_maxcut(3, 60, seed=1)
    points = [([0.3 + 0.01 * k, 0.5], [0.4, 0.2]) for k in range(8)]
    job = decompose(model, 2, points, 16, min_piece_ops=0.0)
    assert _coverage(job).keys() == {(tuple(e), k) for e in model.edges.tolist()
                                     for k in range(8)}
    # the 54-cone class is worth more than a sixteenth of the work: it runs in several units,
    # each at some of the points; small classes share units
    big = [g for u in job.units for g in u.groups if len(g.roots) == 54]
    assert len(big) > 1 and sorted(k for g in big for k in g.points) == list(range(8))
    assert max(len(u.groups) for u in job.units) > 1
    ops = [u.ops for u in job.units]
    assert max(ops) < 2 * job.total_ops / len(ops)  # about equal shares
    values = np.sum(unit_values(job), axis=0) + model.offset
    assert np.allclose(values, single_node_energies(job), atol=1e-9)


def test_units_sum_to_the_single_node_answer(job60: ShardJob, reference: FloatArray) -> None:
    parts = [evaluate_unit(job60.model, u, job60.points) for u in job60.units[:3]]
    parts += unit_values(job60)[3:]
    total = np.sum(parts, axis=0)
    assert np.allclose(total + job60.model.offset, reference, atol=1e-9)


def test_bids_follow_measured_throughput(job60: ShardJob) -> None:
    fast = BiddingPolicy("fast", 4e8, 2.0)
    slow = BiddingPolicy("slow", 1e8, 1.0, memory_bytes=1 << 10)
    unit = job60.units[0]
    (bid,) = fast.bids([unit], now=10.0)
    assert bid.finish == pytest.approx(10.0 + unit.ops / 4e8)
    assert slow.bids([unit], now=0.0) == []  # the unit does not fit its memory
    fast.learn(unit.ops, unit.ops / 2e8)  # it ran at 2e8: the next promise is halfway there
    assert fast.ops_per_s == pytest.approx(3e8)


def _market(job: ShardJob, **kw: Any) -> ShardMarket:
    return ShardMarket(job, Ledger(10**6), deadline=100.0, reserve_per_mop=5000.0, **kw)


def test_cheapest_bid_meeting_deadline_and_reserve_wins(job60: ShardJob) -> None:
    market = _market(job60)
    unit = market.open_units()[0]
    reserve = market.reserve(unit)
    bids = [Bid("pricey", unit.index, reserve + 1, 1.0), Bid("late", unit.index, 1, 101.0),
            Bid("ok", unit.index, reserve, 2.0), Bid("cheap", unit.index, reserve - 1, 50.0)]
    (award,) = market.clear(bids, 0.0, {"pricey": 1, "late": 1, "ok": 1, "cheap": 1})
    assert award.node == "cheap"
    with pytest.raises(ResultRejected, match="not assigned"):
        market.submit("ok", unit.index, [0.0, 0.0])


def test_bad_settings_are_refused(job60: ShardJob) -> None:
    with pytest.raises(ConfigError, match="check_share"):
        _market(job60, check_share=1.5)
    with pytest.raises(ConfigError, match="angle point"):
        decompose(job60.model, 2, [([0.1], [0.2])], 4)


def test_simulated_market_at_60_nodes_matches_and_catches_cheater(
        job60: ShardJob, reference: FloatArray) -> None:
    values = unit_values(job60)
    nodes = random_nodes(60, seed=3, latency="uniform:5-50")
    # the cheapest node cheats: it is sure to win work, and its first result is always checked
    cheap = min(nodes, key=lambda n: n.price_per_mop)
    nodes = [SimNode(n.name, n.ops_per_s, n.cores, n.price_per_mop, n.latency_s,
                     cheat=n is cheap) for n in nodes]
    out = simulate_market(job60, nodes, values, check_share=0.25, seed=1)
    assert np.allclose(out.energies, reference, atol=1e-9)
    assert out.cheaters == {cheap.name}
    assert any(a.node == cheap.name for a in out.awards)
    assert cheap.name not in out.payments
    assert sum(out.payments.values()) > 0
    assert out.seconds > 0 and out.one_node_seconds > 0


@pytest.mark.slow
def test_loopback_processes_match_single_node_and_catch_cheater(
        job60: ShardJob, reference: FloatArray) -> None:
    from poqw.compute.shards_loopback import run_loopback

    # worker1 asks least, so it wins units; it returns every unit shifted by one
    out = run_loopback(job60, 3, prices=[2000.0, 1000.0, 3000.0], cheaters=[1],
                       layer_ns=20_000_000)
    assert np.allclose(out.energies, reference, atol=1e-9)
    assert out.cheaters == {"worker1"}
    assert any(a.node == "worker1" for a in out.awards)
    assert "worker1" not in out.payments
    assert set(out.payments) <= {"worker0", "worker2"} and out.payments
    assert set(out.capabilities) == {"worker0", "worker1", "worker2"}


def test_cone_values_are_the_engines_correlations() -> None:
    from poqw.errors import InvalidProblem
    from poqw.sim.lightcone import LightconeQAOA

    model = random_maxcut(3, 16, seed=2)
    engine = LightconeQAOA(model, closed_form_p1=False)
    _, zz = engine.correlations([0.3, 0.5], [0.4, 0.2])
    roots = [tuple(e) for e in model.edges.tolist()]
    assert np.array_equal(engine.cone_values(roots, [0.3, 0.5], [0.4, 0.2]), zz)
    with pytest.raises(InvalidProblem, match="one or two of the 16 variables"):
        engine.cone_values([(0, 1, 2)], [0.3], [0.4])


def test_overdue_unit_is_reopened_and_a_late_result_taken_until_reassigned(
        job60: ShardJob) -> None:
    market = _market(job60, grace_s=1.0, probation=False)
    first, second = market.open_units()[:2]
    market.clear([Bid("slow", first.index, 1, 2.0), Bid("slow", second.index, 1, 2.0)], 0.0,
                 {"slow": 2})
    assert market.expire(3.9) == []  # within its promised time again (2 s) past the finish
    assert {a.unit for a in market.expire(4.1)} == {first.index, second.index}
    assert first in market.open_units()
    market.clear([Bid("other", second.index, 1, 9.0)], 4.2, {"other": 1})
    market.submit("slow", first.index, [0.0, 0.0])  # late, but nobody else took it: accepted
    with pytest.raises(ResultRejected, match="not assigned to slow"):
        market.submit("slow", second.index, [0.0, 0.0])  # "other" holds it now


def _cone(model: IsingModel, roots: tuple[int, ...], p: int) -> Cone:
    nbrs: list[dict[int, float]] = [{} for _ in range(model.num_variables)]
    for (i, j), w in zip(model.edges.tolist(), model.J.tolist(), strict=True):
        nbrs[i][j] = w
        nbrs[j][i] = w
    return cone_of(nbrs, model.h, roots, p)


def test_a_sliced_cone_sums_to_the_unsliced_one() -> None:
    from poqw.sim.lightcone import LightconeQAOA

    model = random_maxcut(3, 40, seed=0)
    roots = tuple(model.edges.tolist()[5])
    cone = _cone(model, roots, 3)  # 21 qubits: a tensor network
    g, b = [0.3, 0.5, 0.6], [0.4, 0.3, 0.1]
    whole = cone_plan(cone, 3)
    sliced = cone_plan(cone, 3, slices=4, base=whole)
    assert whole.nslices == 1 and sliced.nslices >= 4 and sliced.path == whole.path
    full = simulate_cone(cone, g, b, whole)
    ranges = slice_ranges(sliced.nslices, 3)
    assert ranges[0][0] == 0 and ranges[-1][1] == sliced.nslices and len(ranges) == 3
    parts = [simulate_cone(cone, g, b, sliced, r) for r in ranges]
    assert abs(sum(parts) - full) < 1e-12
    assert abs(full - LightconeQAOA(model, closed_form_p1=False).cone_values(
        [roots], g, b)[0]) < 1e-10
    # a re-run of a piece (what a spot check compares) gives the same number
    assert simulate_cone(cone, g, b, sliced, ranges[1]) == parts[1]
    with pytest.raises(ConfigError, match="slice range"):
        simulate_cone(cone, g, b, sliced, (0, sliced.nslices + 1))


def test_decompose_slices_the_widest_cone_and_the_units_sum_to_the_answer() -> None:
    import networkx as nx

    # the 4-cube is edge-transitive: every coupling's cone is the same one class, too much
    # work for one of 4 units at one point, so its contraction is cut into slices
    graph = nx.convert_node_labels_to_integers(nx.hypercube_graph(4))
    edges = np.array(sorted(graph.edges()), dtype=np.int64)
    model = IsingModel.from_arrays(np.zeros(16), edges, np.ones(len(edges)))
    points = [([0.3, 0.5], [0.4, 0.2])]
    # (a cost model without fixed costs: these contractions are tiny)
    free = CostModel(cone_overhead_ops=0.0, tn_overhead_ops=0.0)
    job = decompose(model, 2, points, 4, max_statevector_qubits=6, min_piece_ops=0.0,
                    cost=free)
    assert len(job.units) == 4
    sliced = [g for u in job.units for g in u.groups if g.slices is not None]
    assert sliced and all(g.plan is not None for g in sliced)
    for first in {g.roots[0] for g in sliced}:  # each cone's pieces cover all its slices once
        ranges = sorted(g.slices for g in sliced if g.roots[0] == first and g.slices)
        plan = next(g.plan for g in sliced if g.roots[0] == first)
        assert plan is not None and ranges[0][0] == 0 and ranges[-1][1] == plan.nslices
        assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    values = np.sum(unit_values(job), axis=0) + model.offset
    assert np.allclose(values, single_node_energies(job), atol=1e-9)
    unsliced = decompose(model, 2, points, 4, slicing=False, max_statevector_qubits=6,
                         min_piece_ops=0.0, cost=free)
    assert len(unsliced.units) == 1  # without slicing the one class is one unit
    assert np.allclose(unit_values(unsliced)[0] + model.offset, values, atol=1e-9)


def _solved(job: ShardJob, solver: str, values: FloatArray) -> tuple[ShardMarket, int]:
    market = _market(job)
    unit = market.open_units()[0].index
    market.clear([Bid(solver, unit, 1, 1.0)], 0.0, {solver: 1})
    assert market.submit(solver, unit, values)  # a node's first result is always checked
    return market, unit


def test_a_check_runs_on_another_node_and_a_match_accepts_and_pays_it(job60: ShardJob) -> None:
    truth = unit_values(job60)
    market, unit = _solved(job60, "solver", truth[0])
    assert market.assign_checks(["solver"]) == []  # never the node that solved it
    (task,) = market.assign_checks(["solver", "checker"])
    assert task.checker == "checker" and task.unit == unit and market.due_checks == []
    assert market.report_check(task, truth[0]) is True
    assert market.results[unit].checked and market.cheaters == set()
    assert market.paid_checks == [task]


def test_a_dispute_is_settled_by_the_coordinators_rerun(job60: ShardJob) -> None:
    truth = unit_values(job60)[0]
    # the solver cheats: the honest checker disagrees, the coordinator's re-run decides
    market, unit = _solved(job60, "solver", truth + 1.0)
    (task,) = market.assign_checks(["checker"])
    assert market.report_check(task, truth) is None
    assert market.check(unit, truth, task, truth) is False
    assert market.cheaters == {"solver"} and unit in {u.index for u in market.open_units()}
    assert task in market.paid_checks
    # the checker cheats: the solver's result stands, the checker is caught and unpaid
    market, unit = _solved(job60, "solver", truth)
    (task,) = market.assign_checks(["liar"])
    assert market.report_check(task, truth - 1.0) is None
    assert market.check(unit, truth, task, truth - 1.0) is True
    assert market.cheaters == {"liar"} and unit in market.results and market.finished is False
    assert task not in market.paid_checks


def test_on_probation_a_node_holds_one_unit_until_a_check_confirms_one(
        job60: ShardJob) -> None:
    truth = unit_values(job60)
    market = _market(job60)
    units = [u.index for u in market.open_units()[:3]]
    (award,) = market.clear([Bid("new", k, 1, 1.0) for k in units], 0.0, {"new": 3})
    assert not market.may_win("new")  # it holds an unconfirmed unit
    assert market.clear([Bid("new", k, 1, 1.0) for k in units[1:]], 0.1, {"new": 2}) == []
    market.submit("new", award.unit, truth[award.unit])
    (task,) = market.assign_checks(["other"])
    assert market.report_check(task, truth[award.unit]) is True
    assert market.trusted == {"new", "other"} and market.may_win("new")
    assert len(market.clear([Bid("new", k, 1, 1.0) for k in units[1:]], 0.2, {"new": 2})) == 2
