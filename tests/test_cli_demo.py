"""``poqw demo`` end to end, small: the comparison table, the compute network's solve over solver
processes, a local devnet of node processes and the market act (post, solve, settle, balances
before and after)."""

from __future__ import annotations

from typer.testing import CliRunner

from poqw.cli.main import app


def test_demo_compares_solvers_and_runs_a_devnet() -> None:
    result = CliRunner().invoke(app, ["demo", "--nodes", "10", "--strikes", "6", "--blocks", "2"])
    assert result.exit_code == 0, result.output
    out = result.output
    flat = " ".join(out.split())
    assert "exact (brute force)" in out and "simulated annealing" in out
    assert "match-strike" in out and "ratio" in out
    assert "per-solver throughput and pay" in out and "strikes/s" in out
    assert "the same cut and assignment: the cheater changed nothing" in flat
    assert "3 node processes" in out and "poqw devnet — 3 nodes" in out
    assert "exited early" not in out and "did not" not in out
    assert "All three nodes agree on one tip at height 2" in flat
    assert "balances before" in out and "balances after" in out
    assert "annealer: problem 1: committed energy" in flat
    assert "striker: problem 1: revealed energy" in flat
    assert "settled, paid" in flat and "wins with chain energy" in flat
