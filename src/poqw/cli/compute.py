"""``poqw coordinator`` and ``poqw solver``: a solve spread over untrusted solvers over QUIC.

The coordinator listens (127.0.0.1 unless told otherwise), waits for ``--solvers`` solvers that
prove their node key and pass the stake check, runs match-strike with spot checks, bans a
solver caught faking strikes and prints the answer as JSON; with a chain (``--rpc`` and
``--deployment`` or ``--judge``) it also slashes frauds and pays verified batches there
(:mod:`poqw.compute.onchain`). A solver connects with its node key (``--key``, a hex secret file
made on first use) and works until the coordinator closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from pathlib import Path
from typing import Annotated

import typer

from poqw.cli.common import (
    ProblemFileArgument,
    RandomRegularOption,
    command,
    load_problem,
    print_json,
)
from poqw.cli.compute_chain import ChainOptions, chain_summary, resolve_chain
from poqw.errors import ConfigError
from poqw.p2p.identity import load_key_file
from poqw.p2p.policing import BanList

__all__ = ["coordinator", "solver"]

log = logging.getLogger(__name__)


def _host_port(value: str, flag: str) -> tuple[str, int]:
    from poqw.node.network import parse_peer

    try:
        return parse_peer(value)
    except ConfigError:
        raise ConfigError(f"{flag} {value!r} is not HOST:PORT") from None


@command
def coordinator(
    problem_file: ProblemFileArgument = None,
    random_regular: RandomRegularOption = None,
    listen: Annotated[str, typer.Option(help="HOST:PORT to listen on.")] = "127.0.0.1:20150",
    datadir: Annotated[Path, typer.Option(help="Key, TLS certificate and solve state.")] = Path(
        "poqw-coordinator"),
    solvers: Annotated[int, typer.Option(min=1, help="Solvers to wait for before starting.")] = 1,
    join_timeout: Annotated[float, typer.Option(help="Seconds to wait for them.")] = 120.0,
    seed: Annotated[int, typer.Option(help="Seed for the instance and the solve.")] = 0,
    p: Annotated[int, typer.Option(help="QAOA depth.")] = 2,
    shots: Annotated[int, typer.Option(help="Shots per strike.")] = 256,
    strikes: Annotated[int, typer.Option(help="Strikes (rounds) of the solve.")] = 20,
    job_shots: Annotated[int, typer.Option(help="Shots per job (a strike is cut into jobs).")
                         ] = 64,
    verify_every: Annotated[int, typer.Option(help="Rounds per spot-check epoch.")] = 2,
    checks: Annotated[int, typer.Option(help="Leaves spot-checked per solver and epoch.")] = 44,
    budget: Annotated[int, typer.Option(help="Payment units for verified samples.")] = 10**9,
    timeout: Annotated[float, typer.Option(help="Seconds before a job is reassigned.")] = 60.0,
    rpc: Annotated[str | None, typer.Option(
        "--rpc", metavar="URL", help="JSON-RPC of the chain holding the SolverRegistry.")] = None,
    registry: Annotated[str | None, typer.Option(
        help="SolverRegistry address (with --rpc): solvers must be eligible there.")] = None,
    min_fidelity: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, help="Lowest gate-model device fidelity estimate whose samples the "
        "solve accepts (devices then get jobs first); default: exact simulators only.")
        ] = None,
    judge: Annotated[str | None, typer.Option(
        help="StrikeFraudJudge address (with --rpc): frauds are slashed on chain.")] = None,
    deployment: Annotated[Path | None, typer.Option(
        help="Market deployment file: its registry and judge (poqw market deploy-judge).",
        dir_okay=False)] = None,
    reporter_key: Annotated[Path | None, typer.Option(
        help="Key file of the account that settles frauds (and earns the reporter's share).",
        dir_okay=False)] = None,
    payer_key: Annotated[Path | None, typer.Option(
        help="Key file of the account that pays verified batches in the native coin.",
        dir_okay=False)] = None,
    passphrase_file: Annotated[Path | None, typer.Option(
        help="File holding the key files' passphrase (else POQW_PASSPHRASE, else a prompt).",
        exists=True, dir_okay=False)] = None,
    price_per_shot: Annotated[int, typer.Option(
        min=0, help="Units (wei on chain) paid per verified shot.")] = 1,
    fee_per_check: Annotated[int, typer.Option(
        min=0, help="Units paid to the verifier per spot-checked strike.")] = 1,
) -> None:
    """Coordinate a solve over untrusted solvers (layer-2 protocol over QUIC)."""
    from poqw.compute.coordinator import Coordinator, SolveSettings
    from poqw.compute.hardware_jobs import refusal
    from poqw.compute.ledger import Ledger
    from poqw.compute.network import QuicCoordinatorTransport
    from poqw.compute.transport import run_solve
    from poqw.p2p.quic import ensure_tls_identity

    problem = load_problem(problem_file, random_regular, seed)
    host, port = _host_port(listen, "--listen")
    stake, chain = resolve_chain(ChainOptions(rpc, registry, judge, deployment, reporter_key,
                                              payer_key, passphrase_file))
    settings = SolveSettings(p=p, shots=shots, rounds=strikes, seed=seed, job_shots=job_shots,
                             timeout=timeout, verify_every=verify_every, checks=checks,
                             min_fidelity=min_fidelity)
    datadir.mkdir(parents=True, exist_ok=True)
    key = load_key_file(datadir / "coordinator.key")
    transport = QuicCoordinatorTransport(key, ensure_tls_identity(datadir), problem.model,
                                         stake=stake, bans=_saved_bans(datadir / "solve.json"))
    transport.admission = lambda profile: refusal(profile, min_fidelity)
    bound = transport.start(host, port)
    typer.echo(f"coordinator listening on {host}:{bound}", err=True)
    try:
        names = transport.wait_for_solvers(solvers, join_timeout)
        coord = Coordinator(problem.model, settings, names, state_path=datadir / "solve.json",
                            ledger=Ledger(budget, price_per_shot, fee_per_check),
                            verifier_name="coordinator" if chain is None else
                            chain.reporter.address, profiles=transport.profiles)
        if chain is not None:
            coord.on_epoch = chain
            chain.resume(coord)  # frauds and transfers a previous run left open
        transport.banned_source = lambda: set(coord.banned)
        transport.dismissed_source = lambda: dict(coord.hardware.refused)
        for note in coord.notes:
            typer.echo(note, err=True)

        def on_round(c: Coordinator) -> None:
            c.solvers += [s for s in transport.new_solvers() if s not in c.solvers]
            typer.echo(f"round {c.round}/{settings.rounds}: best {c.best_energy:g}, "
                       f"banned {len(c.banned)}", err=True)

        doc = run_solve(coord, transport, on_round=on_round)
        if chain is not None:
            chain.finish(coord)  # frauds and payments the node missed: a last try
            doc.update(chain_summary(chain, coord))
    finally:
        transport.close()
    doc["model"] = problem.source
    print_json(doc)


def _saved_bans(state: Path) -> BanList:
    """The solvers a saved solve banned, refused again from the first connection on (a state
    that does not read is left to the coordinator, which names the problem)."""
    from poqw.compute.network import BAN_SECONDS

    bans = BanList()
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
        for name in json.loads(state.read_text()).get("banned", []):
            bans.ban(f"node:{name}", time.monotonic(), BAN_SECONDS,
                     "banned earlier in this solve")
    return bans


@command
def solver(
    coordinator_address: Annotated[str, typer.Option(
        "--coordinator", metavar="HOST:PORT", help="The coordinator to work for.")],
    key: Annotated[Path, typer.Option(help="Node key file (hex secret; made on first use).")],
    datadir: Annotated[Path | None, typer.Option(
        help="Folder for the TLS certificate (default: beside the key).")] = None,
    backend: Annotated[str, typer.Option(
        help="Strike backend: fast or reference (exact), or a gate-model device: ibm-fake "
        "(POQW_IBM_FAKE_DEVICE) or ibm (QISKIT_IBM_TOKEN, POQW_IBM_DEVICE).")] = "fast",
    cheat_fraction: Annotated[float, typer.Option(hidden=True)] = 0.0,
    cheat_seed: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    """Work for a coordinator: run its jobs and commit to the results with your node key."""
    from poqw.compute.solver_client import run_solver
    from poqw.p2p.quic import ensure_tls_identity

    host, port = _host_port(coordinator_address, "--coordinator")
    node_key = load_key_file(key)
    identity = ensure_tls_identity(datadir or key.parent / f"{key.stem}-tls")
    outcome = asyncio.run(run_solver(node_key, identity, host, port, backend=backend,
                                     cheat_fraction=cheat_fraction, seed=cheat_seed))
    typer.echo(f"coordinator closed: {outcome.reason} ({outcome.jobs} jobs run)", err=True)
    if outcome.banned:
        raise ConfigError(f"this solver was banned: {outcome.reason}")
    if outcome.refused:
        raise ConfigError(outcome.reason)
