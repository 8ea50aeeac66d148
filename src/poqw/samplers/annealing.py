"""Simulated annealing: a thin wrapper over dwave-samplers' C++ ``SimulatedAnnealingSampler``.

dwave-samplers is the measured CPU reference (tens of millions of spin-flip attempts per second
per core) and releases the GIL, so the wrapper splits the reads into ``num_threads`` chunks, each
with its own seed derived from ``seed``, and runs them in worker threads. The result depends only
on ``seed``, ``num_reads``, ``num_threads`` and the schedule, never on timing. The calling thread
only waits, so Ctrl-C interrupts it at once: the workers are told to stop after their current
read and are left behind (daemon threads), instead of finishing a long anneal first.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

import numpy as np

from poqw.errors import SamplerError
from poqw.problems.model import IsingModel, SpinArray
from poqw.samplers.base import PoqwSampler, sampleset_spins, split_reads

__all__ = ["DEFAULT_NUM_THREADS", "SimulatedAnnealingSampler", "run_abandonable"]

Job = TypeVar("Job")

DEFAULT_NUM_THREADS = 2
MAX_NUM_THREADS = 256
SCHEDULES = ("geometric", "linear")


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) <= 0:
        raise SamplerError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_beta_range(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        low, high = (float(b) for b in value)
    except (TypeError, ValueError) as exc:
        raise SamplerError(f"beta_range must be a pair (beta_min, beta_max), got {value!r}") \
            from exc
    if not (np.isfinite(low) and np.isfinite(high) and 0 < low <= high):
        raise SamplerError(f"beta_range must satisfy 0 < beta_min <= beta_max, got {value!r}")
    return low, high


class SimulatedAnnealingSampler(PoqwSampler):
    """Simulated annealing (dwave-samplers), reads split over ``num_threads`` threads.

    Parameters: ``num_reads``, ``seed``, ``num_sweeps`` (default 1000), ``beta_range``
    (default: dwave-samplers' choice from the model's field sizes), ``beta_schedule_type``
    (``"geometric"`` or ``"linear"``), ``num_threads`` (default 2; part of the seed's meaning).
    """

    extra_parameters: ClassVar[dict[str, list[str]]] = {
        "num_sweeps": [], "beta_range": [], "beta_schedule_type": [], "num_threads": [],
    }

    def __init__(self, num_threads: int = DEFAULT_NUM_THREADS) -> None:
        self.num_threads = _check_positive_int("num_threads", num_threads)

    @property
    def properties(self) -> dict[str, Any]:
        return {**super().properties, "num_threads": self.num_threads,
                "cpu_count": os.cpu_count(), "engine": "dwave-samplers"}

    def _sample_model(self, model: IsingModel, num_reads: int | None, seed: int,
                      **parameters: Any) -> tuple[SpinArray, dict[str, Any]]:
        from dwave.samplers import SimulatedAnnealingSampler as DwaveSA

        assert num_reads is not None
        num_sweeps = _check_positive_int("num_sweeps", parameters.get("num_sweeps", 1000))
        threads = _check_positive_int("num_threads",
                                      parameters.get("num_threads", self.num_threads))
        if threads > MAX_NUM_THREADS:
            raise SamplerError(f"num_threads={threads} is more than {MAX_NUM_THREADS}")
        beta_range = _check_beta_range(parameters.get("beta_range"))
        schedule = parameters.get("beta_schedule_type", "geometric")
        if schedule not in SCHEDULES:
            raise SamplerError(f"beta_schedule_type must be one of {SCHEDULES}, got {schedule!r}")
        if model.num_variables == 0:
            return np.zeros((num_reads, 0), dtype=np.int8), {}
        bqm = model.to_bqm()
        chunks = split_reads(num_reads, threads)
        chunk_seeds = np.random.default_rng(seed).integers(0, 2**31 - 1, size=len(chunks))

        def run(chunk: int, chunk_seed: int, cancelled: threading.Event) -> SpinArray:
            result = DwaveSA().sample(bqm, num_reads=chunk, num_sweeps=num_sweeps,
                                   beta_range=beta_range, beta_schedule_type=schedule,
                                   seed=chunk_seed, interrupt_function=cancelled.is_set)
            return sampleset_spins(result, model.num_variables)

        jobs = list(zip(chunks, (int(s) for s in chunk_seeds), strict=True))
        parts = run_abandonable(lambda job, cancelled: run(*job, cancelled), jobs)
        return np.concatenate(parts, axis=0), {"num_sweeps": num_sweeps, "num_threads": threads}


def run_abandonable(run: Callable[[Job, threading.Event], SpinArray],
                    jobs: Sequence[Job]) -> list[SpinArray]:
    """``run(job, cancelled)`` for each job in its own daemon thread, results in order.

    The calling thread only waits (a wait that a signal interrupts), so a KeyboardInterrupt or
    any other exception raised there propagates at once: ``cancelled`` is set, the workers stop
    after their current read and nobody waits for them. A worker's exception is re-raised here.
    """
    cancelled = threading.Event()
    if len(jobs) == 1 and threading.current_thread() is not threading.main_thread():
        return [run(jobs[0], cancelled)]  # only the main thread gets signals: nothing to wait for
    results: list[SpinArray | BaseException | None] = [None] * len(jobs)

    def work(index: int, job: Job) -> None:
        try:
            results[index] = run(job, cancelled)
        except BaseException as exc:  # handed to the waiting thread, which re-raises it
            results[index] = exc

    workers = [threading.Thread(target=work, args=(i, job), daemon=True,
                                name=f"poqw-sampler-{i}") for i, job in enumerate(jobs)]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            worker.join()
    except BaseException:
        cancelled.set()
        raise
    parts: list[SpinArray] = []
    for result in results:
        if isinstance(result, BaseException):
            raise result
        assert result is not None
        parts.append(result)
    return parts
