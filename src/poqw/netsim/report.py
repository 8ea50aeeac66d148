"""Statistics and the plot of a simulation run.

:func:`summarize` turns a :class:`~poqw.netsim.engine.SimRecord` into plain numbers (JSON-ready):
block propagation (time from discovery until 50 %, 90 % and 100 % of nodes have connected the
block), per-node receive latency percentiles, the stale-block rate, the achieved block interval
and difficulty trajectory along the final best chain, each miner's share of best-chain blocks
against its share of solver power, and bytes sent per node.
:func:`write_plot` draws the propagation CDF and the interval/difficulty trajectory to a PNG.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from poqw.chain.difficulty import ticket_work
from poqw.netsim.engine import SimRecord
from poqw.netsim.latency import GEO_REGIONS

__all__ = ["miner_shares", "propagation_times", "receive_latencies", "summarize", "write_plot"]

_SPREAD = (0.5, 0.9, 1.0)


def propagation_times(record: SimRecord, fraction: float) -> np.ndarray:
    """Per block (in mining order), seconds until ``fraction`` of all nodes had it (nan: never
    within the run)."""
    n = record.config.nodes
    need = max(1, math.ceil(fraction * n - 1e-9))
    out = []
    for block_hash, mined in record.mined_at.items():
        times = np.sort(record.received_at[block_hash])  # nan sorts last
        out.append(times[need - 1] - mined)
    return np.asarray(out, dtype=float)


def receive_latencies(record: SimRecord) -> np.ndarray:
    """Seconds from discovery to arrival, for every (block, node other than its miner)."""
    parts = []
    for block_hash, mined in record.mined_at.items():
        delays = record.received_at[block_hash] - mined
        delays = np.delete(delays, record.miner_of[block_hash])
        parts.append(delays[~np.isnan(delays)])
    return np.concatenate(parts) if parts else np.zeros(0)


def _stats(values: np.ndarray) -> dict[str, float | None]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"mean": None, "median": None, "max": None}
    return {"mean": float(finite.mean()), "median": float(np.median(finite)),
            "max": float(finite.max())}


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None  # JSON has no infinity


def _trajectory(record: SimRecord) -> list[dict[str, float | int]]:
    chain = record.chain
    params = chain.genesis.difficulty
    initial = params.anchor_work
    rows = []
    previous = record.mining_start
    for block_hash in record.main_chain:
        header = chain.headers[block_hash]
        mined = record.mined_at[block_hash]
        rows.append({
            "height": int(header.number),
            "time": mined - record.mining_start,
            "interval": mined - previous,
            "energy_bound": int(header.energy_bound),
            "relative_work": ticket_work(params, int(header.energy_bound),
                                         int(header.ticket_target)) / initial,
        })
        previous = mined
    return rows


def miner_shares(record: SimRecord) -> list[dict[str, float | int]]:
    """Per mining node: its share of solver power and of the final best chain's blocks."""
    won = np.bincount([record.miner_of[h] for h in record.main_chain],
                      minlength=record.config.nodes)
    total = max(1, len(record.main_chain))
    return [{"node": i, "power_share": share, "blocks": int(won[i]),
             "block_share": int(won[i]) / total}
            for i, share in enumerate(record.shares) if share > 0]


def summarize(record: SimRecord) -> dict[str, Any]:
    """Every figure of the run, as JSON-ready values (see the module docstring)."""
    cfg = record.config
    mined = len(record.mined_at)
    stale = mined - len(record.main_chain)
    trajectory = _trajectory(record)
    intervals = np.array([row["interval"] for row in trajectory], dtype=float)
    latencies = receive_latencies(record)
    duration = max(record.end_time, 1e-9)
    missing = sum(int(np.isnan(t).sum()) for t in record.received_at.values())
    regions = None
    if cfg.latency.strip().lower() == "geo":
        counts = np.bincount(record.regions, minlength=len(GEO_REGIONS))
        regions = {name: int(c) for name, c in zip(GEO_REGIONS, counts, strict=True)}
    pct = (np.percentile(latencies, [50, 95, 99]) if latencies.size else [math.nan] * 3)
    return {
        "config": {
            "nodes": cfg.nodes, "degree": cfg.degree, "latency": cfg.latency,
            "blocks": cfg.blocks, "seed": cfg.seed, "topology": cfg.topology,
            "bandwidth_mbps": _finite(cfg.bandwidth_mbps),
            "uplink_mbps": _finite(cfg.uplink_mbps), "block_bytes": cfg.block_bytes,
            "target_interval": cfg.target_interval, "halflife": cfg.halflife,
            "power": cfg.power, "power_scale": cfg.power_scale,
        },
        "network": {
            "connections": record.connections,
            "connections_ready": record.connections_ready,
            "connections_closed": record.closed,
            "misbehaviour_reports": record.misbehaviour,
            "block_requests": record.block_requests,
            "regions": regions,
        },
        "propagation_s": {f"p{int(q * 100)}_of_nodes": _stats(propagation_times(record, q))
                          for q in _SPREAD},
        "receive_latency_s": {"p50": float(pct[0]), "p95": float(pct[1]),
                              "p99": float(pct[2])},
        "blocks": {
            "mined": mined,
            "main_chain": len(record.main_chain),
            "stale": stale,
            "stale_rate": stale / mined if mined else 0.0,
            "converged": len(set(record.tips)) == 1,
            "undelivered_block_node_pairs": missing,
        },
        "interval_s": {
            "target": cfg.target_interval,
            "mean": float(intervals.mean()) if intervals.size else None,
            "median": float(np.median(intervals)) if intervals.size else None,
        },
        "difficulty": trajectory,
        "miners": miner_shares(record),
        "bytes_sent_per_node": {
            "mean": float(record.bytes_sent.mean()),
            "median": float(np.median(record.bytes_sent)),
            "max": int(record.bytes_sent.max()),
            "mean_per_s": float(record.bytes_sent.mean() / duration),
        },
        "simulated_s": record.end_time,
        "events": record.events,
    }


def write_plot(record: SimRecord, path: Path) -> Path:
    """A two-panel PNG: propagation CDF, and block interval with difficulty by height."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = summarize(record)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    latencies = np.sort(receive_latencies(record)) * 1000.0
    if latencies.size:
        left.plot(latencies, np.arange(1, latencies.size + 1) / latencies.size,
                  label="per-node receive latency")
    for q, style in zip(_SPREAD, (":", "--", "-."), strict=True):
        median = summary["propagation_s"][f"p{int(q * 100)}_of_nodes"]["median"]
        if median is not None:
            left.axvline(median * 1000.0, color="grey", linestyle=style,
                         label=f"median time to {int(q * 100)} % of nodes")
    left.set_xlabel("time since discovery (ms)")
    left.set_ylabel("fraction of (block, node) pairs")
    cfg = record.config
    left.set_title(f"block propagation: {cfg.nodes} nodes, latency {cfg.latency}")
    left.legend(loc="lower right", fontsize=8)
    left.grid(alpha=0.3)
    rows = summary["difficulty"]
    heights = [r["height"] for r in rows]
    right.plot(heights, [r["interval"] for r in rows], ".", color="tab:blue",
               label="block interval")
    right.axhline(cfg.target_interval, color="tab:blue", linestyle=":", label="target")
    right.set_xlabel("height (final best chain)")
    right.set_ylabel("interval (s)", color="tab:blue")
    twin = right.twinx()
    twin.step(heights, [r["relative_work"] for r in rows], where="post", color="tab:red",
              label="difficulty (work / initial)")
    twin.set_ylabel("work / initial work", color="tab:red")
    stale = summary["blocks"]["stale_rate"]
    right.set_title(f"interval and difficulty (stale rate {stale:.1%})")
    right.legend(loc="upper left", fontsize=8)
    twin.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
