"""Time to target with unsolved runs censored at their budget, and plots that tell methods apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from poqw.errors import ConfigError
from poqw.strike.bench_plots import METHOD_STYLES
from poqw.strike.benchmark import METHODS, QUICK, MethodRun, _summarise, run_benchmark
from poqw.strike.survival import (
    CensoredTime,
    censored_median,
    mean_and_error,
    solved_fraction_curve,
)


def test_kaplan_meier_counts_censored_runs_at_risk_until_their_budget() -> None:
    runs = [CensoredTime(1.0, True), CensoredTime(1.5, False), CensoredTime(2.0, True),
            CensoredTime(3.0, False)]
    # t=1: 1 of 4 at risk solves (S = 3/4); the censored run leaves at 1.5;
    # t=2: 1 of 2 at risk solves (S = 3/4 * 1/2 = 3/8).
    assert solved_fraction_curve(runs) == [(1.0, 0.25), (2.0, pytest.approx(0.625))]
    assert censored_median(runs) == 2.0  # the solved-only median would say 1.5


def test_a_method_that_rarely_solves_has_no_median_time() -> None:
    runs = [CensoredTime.of_run(0.001, 5.0)] + [CensoredTime.of_run(None, 5.0)] * 3
    assert runs[1] == CensoredTime(5.0, False)
    assert solved_fraction_curve(runs) == [(0.001, 0.25)]
    assert censored_median(runs) is None


def test_solves_count_before_censorings_at_the_same_time() -> None:
    runs = [CensoredTime(2.0, False), CensoredTime(2.0, True)]
    assert solved_fraction_curve(runs) == [(2.0, 0.5)]
    assert censored_median(runs) == 2.0
    with pytest.raises(ConfigError, match="finite"):
        solved_fraction_curve([CensoredTime(float("nan"), True)])


def test_mean_and_standard_error() -> None:
    assert mean_and_error([2.0]) == (2.0, 0.0)
    mean, error = mean_and_error([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and error == pytest.approx(1.2909944 / 2)


def run(method: str, ratio: float, ttt: float | None, seconds: float, seed: int) -> MethodRun:
    return MethodRun("3-regular", 8, seed, method, -10.0, -10.0 * ratio, ratio, 0.0, 0.0, ttt,
                     seconds, 1, None)


def test_summary_censors_unsolved_runs_so_random_cannot_look_fastest() -> None:
    # One lucky hit in four: the old summary took the median of that one time (fastest of all).
    lucky = [run("random", 1.0, 1e-5, 0.01, 0)] + [run("random", 0.9, None, 0.01, s)
                                                    for s in (1, 2, 3)]
    steady = [run("simulated-annealing", 1.0, 0.03, 0.2, s) for s in range(4)]
    assert _summarise(lucky)["median_time_to_target"] is None
    assert _summarise(lucky)["unsolved_censored"] == 3
    assert _summarise(steady)["median_time_to_target"] == 0.03
    assert _summarise(lucky)["ratio_stderr"] == pytest.approx(0.025)


def test_every_method_has_its_own_colour_marker_and_line() -> None:
    styles = [METHOD_STYLES[m] for m in METHODS]
    for k in range(3):
        assert len({str(s[k]) for s in styles}) == len(METHODS)


def test_quick_runs_enough_seeds_and_results_json_lists_them(tmp_path: Path) -> None:
    assert len(QUICK["seeds"]) >= 5
    seeds = (0, 1, 2)
    doc = run_benchmark(sizes=(6,), seeds=seeds, families=("3-regular",), budget=2,
                        out_dir=tmp_path, shots=8, p=1,
                        methods=("random", "steepest-descent"))
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["config"]["seeds"] == list(seeds)
    for method in ("random", "steepest-descent"):
        assert sorted(r["seed"] for r in saved["runs"] if r["method"] == method) == list(seeds)
        summary = saved["summary"]["3-regular"]["6"][method]
        assert summary["instances"] == len(seeds) and "ratio_stderr" in summary
    assert len(doc["plots"]) == 3

