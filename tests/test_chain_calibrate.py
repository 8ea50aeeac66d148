"""Calibration: the work table's closed form, and a small end-to-end run that makes a genesis."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from poqw.chain import build_topology, builtin_genesis, derive_instance, derive_seed, parse_genesis
from poqw.chain.calibrate import calibrate_topology, genesis_document, proof_bounds, work_table
from poqw.crypto.hashing import hash32
from poqw.problems import solve_exact


def test_work_table_by_hand():
    # two budgets, four instances; None: no proof at that budget
    bounds = [[-5, -4, None, -3], [-7, -6, -6, -5]]
    table = work_table([1, 10], num_reads=2, num_nodes=3, bounds=bounds, hardest=-7, easiest=-4)
    # bound -4: budget 1 has 2/4 hits -> 1*2*3*4/2 = 12; budget 10: 4/4 -> 60. min 12
    # bound -5: budget 1: 1/4 -> 24; budget 10: 4/4 -> 60 -> 24
    # bound -6: budget 1: 0; budget 10: 3/4 -> ceil(240/3) = 80
    # bound -7: budget 10: 1/4 -> 240
    assert table == [240, 80, 24, 12]


def test_work_table_is_made_strictly_decreasing():
    table = work_table([1], 1, 1, [[-3, -3, -3]], hardest=-4, easiest=-2)
    assert table == [3, 2, 1]  # -4 unreached (0) and the -3/-2 plateau are lifted


def test_proof_bounds_is_the_largest_energy_of_the_greedy_choice():
    spins = np.array([[1, 1, 1, 1], [-1, -1, 1, 1], [1, -1, 1, -1], [1, 1, 1, -1]])
    energies = np.array([-4, -3, -2, -1])
    assert proof_bounds(energies, spins, 2, 2) == -3
    assert proof_bounds(energies, spins, 3, 2) == -2
    assert proof_bounds(energies, spins, 4, 2) is None


def test_calibration_of_a_small_graph_yields_a_valid_genesis():
    topo = build_topology("regular3", 12)
    cal = calibrate_topology(topo, k=2, d_min=2, budgets=(1, 8, 64), num_instances=8,
                             num_reads=16)
    assert cal.hardest_bound <= cal.initial_bound <= cal.easiest_bound
    assert all(a > b for a, b in zip(cal.work, cal.work[1:], strict=False))
    # no bound below every instance's exact ground energy can be "calibrated"
    grounds = []
    for i in range(8):
        # the same puzzles calibrate_topology derives (seed 0)
        parent_hash = hash32(b"poqw/calibration/v1", struct.pack(">QQ", 0, i))
        inst = derive_instance(topo, derive_seed(parent_hash, bytes(20), bytes(32)))
        grounds.append(solve_exact(inst.to_model()).energy)
    assert cal.hardest_bound >= min(grounds)
    for row in cal.bounds:
        for b, ground in zip(row, grounds, strict=True):
            assert b is None or b >= ground
    g = parse_genesis(genesis_document("tiny", 99, cal))
    assert g.difficulty.work == cal.work and g.topology.hash == topo.hash


@pytest.mark.slow
def test_the_devnet_work_table_comes_out_of_the_ticket_counting_calibration():
    """The built-in table is what ``poqw chain calibrate --budgets 16 --instances 256
    --min-success 0.03`` measures: work per ticket for the node miner's annealing runs, so the
    work of every bound is proportional to its measured cost (the old table, which counted a run
    with any proof as one success at the cheapest budget, was up to 14x off at easy bounds)."""
    g = builtin_genesis("devnet")
    d = g.difficulty
    cal = calibrate_topology(g.topology, g.k, g.d_min, budgets=(16,), num_instances=256,
                             min_success=0.03)
    assert (cal.hardest_bound, cal.easiest_bound, cal.initial_bound) == (
        d.hardest_bound, d.easiest_bound, d.initial_bound)
    assert cal.work == d.work and d.lottery == d.hardest_bound
    # work x tickets per run is the cost of one run (16 sweeps x 64 reads x 24 spins) at every
    # bound: proportional to measured cost by construction
    run = 16 * 64 * 24
    for work, tickets in zip(d.work, cal.tickets_per_run[0], strict=True):
        assert abs(work * tickets / run - 1) < 0.01
