"""``poqw bench miners``: time to a valid block proof for each miner kind on a genesis network.

Each miner kind solves the block puzzles of block 1 (fresh salts, the genesis difficulty) with
the node's own solver, and every attempt is scored with the chain's rules: the candidates under
the energy bound, the proofs they can lead (:func:`~poqw.chain.proof.lead_proofs`) and the
chance that one of those tickets is under the target. The expected time to a proof is seconds
per attempt over the mean winning chance per attempt, a low-variance estimate that needs no lucky
win within the budget (the wins actually found are reported beside it). The QPU row runs
dwave-system's MockDWaveSampler, a classical stand-in, and its time is a stated model of D-Wave's
QPU access time (:data:`QPU_TIMING`), never a measurement.
"""

from __future__ import annotations

import hashlib
import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from poqw.chain.difficulty import Difficulty, next_difficulty
from poqw.chain.genesis import Genesis, builtin_genesis, genesis_header
from poqw.chain.instance import Instance, derive_instance, derive_seed, instance_energies
from poqw.chain.proof import lead_proofs, proof_ticket
from poqw.chain.view import MemoryChainView

__all__ = ["KINDS", "NETWORKS", "QPU_TIMING", "QUICK", "MinerResult", "qpu_access_time_us",
           "run_miner_bench"]

log = logging.getLogger(__name__)

KINDS = ("cpu", "gpu", "qpu", "qvm")
NETWORKS = ("devnet", "zephyr-testnet")
QUICK: dict[str, Any] = {"networks": ("devnet",), "seconds": 0.3, "qvm_reads": 16}
_MINER = hashlib.sha256(b"poqw/bench/miners").digest()[:20]  # a fixed miner address

# The QPU timing model: D-Wave's documented decomposition of QPU access time,
#   T = T_programming + T_programming_thermalization + R * (T_anneal + T_readout + T_delay),
# ("QPU timing", docs.dwavequantum.com: Operation and Timing), with the typical Advantage
# figures that Ocean's own mocks carry: programming 14 072.88 us and delay 20.54 us
# (dwave-cloud-client, testing/mocks.py, ``qpu_problem_timing_data``, Advantage 4.1, August
# 2022), the default 20 us anneal and 1000 us programming thermalization (the solver's
# ``default_annealing_time`` and ``default_programming_thermalization``), and 41.54 us readout
# per sample (dwave-system's MockDWaveSampler timing). Network latency, Leap's queue and the
# host's embedding and unembedding are not included.
QPU_TIMING: dict[str, float] = {"programming_us": 14072.88, "programming_thermalization_us": 1000.0,
                                "anneal_us": 20.0, "readout_us": 41.54, "delay_us": 20.54}


def qpu_access_time_us(num_reads: int, timing: dict[str, float] | None = None) -> float:
    """Modelled QPU access time of one problem of ``num_reads`` samples (microseconds)."""
    t = timing or QPU_TIMING
    return (t["programming_us"] + t["programming_thermalization_us"]
            + num_reads * (t["anneal_us"] + t["readout_us"] + t["delay_us"]))


@dataclass
class MinerResult:
    """One miner kind on one network; times in seconds; ``status`` is ``ok`` or why not."""

    network: str
    kind: str
    runs_on: str
    status: str = "ok"
    timing: str = "measured"  # or "modelled" (the QPU)
    attempts: int = 0
    wins: int = 0
    seconds: float = 0.0  # solving time counted (modelled for the QPU)
    seconds_per_attempt: float = 0.0
    win_chance_per_attempt: float = 0.0
    expected_seconds_to_proof: float | None = None
    mean_best_energy: float | None = None  # lowest Ising energy per puzzle, mean
    energy_bound: int = 0
    num_variables: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


Solve = Callable[[Instance, int], npt.NDArray[np.int64]]


def _win_chance(genesis: Genesis, instance: Instance, spins: npt.NDArray[np.int64],
                difficulty: Difficulty) -> tuple[float, bool]:
    """The chance that this attempt yields a winning proof (each lead is one ticket of odds
    (target + 1) / 2^256), and whether it actually did."""
    rows = np.atleast_2d(spins)
    under = rows[instance_energies(instance, rows) <= difficulty.energy_bound]
    if len(under) < genesis.k:
        return 0.0, False
    odds = (difficulty.ticket_target + 1) / 2.0 ** 256
    leads, won = 0, False
    for lead, _ in lead_proofs(instance, under, genesis.k, genesis.d_min,
                               difficulty.energy_bound):
        leads += 1
        won = won or proof_ticket(instance.seed, lead) <= difficulty.ticket_target
    return 1.0 - (1.0 - odds) ** leads, won


def _measure(genesis: Genesis, result: MinerResult, solve: Solve, seconds: float,
             modelled_seconds: Callable[[], float] | None = None, min_attempts: int = 1) -> None:
    parent = genesis_header(genesis, bytes(32), bytes(32))
    difficulty = next_difficulty(genesis, parent, MemoryChainView([parent]))
    result.energy_bound = difficulty.energy_bound
    result.num_variables = genesis.topology.num_nodes
    chances: list[float] = []
    bests: list[float] = []
    wall = 0.0
    counted = 0.0
    while wall < seconds or result.attempts < min_attempts:
        salt = hashlib.sha256(b"poqw/bench/salt" + result.attempts.to_bytes(8, "big")).digest()
        instance = derive_instance(genesis.topology, derive_seed(parent.hash(), _MINER, salt))
        start = time.perf_counter()
        spins = solve(instance, result.attempts)
        elapsed = time.perf_counter() - start
        wall += elapsed
        counted += modelled_seconds() if modelled_seconds is not None else elapsed
        chance, won = _win_chance(genesis, instance, spins, difficulty)
        best = float(instance_energies(instance, np.atleast_2d(spins)).min())
        chances.append(chance)
        bests.append(best)
        result.attempts += 1
        result.wins += int(won)
    result.seconds = counted
    result.seconds_per_attempt = counted / result.attempts
    result.win_chance_per_attempt = statistics.fmean(chances)
    result.mean_best_energy = statistics.fmean(bests)
    if result.win_chance_per_attempt > 0:
        result.expected_seconds_to_proof = (result.seconds_per_attempt
                                            / result.win_chance_per_attempt)


def _bench_kind(genesis: Genesis, network: str, kind: str, seconds: float, qvm_reads: int,
                cache: Path) -> MinerResult:
    from poqw.node.miner import make_solver

    k = genesis.k
    if kind == "cpu":
        result = MinerResult(network, kind, "CPU simulated annealing (1 thread, 64 reads x 16 "
                             "sweeps, the node's default)")
        _measure(genesis, result, make_solver(num_reads=64, num_sweeps=16, k=k), seconds)
        return result
    if kind == "gpu":
        from poqw.samplers.gpu_annealing import gpu_status

        status = gpu_status()
        if not status.available:
            return MinerResult(network, kind, "-", status=f"no GPU here ({status.reason})")
        from poqw.node.hardware import GpuPuzzleSolver

        solver = GpuPuzzleSolver(num_reads=64, num_sweeps=16, batch_size=1)
        result = MinerResult(network, kind, f"CUDA {status.devices[0]} (64 reads x 16 sweeps, "
                             "one puzzle per launch)")
        _measure(genesis, result, solver, seconds, min_attempts=2)
        return result
    if kind == "qpu":
        from poqw.node.config import QpuConfig
        from poqw.node.qpu import QpuPuzzleSolver, load_embedding, open_qpu

        reads = QpuConfig().num_reads
        sampler, label = open_qpu(QpuConfig(solver="mock"), None, genesis.topology.family)
        embedding, how = load_embedding(cache, genesis.topology, sampler)
        qpu = QpuPuzzleSolver(sampler, embedding, reads, label)
        longest = max(len(c) for c in embedding.values())
        result = MinerResult(network, kind, f"{label}, embedding {how}, longest chain {longest}, "
                             f"{reads} reads", timing="modelled")
        _measure(genesis, result, qpu, seconds,
                 modelled_seconds=lambda: qpu_access_time_us(reads) / 1e6)
        return result
    if kind == "qvm":
        result = MinerResult(network, kind, f"match-strike QAOA p=1 ({qvm_reads} shots x 4 "
                             "strikes, polished)")
        _measure(genesis, result, make_solver("qaoa", num_reads=qvm_reads, k=k), seconds)
        return result
    raise ValueError(f"unknown miner kind {kind!r}; choose from {', '.join(KINDS)}")


def run_miner_bench(out_dir: Path, *, networks: tuple[str, ...] = NETWORKS,
                    kinds: tuple[str, ...] = KINDS, seconds: float = 20.0, qvm_reads: int = 64,
                    progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Benchmark ``kinds`` on ``networks`` (about ``seconds`` of solving each, at least one
    attempt); writes results.json, report.md and plots to ``out_dir``; returns the document."""
    from poqw.node.minerbench_report import write_report

    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"unknown miner kind {kind!r}; choose from {', '.join(KINDS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[MinerResult] = []
    total, done = len(networks) * len(kinds), 0
    for network in networks:
        genesis = builtin_genesis(network)
        for kind in kinds:
            if progress is not None:
                progress(f"{network}: {kind}", done, total)
            try:
                results.append(_bench_kind(genesis, network, kind, seconds, qvm_reads,
                                           out_dir / "qpu-cache"))
            except ImportError as exc:
                results.append(MinerResult(network, kind, "-", status=f"not installed: {exc}"))
            done += 1
    config = {"networks": list(networks), "kinds": list(kinds), "seconds": seconds,
              "qvm_reads": qvm_reads, "qpu_timing_model_us": QPU_TIMING}
    return write_report(out_dir, results, config)
