"""``poqw demo`` end to end, small: the comparison table and a local devnet of node processes."""

from __future__ import annotations

from typer.testing import CliRunner

from poqw.cli.main import app


def test_demo_compares_solvers_and_runs_a_devnet() -> None:
    result = CliRunner().invoke(app, ["demo", "--nodes", "10", "--strikes", "6", "--blocks", "2"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "exact (brute force)" in out and "simulated annealing" in out
    assert "match-strike" in out and "ratio" in out
    assert "3 node processes" in out and "poqw devnet — 3 nodes" in out
    assert "exited early" not in out and "did not" not in out
    assert "All three nodes agree on one tip at height 2" in " ".join(out.split())
