"""The quality benchmark (quick size) and the Rich progress view."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from poqw.errors import ConfigError
from poqw.problems import random_maxcut, solve_exact
from poqw.strike import solve
from poqw.strike.benchmark import METHODS, make_instance, run_benchmark
from poqw.strike.progress import RichProgress


def test_quick_benchmark_writes_report_plots_and_consistent_numbers(tmp_path: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    doc = run_benchmark(sizes=(6, 8), seeds=(0, 1), families=("3-regular", "erdos-renyi"),
                        budget=3, out_dir=tmp_path, progress=lambda *a: calls.append(a),
                        shots=16, p=1)
    assert len(doc["runs"]) == 2 * 2 * 2 * len(METHODS) == len(calls)
    assert calls[-1][1] == calls[-1][2]
    for run in doc["runs"]:
        model = make_instance(run["family"], run["n"], run["seed"])
        assert run["optimum"] == pytest.approx(solve_exact(model).energy)
        assert run["energy"] >= run["optimum"] - 1e-9  # nothing beats the exact optimum
        assert 0 < run["ratio"] <= 1 + 1e-12
        # Polish never loses an optimal sample, so it cannot lower the optimal fraction.
        if run["method"] != "random":
            assert run["polished_optimal_fraction"] >= run["raw_optimal_fraction"] - 1e-12
        assert (run["time_to_target"] is None) == (run["ratio"] < 1 - 1e-9)
    sa = [r for r in doc["runs"] if r["method"] == "simulated-annealing"]
    assert all(r["ratio"] == pytest.approx(1.0) for r in sa)
    report = (tmp_path / "report.md").read_text()
    assert "## 3-regular" in report and "## erdos-renyi" in report
    assert "classical" in report.lower()
    for plot in doc["plots"]:
        assert Path(plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "results.json").read_text())["config"]["budget"] == 3


def test_benchmark_refuses_bad_configuration(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="family"):
        run_benchmark(sizes=(6,), seeds=(0,), families=("torus",), out_dir=tmp_path)
    with pytest.raises(ConfigError, match="even"):
        make_instance("3-regular", 7, 0)
    with pytest.raises(ConfigError, match="method"):
        run_benchmark(sizes=(6,), seeds=(0,), out_dir=tmp_path, methods=("magic",))


def test_rich_progress_renders_the_best_energy() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=140)
    model = random_maxcut(3, 8, seed=1)
    with RichProgress(console=console) as view:
        result = solve(model, max_strikes=5, seed=0, progress=view)
    assert view.updates == 5
    text = buffer.getvalue()
    assert f"{result.energy:.6g}" in text and "5/5 strikes" in text


def test_rich_progress_needs_its_context() -> None:
    with pytest.raises(RuntimeError, match="context manager"):
        solve(random_maxcut(3, 6, seed=1), max_strikes=1, seed=0, progress=RichProgress())
