"""Per-solver throughput: a :class:`~poqw.compute.transport.Transport` that counts as it moves.

:class:`MeteredTransport` wraps any transport and records, for each solver, the jobs (strikes)
it answered, their shots (samples) and the time it held work: from a job sent to a solver that
had none until its last outstanding job came back. Rates are over that busy time, so a solver
idle while the round waits for a slower one is not charged for the wait. It only counts; what
the coordinator accepts, verifies and pays is the coordinator's and its ledger's business.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from poqw.compute.jobs import Job, JobResult
from poqw.compute.strike_spec import MAX_JOB_SHOTS
from poqw.compute.transport import Reply, Transport
from poqw.errors import ComputeError

__all__ = ["MeteredTransport", "SolverMeter"]


@dataclass
class SolverMeter:
    """One solver's answered jobs and shots, and the seconds it held outstanding work."""

    jobs: int = 0
    shots: int = 0
    busy_seconds: float = 0.0
    held: dict[bytes, int] = field(default_factory=dict)  # outstanding job id -> shots
    busy_since: float = 0.0

    @property
    def strikes_per_second(self) -> float:
        return self.jobs / self.busy_seconds if self.busy_seconds > 0 else 0.0

    @property
    def samples_per_second(self) -> float:
        return self.shots / self.busy_seconds if self.busy_seconds > 0 else 0.0

    def take(self, job_id: bytes, shots: int, now: float) -> None:
        if not self.held:
            self.busy_since = now
        self.held[job_id] = shots

    def settle(self, job_id: bytes, answered: bool, now: float) -> None:
        shots = self.held.pop(job_id, None)
        if shots is None:
            return
        if answered:
            self.jobs += 1
            self.shots += shots
        if not self.held:
            self.busy_seconds += now - self.busy_since


class MeteredTransport:
    """``inner`` with a :class:`SolverMeter` per solver in ``meters`` (see the module
    docstring); ``clock`` is read when jobs leave and replies arrive."""

    def __init__(self, inner: Transport, clock: Callable[[], float] = time.perf_counter) -> None:
        self.inner, self.clock = inner, clock
        self.meters: dict[str, SolverMeter] = {}

    def send_job(self, solver: str, job: bytes) -> None:
        decoded = Job.from_bytes(job)
        self.meters.setdefault(solver, SolverMeter()).take(decoded.job_id, decoded.spec.shots,
                                                           self.clock())
        self.inner.send_job(solver, job)

    def request_commitment(self, solver: str, job_ids: Sequence[bytes]) -> None:
        self.inner.request_commitment(solver, job_ids)

    def wait(self, timeout: float) -> list[Reply]:
        replies = self.inner.wait(timeout)
        now = self.clock()
        for reply in replies:
            meter = self.meters.get(reply.solver)
            if meter is None or reply.kind == "commitment":
                continue
            job_id = reply.job_id
            if not job_id and reply.kind == "result":  # in-process replies carry it inside
                try:
                    job_id = JobResult.from_bytes(reply.data, MAX_JOB_SHOTS).job_id
                except ComputeError:
                    continue  # the coordinator says why it refuses it
            meter.settle(job_id, reply.kind == "result", now)
        return replies

    def close(self) -> None:
        self.inner.close()
