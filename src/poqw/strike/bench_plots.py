"""The quality benchmark's plots: every method told apart, error bars, censored times to target.

Methods that tie (most reach a ratio of 1 on small graphs) would hide each other, so each has
its own colour, marker and line style and is drawn a little to the side of the others. Ratios
carry standard-error bars over the seeds. Time to target is a Kaplan–Meier curve of the
fraction of instances solved by time t, in which unsolved runs count as censored at their
budget (:mod:`poqw.strike.survival`), so a method that rarely solves cannot look fast.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from poqw.strike.survival import CensoredTime, solved_fraction_curve

__all__ = ["METHOD_STYLES", "make_plots"]

#: colour, marker, line style per method (colour-blind-safe Okabe–Ito colours).
METHOD_STYLES: dict[str, tuple[str, str, str | tuple[int, tuple[int, ...]]]] = {
    "match-strike": ("#0072B2", "o", "-"),
    "match-strike+sa": ("#D55E00", "s", "--"),
    "qaoa-nelder-mead": ("#009E73", "^", "-."),
    "random": ("#CC79A7", "v", ":"),
    "steepest-descent": ("#E69F00", "D", (0, (5, 1, 1, 1))),
    "simulated-annealing": ("#000000", "X", (0, (1, 1))),
}


def _style(method: str) -> dict[str, Any]:
    color, marker, line = METHOD_STYLES.get(method, ("#777777", ".", "-"))
    return {"color": color, "marker": marker, "linestyle": line, "label": method}


def _offsets(methods: Sequence[str], sizes: Sequence[int]) -> dict[str, float]:
    step = min((b - a for a, b in itertools.pairwise(sizes)), default=2) or 2
    width = 0.35 * step
    k = len(methods)
    return {m: (i - (k - 1) / 2) * width / max(k - 1, 1) for i, m in enumerate(methods)}


def _by_size(ax: Any, by_size: dict[int, dict[str, dict[str, Any]]], methods: Sequence[str],
             key: str, error: str | None, positive: bool) -> None:
    sizes = sorted(by_size)
    shift = _offsets(methods, sizes)
    for method in methods:
        points = [(n + shift[method], by_size[n][method][key],
                   by_size[n][method].get(error, 0.0) if error else 0.0)
                  for n in sizes if method in by_size[n]]
        points = [p for p in points if p[1] is not None and (p[1] > 0 or not positive)]
        if not points:
            continue
        xs, ys, es = zip(*points, strict=True)
        ax.errorbar(xs, ys, yerr=es if error else None, capsize=3, markersize=6,
                    linewidth=1.3, alpha=0.9, **_style(method))
    ax.set_xticks(sizes)
    ax.set_xlabel("n (methods drawn side by side)")


def _time_to_target(ax: Any, runs: Sequence[dict[str, Any]], methods: Sequence[str]) -> None:
    for method in methods:
        mine = [r for r in runs if r["method"] == method]
        if not mine:
            continue
        times = [CensoredTime.of_run(r["time_to_target"], r["seconds"]) for r in mine]
        steps = solved_fraction_curve(times)
        end = max(t.time for t in times)
        start = min([t for t, _ in steps] + [end]) / 2 or 1e-6
        xs, ys, reached = [start], [0.0], 0.0
        for t, fraction in steps:
            xs += [t, t]
            ys += [reached, fraction]
            reached = fraction
        xs.append(end)
        ys.append(reached)
        style = _style(method)
        marker = style.pop("marker")
        ax.plot(xs, ys, linewidth=1.6, **style)
        ax.plot([end], [ys[-1]], marker=marker, color=style["color"], markersize=7,
                linestyle="none")
    ax.set_xscale("log")
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("seconds (marker: end of the longest run)")


def make_plots(summary: dict[str, dict[int, dict[str, dict[str, Any]]]],
               runs: Sequence[dict[str, Any]], methods: Sequence[str], out: Path,
               seeds: int) -> list[str]:
    """Write approximation_ratio.png, time_to_target.png and optimum_probability.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (
        ("approximation_ratio.png", f"mean approximation ratio ± s.e. ({seeds} seeds)"),
        ("time_to_target.png", "fraction of instances solved by t (Kaplan–Meier; unsolved "
                               "censored at their budget)"),
        ("optimum_probability.png", "P(sample optimal), before polish (log)"),
    )
    paths = []
    for name, label in panels:
        fig, axes = plt.subplots(1, len(summary), figsize=(6 * len(summary), 4.4),
                                 squeeze=False)
        for ax, (family, by_size) in zip(axes[0], summary.items(), strict=True):
            if name == "approximation_ratio.png":
                _by_size(ax, by_size, methods, "mean_ratio", "ratio_stderr", positive=False)
            elif name == "time_to_target.png":
                _time_to_target(ax, [r for r in runs if r["family"] == family], methods)
                family = f"{family}, all n"
            else:
                _by_size(ax, by_size, methods, "raw_optimal_fraction", None, positive=True)
                ax.set_yscale("log")
            ax.set_title(family)
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel(label if len(label) < 45 else label.split(" (")[0])
        fig.suptitle(label, fontsize=10)
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=len(methods), fontsize=8,
                   frameon=False)
        fig.tight_layout(rect=(0, 0.07, 1, 0.97))
        path = out / name
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(str(path))
    return paths
