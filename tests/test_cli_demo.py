"""``poqw demo`` end to end, small: the comparison table and a few mined blocks."""

from __future__ import annotations

from typer.testing import CliRunner

from poqw.cli.main import app


def test_demo_compares_solvers_and_mines_blocks() -> None:
    result = CliRunner().invoke(app, ["demo", "--nodes", "10", "--strikes", "6", "--blocks", "2"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "exact (brute force)" in out and "simulated annealing" in out
    assert "match-strike" in out and "ratio" in out
    assert "mines 2 blocks" in out and "height 2," in out
