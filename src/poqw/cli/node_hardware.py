"""``poqw node gpu`` and ``poqw node qpu``: the node with a hardware miner, or the CPU annealer
with a plain ``note:`` saying why (``--require-gpu`` / ``--require-qpu`` make that an error).

Both take the flags of ``poqw node cpu`` that matter for them and run the same node
(:func:`poqw.cli.node.run_node`); only the puzzle solver differs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from poqw.cli import node_options as flags
from poqw.cli.common import command, err_console
from poqw.cli.node import app

__all__ = ["gpu", "qpu"]

def _genesis_of(cfg: Any) -> Any:
    from poqw.node.service import resolve_genesis

    return resolve_genesis(cfg.global_.genesis, cfg.datadir, time.time())[0]


def _say(kind: str, text: str) -> None:
    err_console.print(f"[yellow]{kind}:[/] {escape(text)}", highlight=False, soft_wrap=True)


@flags.node_command(app, "gpu")
def gpu(
    node: flags.NodeFlags,
    device: Annotated[list[int] | None, typer.Option(
        help="CUDA device index (repeat for several GPUs; default: devices in the config "
             "gpu table, else 0).")
                      ] = None,
    batch_size: Annotated[int | None, typer.Option(
        help="Puzzles (salts) per kernel launch (default: the config gpu table, 256).")] = None,
    require_gpu: Annotated[bool, typer.Option(
        "--require-gpu", help="Fail instead of falling back to the CPU annealer.")] = False,
) -> None:
    """Run a node that mines with simulated annealing on CUDA GPUs (CPU annealer if none)."""
    from poqw.node.hardware import gpu_solver

    cfg = node.config({"gpu.devices": device or None, "gpu.batch_size": batch_size})
    chain = _genesis_of(cfg)
    choice = gpu_solver(cfg, chain.k, require=require_gpu, topology=chain.topology)
    note = choice.fallback or f"mining on {choice.runs_on}"
    _say("note" if choice.fallback else "gpu", note)
    node.run(cfg, choice.solver, note)


@flags.node_command(app, "qpu")
def qpu(
    node: flags.NodeFlags,
    solver: Annotated[str | None, typer.Option(
        help="D-Wave solver name (default: the config qpu table, else the account's default); "
             "'mock' runs dwave-system's MockDWaveSampler, a classical stand-in.")] = None,
    token_file: Annotated[Path | None, typer.Option(
        help=".env-style file with DWAVE_API_TOKEN=... (else the environment variable "
             "or the config).", dir_okay=False)] = None,
    require_qpu: Annotated[bool, typer.Option(
        "--require-qpu", help="Fail instead of falling back to the CPU annealer.")] = False,
) -> None:
    """Run a node that mines on a D-Wave QPU through Ocean (CPU annealer without access)."""
    from poqw.errors import BackendUnavailable
    from poqw.node.hardware import cpu_solver
    from poqw.node.qpu import qpu_solver

    cfg = node.config({"qpu.solver": solver,
                       "qpu.token_file": None if token_file is None else str(token_file)})
    topology_genesis = _genesis_of(cfg)
    cfg.datadir.mkdir(parents=True, exist_ok=True)
    chosen: Any
    try:
        chosen = qpu_solver(cfg, topology_genesis.topology)
    except BackendUnavailable as exc:
        if require_qpu:
            raise BackendUnavailable(f"{exc}; --require-qpu was given, so the node does not "
                                     "fall back to the CPU annealer") from None
        note = f"{exc}: mining with the CPU annealer instead"
        _say("note", note)
        chosen = cpu_solver(cfg, topology_genesis.k)
    else:
        mock = " (a classical stand-in: no QPU is used)" if cfg.qpu.solver == "mock" else ""
        note = (f"mining on {chosen.label}{mock}; chain strength by uniform torque "
                f"compensation, majority-vote unembedding; embedding in {cfg.datadir / 'qpu'}")
        _say("qpu", note)
    node.run(cfg, chosen, note)


@app.command("capability")
@command
def capability(datadir: flags.Datadir = None, config: flags.Config = None,
               genesis: flags.Genesis = None,
               as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
               ) -> None:
    """Measure this machine (cores, memory, GPUs, QPU access, throughput) and print the
    capability record signed with the node key (DATADIR/p2p.key, made if missing). The record
    is saved as DATADIR/capability.rlp; a node running on DATADIR sends it to its peers."""
    from poqw.cli.common import console, print_json
    from poqw.node.capabilities import CAPABILITY_FILE
    from poqw.node.capability import decode_capability, measure_capability, sign_capability
    from poqw.node.network import load_node_key
    from poqw.node.qpu import find_token

    cfg = flags.node_config(config, datadir=datadir, genesis=genesis)
    chain = _genesis_of(cfg)
    qpu_kind = "mock" if cfg.qpu.solver == "mock" else (
        "d-wave" if find_token(cfg.qpu, None, cfg.datadir)[0] is not None else "none")
    measured = measure_capability(chain.chain_id, int(time.time()), chain.topology.edges,
                                  chain.topology.num_nodes, qpu=qpu_kind)
    cfg.datadir.mkdir(parents=True, exist_ok=True)
    record = sign_capability(measured, load_node_key(cfg.datadir)).encode()
    signed = decode_capability(record)  # what a peer would check
    saved = cfg.datadir / CAPABILITY_FILE  # a running node gossips it (re-read on change)
    tmp = saved.with_suffix(".tmp")
    tmp.write_bytes(record)
    tmp.replace(saved)
    doc = {"node_id": "0x" + signed.node_id.hex(), "record_bytes": len(record),
           "saved_to": str(saved),
           "record": "0x" + record.hex(), "chain_id": measured.chain_id,
           "cores": measured.cores, "memory_bytes": measured.memory_bytes,
           "gpus": [{"name": g.name, "memory_bytes": g.memory_bytes} for g in measured.gpus],
           "qpu": measured.qpu, "statevector_layer_ms_20_qubits":
               round(measured.statevector_layer_ns / 1e6, 3),
           "anneal_flips_per_s": measured.anneal_flips_per_s}
    if as_json:
        print_json(doc)
        return
    for key, value in doc.items():
        if key != "record":
            console.print(f"{key}: {value}", highlight=False)
