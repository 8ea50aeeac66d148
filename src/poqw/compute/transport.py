"""Moving jobs between a coordinator and its solvers, and the loop that drives a solve.

A :class:`Transport` sends encoded jobs and commitment requests to named solvers and hands back
:class:`Reply` objects as they arrive; :func:`run_solve` drives a
:class:`~poqw.compute.coordinator.Coordinator` over any transport. Two are here:
:class:`InProcessTransport` (solver nodes in this process; tests and the single-machine path)
and :class:`DaskTransport` (stateless strike tasks on a Dask cluster's workers, for a trusted
cluster: it has no commitments to give). The layer-2 network transport for untrusted solvers
implements the same four methods over the project's QUIC connections.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from poqw.compute.coordinator import Coordinator, SolveSettings
from poqw.compute.jobs import Job, JobResult, SolverNode
from poqw.compute.strike_spec import StrikeRunner
from poqw.errors import ComputeError, ConfigError, JobRejected, ResultRejected
from poqw.problems import IsingModel

__all__ = [
    "DaskTransport",
    "InProcessTransport",
    "Reply",
    "Transport",
    "run_job",
    "run_solve",
    "solve_on_cluster",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    """What came back from a solver: a result, a commitment, or a failure (with its reason)."""

    solver: str
    kind: str  # "result", "commitment" or "failure"
    data: bytes = b""
    job_id: bytes = b""
    error: str = ""


class Transport(Protocol):
    """How a coordinator reaches its solvers."""

    def send_job(self, solver: str, job: bytes) -> None: ...

    def request_commitment(self, solver: str, job_ids: Sequence[bytes]) -> None: ...

    def wait(self, timeout: float) -> list[Reply]: ...

    def close(self) -> None: ...


class InProcessTransport:
    """Solver nodes in this process, answering at once; those in ``silent`` never answer."""

    def __init__(self, nodes: Mapping[str, SolverNode], silent: Sequence[str] = ()) -> None:
        self.nodes, self.silent = dict(nodes), set(silent)
        self.queue: list[Reply] = []

    def send_job(self, solver: str, job: bytes) -> None:
        if solver in self.silent:
            return
        try:
            self.queue.append(Reply(solver, "result", self.nodes[solver].handle_job(job)))
        except JobRejected as exc:
            self.queue.append(Reply(solver, "failure", job_id=Job.from_bytes(job).job_id,
                                    error=str(exc)))

    def request_commitment(self, solver: str, job_ids: Sequence[bytes]) -> None:
        if solver in self.silent:
            return
        try:
            self.queue.append(Reply(solver, "commitment",
                                    self.nodes[solver].handle_commit(job_ids)))
        except JobRejected as exc:
            self.queue.append(Reply(solver, "failure", error=str(exc)))

    def wait(self, timeout: float) -> list[Reply]:
        out, self.queue = self.queue, []
        return out

    def close(self) -> None:
        self.queue = []


_local = threading.local()


def run_job(model: IsingModel, job: bytes, backend: str = "fast") -> bytes:
    """Run one encoded job on this worker (a runner per model and thread is kept between
    calls, so the engine is built once)."""
    runners: dict[tuple[bytes, str], StrikeRunner] = getattr(_local, "runners", {})
    _local.runners = runners
    key = (model.content_hash(), backend)
    if key not in runners:
        runners.clear()  # one model at a time per thread: a state vector is large
        runners[key] = StrikeRunner(model, backend)
    decoded = Job.from_bytes(job)
    outcome = runners[key].run(decoded.spec)
    return JobResult(decoded.job_id, outcome.indices, outcome.energies).to_bytes()


class DaskTransport:
    """Each solver is a worker of a ``distributed.Client``'s cluster; the model is sent to
    every worker once. For trusted clusters: commitments are not available here."""

    def __init__(self, client: Any, model: IsingModel, backend: str = "fast") -> None:
        from poqw.compute.slicing import check_client

        check_client(client)
        self.client, self.backend = client, backend
        self.workers = sorted(client.scheduler_info()["workers"])
        if not self.workers:
            raise ConfigError("the Dask cluster has no workers")
        self.model = client.scatter(model, broadcast=True)
        self.futures: dict[Any, tuple[str, bytes]] = {}

    def send_job(self, solver: str, job: bytes) -> None:
        future = self.client.submit(run_job, self.model, job, self.backend, workers=[solver],
                                    allow_other_workers=False, pure=False)
        self.futures[future] = (solver, Job.from_bytes(job).job_id)

    def request_commitment(self, solver: str, job_ids: Sequence[bytes]) -> None:
        raise ConfigError("the Dask transport is for trusted clusters: run it with "
                          "verify_every=0 (no commitments, no spot checks)")

    def wait(self, timeout: float) -> list[Reply]:
        from distributed import wait

        if not self.futures:
            time.sleep(min(timeout, 0.01))
            return []
        try:
            wait(list(self.futures), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return []
        out = []
        for future in [f for f in self.futures if f.done()]:
            solver, job_id = self.futures.pop(future)
            if future.status == "finished":
                out.append(Reply(solver, "result", future.result(), job_id))
            else:
                out.append(Reply(solver, "failure", job_id=job_id,
                                 error=repr(future.exception())))
        return out

    def close(self) -> None:
        for future in self.futures:
            future.cancel()
        self.futures = {}


def _handle(coordinator: Coordinator, transport: Transport, reply: Reply,
            now: float) -> None:
    """Feed one job reply to the coordinator; a rejected result is logged once and its job
    stays outstanding (reassigned when it times out)."""
    if reply.kind == "failure":
        for solver, job in coordinator.on_failure(reply.solver, reply.job_id, reply.error, now):
            transport.send_job(solver, job)
        return
    try:
        coordinator.on_result(reply.solver, reply.data, now)
    except ResultRejected as exc:
        log.warning("rejected a result: %s", exc)
        coordinator.notes.append(f"rejected: {exc}")


def _verify(coordinator: Coordinator, transport: Transport, clock: Callable[[], float],
            poll: float) -> None:
    requests = coordinator.commitment_requests()
    for solver, job_ids in requests:
        transport.request_commitment(solver, job_ids)
    waiting = {solver for solver, _ in requests}
    deadline = clock() + coordinator.settings.timeout
    while waiting:
        for reply in transport.wait(poll):
            if reply.solver not in waiting:
                continue
            waiting.discard(reply.solver)
            try:
                if reply.kind != "commitment":
                    raise ComputeError(reply.error or f"answered with a {reply.kind}")
                coordinator.on_commitment(reply.solver, reply.data)
            except ComputeError as exc:
                coordinator.abandon_epoch(reply.solver, str(exc))
                return
        if waiting and clock() >= deadline:
            coordinator.abandon_epoch(sorted(waiting)[0], "no answer in time")
            return
    found = coordinator.verify_epoch()
    for evidence in found:
        log.warning("fraud: solver %s, leaf %d", evidence.signed.commitment.solver.hex(),
                    evidence.proof.index)


def run_solve(coordinator: Coordinator, transport: Transport,
              clock: Callable[[], float] = time.monotonic, poll: float = 0.05,
              on_round: Callable[[Coordinator], None] | None = None) -> dict[str, Any]:
    """Drive ``coordinator`` to the end of its solve over ``transport``; its summary."""
    while not coordinator.done:
        if coordinator.verification_due:
            _verify(coordinator, transport, clock, poll)
            continue
        for solver, job in coordinator.start_round(clock()):
            transport.send_job(solver, job)
        while not coordinator.round_complete:
            for reply in transport.wait(poll):
                _handle(coordinator, transport, reply, clock())
            for solver, job in coordinator.expire(clock()):
                transport.send_job(solver, job)
        coordinator.finish_round()
        if on_round is not None:
            on_round(coordinator)
    return coordinator.result()


def solve_on_cluster(model: IsingModel, settings: SolveSettings, client: Any, *,
                     state_path: str | None = None,
                     on_round: Callable[[Coordinator], None] | None = None) -> dict[str, Any]:
    """Match-strike on a trusted Dask cluster: every worker is a solver, strikes are cut into
    jobs as :class:`SolveSettings` says, and the answer is what one process would find with the
    same settings. ``state_path`` saves the solve after every round and resumes from it."""
    if settings.verify_every:
        raise ConfigError("a Dask cluster is trusted: spot checks (verify_every) are for the "
                          "network of untrusted solvers")
    transport = DaskTransport(client, model)
    try:
        coordinator = Coordinator(model, settings, transport.workers, state_path=state_path)
        start = time.perf_counter()
        doc = run_solve(coordinator, transport, on_round=on_round)
    finally:
        transport.close()
    doc["seconds"] = time.perf_counter() - start
    doc["dask"] = {"workers": len(transport.workers),
                   "jobs_per_strike": len(settings.job_sizes())}
    return doc
