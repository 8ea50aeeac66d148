"""``poqw bench miners``: every miner kind gets a row (run, or why not), times come from the
chain's own puzzle and proof rules, the QPU time is the stated model, and the table, JSON and
PNG plots are written."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from poqw.chain.difficulty import next_difficulty
from poqw.chain.genesis import builtin_genesis, genesis_header
from poqw.chain.instance import derive_instance
from poqw.chain.mining import winning_proof
from poqw.chain.proof import lead_proofs
from poqw.chain.view import MemoryChainView
from poqw.cli.main import app
from poqw.node.miner import make_solver
from poqw.node.minerbench import QPU_TIMING, _win_chance, qpu_access_time_us
from poqw.samplers.gpu_annealing import gpu_status

runner = CliRunner()


def test_qpu_model_is_programming_plus_reads() -> None:
    one = QPU_TIMING["anneal_us"] + QPU_TIMING["readout_us"] + QPU_TIMING["delay_us"]
    assert qpu_access_time_us(0) == pytest.approx(15072.88)
    assert qpu_access_time_us(100) - qpu_access_time_us(0) == pytest.approx(100 * one)


def test_win_chance_agrees_with_the_chains_own_proof_search() -> None:
    genesis = builtin_genesis("devnet")
    parent = genesis_header(genesis, bytes(32), bytes(32))
    # an easy ticket target (half the tickets win) so that wins happen in a few attempts
    difficulty = replace(next_difficulty(genesis, parent, MemoryChainView([parent])),
                         ticket_target=2 ** 255)
    solve = make_solver(num_reads=64, num_sweeps=32, k=genesis.k)
    outcomes = set()
    for i in range(40):
        instance = derive_instance(genesis.topology, i.to_bytes(32, "big"))
        spins = solve(instance, i)
        chance, won = _win_chance(genesis, instance, spins, difficulty)
        assert won == (winning_proof(genesis, instance, spins, difficulty) is not None)
        assert (chance > 0) == bool(lead_proofs(instance, spins, genesis.k, genesis.d_min,
                                                difficulty.energy_bound))
        outcomes.add(won)
    assert outcomes == {True, False}
    one_vector = np.ones((8, genesis.topology.num_nodes), dtype=np.int64)  # never k diverse
    assert _win_chance(genesis, instance, one_vector, difficulty) == (0.0, False)


def test_bench_miners_quick_writes_table_json_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "miners"
    result = runner.invoke(app, ["bench", "miners", "--quick", "--kinds", "cpu,gpu,qpu",
                                 "--seconds", "0.1", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text())
    rows = {r["kind"]: r for r in doc["results"]}
    assert set(rows) == {"cpu", "gpu", "qpu"} and {r["network"] for r in rows.values()} == {
        "devnet"}
    cpu, qpu = rows["cpu"], rows["qpu"]
    assert cpu["status"] == "ok" and cpu["attempts"] >= 1 and cpu["timing"] == "measured"
    assert cpu["energy_bound"] < 0 and cpu["mean_best_energy"] < 0
    assert qpu["timing"] == "modelled" and "MockDWaveSampler" in qpu["runs_on"]
    assert qpu["seconds_per_attempt"] == pytest.approx(qpu_access_time_us(100) / 1e6)
    if not gpu_status().available:
        assert rows["gpu"]["status"].startswith("no GPU here")
    report = (out / "report.md").read_text()
    assert "| devnet | qpu |" in report and "**model**" in report
    assert "not run: no GPU here" in report or gpu_status().available
    for name in ("time_to_proof.png", "energy_per_time.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, complaint", [
    (["bench", "miners", "--kinds", "cpu,tpu"], "unknown miner kind 'tpu'"),
    (["bench", "miners", "--networks", "mainnet"], "unknown network 'mainnet'"),
    (["bench", "miners", "--budget", "3"], "--budget and --seeds"),
    (["bench", "hashes"], "unknown mode 'hashes'"),
])
def test_bench_miners_mistakes_are_named(args: list[str], complaint: str,
                                         tmp_path: Path) -> None:
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "o")])
    assert result.exit_code != 0
    assert complaint in " ".join(result.output.split())
