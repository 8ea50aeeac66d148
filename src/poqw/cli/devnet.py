"""``poqw devnet``: a local network of node processes on loopback, with a live view.

It writes ONE genesis file into a run directory (every node must share it: the built-in devnet
genesis is stamped with the time a data directory is created), starts N ``poqw node cpu``
processes, node i joining nodes 0..i-1, and polls each node's ``chain info`` (read-only SQLite)
and ``network.json`` (port, peer count; written by the node) for the view. Ctrl-C or SIGTERM
stops every node by its process group. With ``--blocks B`` the nodes stop mining at height B and
keep serving each other, and the run ends once every node has a peer and all agree on one tip at
height B or more (or, after ``--timeout``, says plainly that they did not); ``--json`` then
prints each node's height, tip, peer count (from ``network.json``, as the node last wrote it
before the stop) and the blocks it mined (``block`` lines in its output), and ``"ok"`` is true
only when every node ended on the same tip.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.live import Live
from rich.table import Table

from poqw.cli.common import command, console, ensure_folder, err_console, print_json
from poqw.cli.logoptions import LogFormatOption, LogLevelOption, log_args, setup_cli_logging
from poqw.errors import ConfigError, PoqwError

if TYPE_CHECKING:
    from poqw.market.devnet import MarketDeployer

__all__ = ["MINER_KINDS", "NodePlan", "devnet", "plan_network", "run_network"]

# kind -> the sampler of a `poqw node cpu` node; gpu and qpu run `poqw node gpu|qpu`
MINER_KINDS: dict[str, str] = {
    "cpu": "simulated-annealing",
    "qvm": "qaoa",
    "gpu": "cuda-annealing",
    "qpu": "d-wave",
}
_NODE_MAIN = "from poqw.cli.main import main; main()"


def hardware_plan(kind: str) -> tuple[tuple[str, ...], str, str]:
    """How a node of ``kind`` runs on this machine: its ``poqw node`` subcommand and flags, what
    it mines with, and a note when that is a fallback (empty otherwise)."""
    if kind == "gpu":
        from poqw.samplers.gpu_annealing import gpu_status

        status = gpu_status()
        if status.available:
            return ("gpu",), f"CUDA annealing on {status.devices[0]}", ""
        return ("gpu",), "simulated-annealing", (f"no GPU usable here ({status.reason}): runs "
                                                 "the CPU annealer instead")
    if kind == "qpu":
        from poqw.node.qpu import TOKEN_ENV

        if os.environ.get(TOKEN_ENV):
            return ("qpu",), "D-Wave QPU", ""
        return ("qpu", "--solver", "mock"), "MockDWaveSampler", (
            f"no QPU access here ({TOKEN_ENV} is not set): runs the QPU path (embedding, chain "
            "strength, unembedding) on dwave-system's MockDWaveSampler, a classical stand-in")
    return ("cpu", "--sampler", MINER_KINDS[kind]), MINER_KINDS[kind], ""


@dataclass(frozen=True)
class NodePlan:
    """One node of a local network: who it is, how it mines and the command that starts it."""

    index: int
    name: str
    kind: str
    sampler: str
    note: str
    port: int
    datadir: Path
    command: tuple[str, ...]


def free_port(host: str = "127.0.0.1") -> int:
    """A UDP port nothing listens on right now (QUIC runs over UDP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def write_genesis(run_dir: Path, drift: int | None = None, source: Path | None = None) -> Path:
    """The devnet genesis (or the genesis file ``source``) stamped with now, optionally with a
    wider future drift, as a file."""
    from poqw.chain import load_genesis
    from poqw.node.service import resolve_genesis

    if source is not None:
        try:
            doc = json.loads(Path(source).read_text())
            load_genesis(json.dumps(doc).encode())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read genesis file {source}: {exc}") from exc
        doc["timestamp"] = int(time.time())
    else:
        _, raw = resolve_genesis("devnet", None, time.time())
        doc = json.loads(raw)
    if drift is not None:
        doc["max_future_drift"] = drift
    path = run_dir / "genesis.json"
    path.write_text(json.dumps(doc, indent=1))
    return path


def plan_network(kinds: Sequence[str], run_dir: Path, genesis: Path, base_port: int | None,
                 extra: Sequence[str] = ()) -> list[NodePlan]:
    """Command lines for one node per entry of ``kinds``; node i peers with nodes 0..i-1."""
    plans: list[NodePlan] = []
    how: dict[str, tuple[tuple[str, ...], str, str]] = {}
    for i, kind in enumerate(kinds):
        if kind not in MINER_KINDS:
            raise ConfigError(f"unknown miner kind {kind!r}; known: {', '.join(MINER_KINDS)}")
        if kind not in how:
            how[kind] = hardware_plan(kind)
        subcommand, sampler, note = how[kind]
        port = base_port + i if base_port else free_port()
        name = f"node{i}-{kind}"
        datadir = run_dir / name
        cmd = [sys.executable, "-c", _NODE_MAIN, "node", *subcommand, "--datadir", str(datadir),
               "--genesis", str(genesis), "--port", str(port), "--auto-mine",
               "--node-name", name, "--rpc-port", "0", *extra]
        for p in plans:
            cmd += ["--peer", f"127.0.0.1:{p.port}"]
        plans.append(NodePlan(i, name, kind, sampler, note, port, datadir, tuple(cmd)))
    return plans


def _poll(plan: NodePlan) -> dict[str, Any]:
    from poqw.crypto.keystore import export_public
    from poqw.node.info import chain_info

    row: dict[str, Any] = {"name": plan.name, "kind": plan.kind, "port": plan.port,
                           "height": None, "tip": None, "peers": None, "mined": 0,
                           "won": 0, "next_energy_bound": None, "rpc": None}
    try:
        info = chain_info(plan.datadir)
        row.update(height=info["height"], tip=info["tip"],
                   next_energy_bound=info["next_energy_bound"])
        address = export_public(plan.datadir / "miner.key")["address"]
        row["won"] = sum(m["blocks_won"] for m in info["miners"] if m["address"] == address)
    except (PoqwError, OSError):
        pass
    try:
        status = json.loads((plan.datadir / "network.json").read_text())
        row["peers"] = status["peer_count"]
        row["rpc"] = status.get("rpc")
    except (OSError, ValueError, KeyError):
        pass
    try:
        with open(plan.datadir.parent / f"{plan.name}.out", encoding="utf-8") as f:
            row["mined"] = sum(1 for line in f if line.startswith("block "))
    except OSError:
        pass
    return row


def _same_tip(rows: Sequence[dict[str, Any]]) -> bool:
    """Every node has a chain and all are on one tip."""
    tips = {r["tip"] for r in rows}
    return bool(rows) and None not in tips and len(tips) == 1


def _phase(rows: Sequence[dict[str, Any]], blocks: int | None) -> str:
    """What the network is doing now, in words (the first minute is otherwise a blank)."""
    if not rows or any(r["height"] is None for r in rows):
        return ("starting the node processes: each loads its libraries, opens its data directory "
                "and creates its miner key (10-30 s on a busy machine)")
    top = max(r["height"] for r in rows)
    if len(rows) > 1 and not all(r["peers"] for r in rows):
        connecting = ("connecting: each node dials the nodes started before it (QUIC on "
                      "127.0.0.1) and they check each other's genesis")
        if top == 0:
            return connecting + "; meanwhile each node already mines its own first block"
        return (connecting + "; until they meet each node mines alone, then the chain with the "
                "most work wins")
    if top == 0:
        return ("mining the first block: each node anneals puzzles derived from the genesis hash, "
                "its own address and a fresh salt until k spin vectors beat the energy bound")
    if not _same_tip(rows):
        if blocks is not None and all(r["height"] >= blocks for r in rows):
            return (f"height {blocks} reached, mining stopped: waiting for every node to settle "
                    f"on one tip (most work wins)")
        return ("mining: nodes see different tips until the newest block reaches them; the chain "
                "with the most work wins")
    if blocks is not None and top >= blocks:
        return f"every node is on the same tip at height {top}"
    return f"every node is on the same tip at height {top}; mining the next block"


def _view(rows: list[dict[str, Any]], started: float, genesis_time: str = "",
          blocks: int | None = None) -> Table:
    stamped = f", genesis stamped {genesis_time}" if genesis_time else ""
    table = Table(title=f"poqw devnet — {len(rows)} nodes, {time.time() - started:.0f} s"
                        f"{stamped}", caption=_phase(rows, blocks), caption_justify="left")
    for column in ("node", "miner", "port", "height", "tip", "peers", "mined here",
                   "on chain", "next energy bound", "rpc and explorer"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["name"], r["kind"], str(r["port"]), _shown(r["height"]),
                      _shown(r["tip"])[:14], _shown(r["peers"]), str(r["mined"]), str(r["won"]),
                      _shown(r["next_energy_bound"]), _shown(r.get("rpc")))
    return table


def _shown(value: Any) -> str:
    return "-" if value is None else str(value)


@contextmanager
def _running(plans: Sequence[NodePlan]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start every node in its own process group; on exit, SIGTERM (then SIGKILL) each group."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for plan in plans:
            plan.datadir.mkdir(parents=True, exist_ok=True)
            out = open(plan.datadir.parent / f"{plan.name}.out", "wb")  # noqa: SIM115
            procs.append(subprocess.Popen(plan.command, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True))
            out.close()
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.time() + 15
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _tips(rows: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    """Each tip the nodes are on, with the nodes on it."""
    tips: dict[str, list[str]] = {}
    for r in rows:
        tips.setdefault(str(r["tip"]), []).append(r["name"])
    return tips


def _last_error(plan: NodePlan) -> str:
    """The ``error:`` line a node printed before it exited, if any."""
    try:
        lines = (plan.datadir.parent / f"{plan.name}.out").read_text(errors="replace")
    except OSError:
        return ""
    errors = [line for line in lines.splitlines() if line.startswith("error:")]
    return errors[-1] if errors else ""


def run_network(plans: Sequence[NodePlan], blocks: int | None, as_json: bool,
                timeout: float, genesis_time: str = "",
                market: MarketDeployer | None = None) -> int:
    """Run the nodes with a live view (or quietly with ``as_json``); returns the exit status.

    With ``blocks`` it returns once every node has a peer and all are on one tip at height
    ``blocks`` or more (0), or when ``timeout`` passes or a node dies first (1, said plainly),
    or on Ctrl-C (130). Without ``blocks`` it runs until Ctrl-C (0).
    ``market`` (a :class:`poqw.market.devnet.MarketDeployer`) gets node 0's JSON-RPC URL each
    round.
    """
    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    started = time.time()
    rows: list[dict[str, Any]] = []
    status, timed_out = 0, False
    try:
        with _running(plans) as procs:
            live = None if as_json else Live(_view([], started, genesis_time, blocks),
                                             console=console, refresh_per_second=2,
                                             transient=True)
            if live is not None:
                live.start()
            try:
                while True:
                    rows = [_poll(p) for p in plans]
                    if live is not None:
                        live.update(_view(rows, started, genesis_time, blocks))
                    news = None if market is None else market.step(rows[0]["rpc"])
                    if news is not None:
                        (err_console if as_json else console).print(news, highlight=False)
                    joined = len(rows) == 1 or all(r["peers"] for r in rows)
                    if blocks is not None and joined and _same_tip(rows) and \
                            all((r["height"] or 0) >= blocks for r in rows):
                        break
                    dead = [p for p, proc in zip(plans, procs, strict=True)
                            if proc.poll() is not None]
                    if dead:
                        for plan in dead:
                            reason = _last_error(plan) or "no error line"
                            err_console.print(f"node {plan.name} exited early ({reason}); see "
                                              f"{plan.datadir.parent}/{plan.name}.out",
                                              highlight=False)
                        status = 1
                        break
                    if blocks is not None and time.time() - started > timeout:
                        status, timed_out = 1, True
                        break
                    time.sleep(0.5)
            except KeyboardInterrupt:
                rows = [_poll(p) for p in plans]  # the state when we were told to stop
                if blocks is not None:  # stopped before the goal: not a success
                    err_console.print(f"interrupted before every node agreed on one tip at "
                                      f"height {blocks}", highlight=False)
                    status = 130
            finally:
                if live is not None:
                    live.stop()
    finally:
        signal.signal(signal.SIGTERM, previous)
    converged = _same_tip(rows)
    if timed_out:
        where = "; ".join(f"{r['name']} at height {r['height']} on {str(r['tip'])[:14]}"
                          for r in rows)
        what = f"reach height {blocks}" if converged else f"agree on one tip at height {blocks}"
        err_console.print(f"the nodes did not {what} within {timeout:.0f} s: {where}",
                          highlight=False)
    if as_json:
        print_json({"run_dir": str(plans[0].datadir.parent), "ok": status == 0 and converged,
                    "converged": converged, "tips": _tips(rows),
                    "nodes": [{k: r[k] for k in ("name", "kind", "port", "height", "tip",
                                                 "peers", "mined", "won")} for r in rows]})
    else:
        console.print(_view(rows, started, genesis_time, blocks))
        if not converged and rows:
            console.print(f"the nodes ended on {len(_tips(rows))} different tips (not converged)",
                          highlight=False)
    return status


@command
def devnet(
    nodes: Annotated[int, typer.Option(help="How many node processes.")] = 3,
    miners: Annotated[str, typer.Option(
        help="Miner kind per node, comma-separated, cycled: cpu, qvm (match-strike QAOA), "
             "gpu (CUDA; the CPU annealer without a GPU) or qpu (D-Wave with DWAVE_API_TOKEN, "
             "else dwave-system's mock sampler).")] = "cpu",
    blocks: Annotated[int | None, typer.Option(
        help="Mine to this height, then stop once every node is on the same tip.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="No live view; print JSON at the end."
                                          )] = False,
    base_port: Annotated[int | None, typer.Option(
        help="Node i listens on BASE+i (default: free ports).")] = None,
    run_dir: Annotated[Path | None, typer.Option(
        help="Where data directories and logs go (default: a new temporary directory).")
                       ] = None,
    drift: Annotated[int | None, typer.Option(
        help="Allowed future drift of block timestamps in s (genesis default 15): larger "
             "lets a devnet run ahead of one block per second.")] = None,
    timeout: Annotated[float, typer.Option(
        help="Give up on --blocks (height and one common tip) after this many s.")
                       ] = 600.0,
    genesis: Annotated[Path | None, typer.Option(
        help="A genesis file to run instead of the built-in devnet (stamped with now), e.g. "
             "one with a shorter target interval.")] = None,
    market: Annotated[bool, typer.Option(
        help="Deploy the problem market on first start through node 0 with the funded dev "
             "key (RUN_DIR/market.json); not with --blocks, whose nodes stop mining.")] = True,
    print_only: Annotated[bool, typer.Option("--print-only",
                                             help="Print the node commands, start nothing.")
                          ] = False,
    log_level: LogLevelOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Start a local network of node processes on loopback and watch it."""
    setup_cli_logging(log_level, log_format)
    kinds = [k.strip() for k in miners.split(",") if k.strip()]
    if nodes < 1 or not kinds:
        raise typer.BadParameter("need at least one node and one miner kind")
    if blocks is not None and blocks < 1:
        raise typer.BadParameter("--blocks must be at least 1")
    start_network([kinds[i % len(kinds)] for i in range(nodes)], blocks, as_json, base_port,
                  run_dir, drift, timeout, print_only, genesis,
                  node_args=log_args(log_level, log_format), market=market and blocks is None)


def start_network(kinds: Sequence[str], blocks: int | None, as_json: bool,
                  base_port: int | None, run_dir: Path | None, drift: int | None,
                  timeout: float, print_only: bool, genesis_source: Path | None = None,
                  node_args: Sequence[str] = (), market: bool = False) -> None:
    """What ``devnet`` and ``simulate`` share: plan, then print or run (``node_args`` go to
    every node's command line; ``market`` deploys the problem market through node 0)."""
    directory = ensure_folder(run_dir, "--run-dir") if run_dir is not None else \
        Path(tempfile.mkdtemp(prefix="poqw-devnet-"))
    genesis = write_genesis(directory, drift, genesis_source)
    # with a height to reach, nodes stop mining there and keep serving, so they can converge
    extra = (*node_args, *(() if blocks is None else ("--stop-mining-at", str(blocks))))
    plans = plan_network(kinds, directory, genesis, base_port, extra)
    notes = {f"{p.kind}: {p.note}" for p in plans if p.note}
    for note in sorted(notes):
        err_console.print(f"[yellow]note:[/] {note}", highlight=False)
    if print_only:
        import shlex

        for plan in plans:
            sys.stdout.write(shlex.join(plan.command) + "\n")
        return
    if not as_json:
        console.print(f"run directory {directory} (genesis {genesis})", highlight=False)
    stamped = json.loads(genesis.read_text())["timestamp"]
    deployer = None
    if market:
        from poqw.market.devnet import MarketDeployer

        deployer = MarketDeployer(directory)
    status = run_network(plans, blocks, as_json, timeout,
                         time.strftime("%H:%M:%S", time.localtime(stamped)), deployer)
    if status:
        raise typer.Exit(status)
