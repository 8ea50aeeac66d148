"""Calibrate a topology: which energy bounds simulated annealing reaches, and at what cost.

For ``num_instances`` puzzles derived exactly as blocks derive theirs, run simulated annealing
(dwave-samplers) with ``num_reads`` reads at each sweep budget, move the samples to their plateau
representatives as the proof rule requires, and record the greedy proof bound:
the highest energy among the ``k`` diverse solutions :func:`make_proof` would pick (the lowest
bound a miner with that budget can prove). With ``t_B(b)`` the mean number of lottery tickets
one run at budget ``B`` draws at bound ``b`` (its distinct valid vectors that lead a proof; the
node's miner draws them all, see :func:`poqw.chain.proof.lead_proofs`), the work of bound ``b`` is
the expected number of spin-update attempts per ticket, ``min_B ceil(B * num_reads * n /
t_B(b))``, made strictly decreasing in ``b``; so ``work(b) * 2**256 / (T + 1)`` is the expected
cost of a block at any bound. The range runs from
the hardest bound some budget reaches in ``min_success`` of instances to the median bound of the
cheapest budget. ``poqw chain calibrate --family regular3 --size 24 --out genesis.json`` writes a
whole genesis around it (``python -m poqw.chain.calibrate`` prints the calibration object alone).

Running annealers is not consensus: nothing under ``poqw.chain`` or ``poqw.node`` imports this
module, and the sampler is imported only when :func:`calibrate_topology` runs.
"""

from __future__ import annotations

import argparse
import json
import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from poqw.chain.instance import derive_instance, derive_seed
from poqw.chain.proof import (
    MAX_PROOF_SOLUTIONS,
    canonical_plateau,
    greedy_diverse_selection,
    lead_proofs,
)
from poqw.chain.topology import Topology, build_topology
from poqw.crypto.hashing import hash32
from poqw.errors import ConfigError

__all__ = [
    "Calibration",
    "ProgressCallback",
    "calibrate_topology",
    "genesis_document",
    "proof_bounds",
    "work_table",
]


@dataclass(frozen=True)
class Calibration:
    """Measured proof bounds (``bounds[b][i]``: budget ``b``, instance ``i``; None = no proof)."""

    topology: Topology
    k: int
    d_min: int
    budgets: tuple[int, ...]
    num_reads: int
    bounds: tuple[tuple[int | None, ...], ...]
    hardest_bound: int
    easiest_bound: int
    initial_bound: int
    work: tuple[int, ...]
    tickets_per_run: tuple[tuple[float, ...], ...] = ()  # [budget][bound - hardest]

    def success_rate(self, budget_index: int, bound: int) -> float:
        """Share of instances whose proof bound at ``budgets[budget_index]`` is ``<= bound``."""
        row = self.bounds[budget_index]
        return sum(1 for x in row if x is not None and x <= bound) / len(row)

    def to_json(self) -> dict[str, Any]:
        """The genesis ``difficulty.calibration`` object (with how it was measured)."""
        quantiles: dict[str, list[int | None]] = {}
        for budget, row in zip(self.budgets, self.bounds, strict=True):
            vals = sorted(b if b is not None else math.inf for b in row)
            picks = [vals[min(len(vals) - 1, int(q * len(vals)))] for q in (0.1, 0.5, 0.9)]
            quantiles[str(budget)] = [int(v) if v < math.inf else None for v in picks]
        return {
            "hardest_bound": self.hardest_bound,
            "easiest_bound": self.easiest_bound,
            "work": [str(w) for w in self.work],
            "method": {
                "sampler": "dwave-samplers SimulatedAnnealingSampler",
                "num_instances": len(self.bounds[0]),
                "num_reads": self.num_reads,
                "budgets_sweeps": list(self.budgets),
                "work_unit": "spin-update attempts",
                "proof_bound_quantiles_10_50_90 (null: no proof)": quantiles,
            },
        }


def proof_bounds(energies: np.ndarray[Any, Any], spins: np.ndarray[Any, Any], k: int,
                 d_min: int) -> int | None:
    """The lowest bound the greedy selection proves from these samples, or None."""
    chosen = greedy_diverse_selection(energies, spins, k, d_min)
    if len(chosen) < k:
        return None
    return int(max(int(energies[i]) for i in chosen))


def work_table(budgets: Sequence[int], num_reads: int, num_nodes: int,
               bounds: Sequence[Sequence[int | None]], hardest: int, easiest: int,
               tickets: Sequence[Sequence[Sequence[int]]] | None = None) -> list[int]:
    """Strictly decreasing work of each bound from ``hardest`` to ``easiest`` (see module doc).

    ``tickets[budget][instance][b - hardest]`` is the number of distinct proofs that run gives
    at bound ``b``; without it each run whose proof bound is ``<= b`` counts as one ticket."""
    work: list[int] = []
    for b in range(hardest, easiest + 1):
        best = math.inf
        for j, (budget, row) in enumerate(zip(budgets, bounds, strict=True)):
            if tickets is not None:
                hits = sum(run[b - hardest] for run in tickets[j])
            else:
                hits = sum(1 for x in row if x is not None and x <= b)
            if hits:
                best = min(best, math.ceil(budget * num_reads * num_nodes * len(row) / hits))
        work.append(int(best) if best < math.inf else 0)
    for i in range(len(work) - 2, -1, -1):  # harder bounds must cost strictly more
        work[i] = max(work[i], work[i + 1] + 1)
    return work


ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done, total)`` after each (instance, budget) annealing run."""


def _check_parameters(topology: Topology, k: int, d_min: int, budgets: Sequence[int],
                      num_instances: int, num_reads: int, min_success: float) -> None:
    if not 1 <= k <= MAX_PROOF_SOLUTIONS:
        raise ConfigError(f"calibration k = {k} must be in [1, {MAX_PROOF_SOLUTIONS}]")
    if not 0 <= d_min <= topology.num_nodes // 2:
        raise ConfigError(f"calibration d_min = {d_min} must be in [0, "
                          f"{topology.num_nodes // 2}] for {topology.num_nodes} nodes")
    if not budgets or any(b < 1 for b in budgets):
        raise ConfigError(f"calibration budgets must be positive sweep counts, got "
                          f"{list(budgets)}")
    if list(budgets) != sorted(set(budgets)):
        raise ConfigError(f"calibration budgets must increase strictly, got {list(budgets)}")
    if num_instances < 1:
        raise ConfigError(f"calibration needs at least one instance, got {num_instances}")
    if num_reads < k:
        raise ConfigError(f"calibration reads = {num_reads} cannot give k = {k} solutions")
    if not 0 < min_success <= 1:
        raise ConfigError(f"calibration min_success = {min_success} must be in (0, 1]")


def calibrate_topology(topology: Topology, k: int, d_min: int,
                       budgets: Sequence[int] = (1, 4, 16, 64, 256), num_instances: int = 32,
                       num_reads: int = 64, min_success: float = 0.125,
                       seed: int = 0, progress: ProgressCallback | None = None) -> Calibration:
    """Measure proof bounds over random block puzzles and derive the calibrated range.

    ``progress(done, total)`` is called after each of the ``num_instances * len(budgets)`` runs.
    Raises :class:`ConfigError` for parameters that cannot calibrate anything."""
    _check_parameters(topology, k, d_min, budgets, num_instances, num_reads, min_success)
    from dwave.samplers import SimulatedAnnealingSampler

    sampler = SimulatedAnnealingSampler()
    rows: list[list[int | None]] = [[] for _ in budgets]
    samples: list[list[tuple[Any, np.ndarray[Any, Any]]]] = [[] for _ in budgets]
    total, done = num_instances * len(budgets), 0
    for i in range(num_instances):
        parent = hash32(b"poqw/calibration/v1", struct.pack(">QQ", seed, i))
        inst = derive_instance(topology, derive_seed(parent, bytes(20), bytes(32)))
        h = {v: int(x) for v, x in enumerate(inst.h)}
        J = {(int(a), int(b)): int(w) for (a, b), w in zip(inst.edges, inst.J, strict=True)}
        for row, runs, budget in zip(rows, samples, budgets, strict=True):
            ss = sampler.sample_ising(h, J, num_reads=num_reads, num_sweeps=budget,
                                      seed=(seed * 1_000_003 + i * 7919 + budget) % (1 << 31))
            spins = canonical_plateau(inst, ss.record.sample.astype(np.int64))
            energies = np.rint(ss.record.energy).astype(np.int64)
            row.append(proof_bounds(energies, spins, k, d_min))
            runs.append((inst, spins))
            done += 1
            if progress is not None:
                progress(done, total)
    reached = [x for row in rows for x in row if x is not None]
    if not reached:
        raise ConfigError(f"no budget produced a proof of k = {k} solutions at distance "
                          f">= {d_min}: raise the budgets or reads, or lower k / d_min")
    hardest = max(reached)
    for b in range(min(reached), max(reached) + 1):
        if max(sum(1 for x in row if x is not None and x <= b) for row in rows) \
                >= min_success * num_instances:
            hardest = b
            break
    cheap = sorted(x if x is not None else math.inf for x in rows[0])
    median = cheap[(len(cheap) - 1) // 2]
    easiest = max(hardest, int(median) if median < math.inf else hardest)
    tickets = [[[len(lead_proofs(inst, spins, k, d_min, b))
                 for b in range(hardest, easiest + 1)] for inst, spins in runs]
               for runs in samples]
    work = work_table(budgets, num_reads, topology.num_nodes, rows, hardest, easiest, tickets)
    mid = sorted(x if x is not None else math.inf for x in rows[len(rows) // 2])
    mid_median = mid[(len(mid) - 1) // 2]
    initial = int(mid_median) if mid_median < math.inf else easiest
    initial = max(hardest, min(easiest, initial))
    per_run = tuple(tuple(sum(run[j] for run in runs) / num_instances
                          for j in range(easiest - hardest + 1)) for runs in tickets)
    return Calibration(topology, k, d_min, tuple(budgets), num_reads,
                       tuple(tuple(r) for r in rows), hardest, easiest, initial, tuple(work),
                       per_run)


def genesis_document(name: str, chain_id: int, cal: Calibration, policy: str = "target-time",
                     timestamp: int = 1_767_225_600, target_interval: int = 10,
                     alloc: dict[str, str] | None = None,
                     initial_work: int | None = None) -> dict[str, Any]:
    """A complete genesis document (``poqw-genesis/v1``) around a calibration; the lottery bound
    is the hardest calibrated one, ``initial_work`` (default: the initial bound's) anchors the
    target-time schedule."""
    topo = cal.topology
    difficulty: dict[str, Any] = {
        "policy": policy, "initial_bound": cal.initial_bound, "lottery_bound": cal.hardest_bound,
        "halflife": 3600, "ease_step": 1, "harden_step": 1, "streak_cap": 5,
    }
    if initial_work is not None:
        difficulty["initial_work"] = str(initial_work)
    difficulty["calibration"] = cal.to_json()
    return {
        "format": "poqw-genesis/v1",
        "name": name,
        "chain_id": chain_id,
        "timestamp": timestamp,
        "topology": {"family": topo.family, "size": topo.size, "hash": "0x" + topo.hash.hex(),
                     "num_nodes": topo.num_nodes, "num_edges": topo.num_edges},
        "proof": {"k": cal.k, "d_min": cal.d_min},
        "difficulty": difficulty,
        "target_interval": target_interval,
        "max_future_drift": 15,
        "reorg_depth_limit": 64,
        "gas_limit": 30_000_000,
        "rewards": {"initial": str(2 * 10**18), "halving_interval": 2_100_000,
                    "tail": str(6 * 10**17)},
        "limits": {"max_block_bytes": 2 << 20, "max_transactions": 4096,
                   "max_transaction_bytes": 128 << 10},
        "alloc": alloc or {},
    }


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--family", default="regular3")
    p.add_argument("--size", type=int, default=24)
    p.add_argument("--k", type=int, default=4)
    p.add_argument("--d-min", type=int, default=3)
    p.add_argument("--instances", type=int, default=32)
    p.add_argument("--reads", type=int, default=64)
    p.add_argument("--budgets", default="1,4,16,64,256")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--genesis", metavar="NAME", help="print a whole genesis document")
    p.add_argument("--chain-id", type=int, default=7357)
    p.add_argument("--policy", default="target-time")
    a = p.parse_args(argv)
    cal = calibrate_topology(build_topology(a.family, a.size), a.k, a.d_min,
                             tuple(int(x) for x in a.budgets.split(",")), a.instances, a.reads,
                             seed=a.seed)
    if a.genesis:
        print(json.dumps(genesis_document(a.genesis, a.chain_id, cal, a.policy), indent=1))
        return
    out = cal.to_json()
    out["initial_bound"] = cal.initial_bound
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
