"""Parallel tempering (replica exchange): Metropolis chains at a ladder of temperatures.

Each read runs ``num_replicas`` copies of the system at inverse temperatures spaced
geometrically over ``beta_range``; a sweep offers every spin a Metropolis flip in every replica,
then neighbouring temperatures swap configurations with probability
``min(1, exp((beta_k - beta_{k+1}) (E_k - E_{k+1})))``, which keeps each replica's Boltzmann
distribution invariant while letting hot replicas carry the cold one out of local minima. A read
returns the lowest-energy state any replica visited. Reads are independent, each seeded from
``seed`` alone, so the result does not depend on how many threads ran them; the threads are
abandoned on Ctrl-C (see :func:`~poqw.samplers.annealing.run_abandonable`).
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import numba
import numpy as np

from poqw.errors import SamplerError
from poqw.problems.model import FloatArray, IntArray, IsingModel, SpinArray
from poqw.samplers.annealing import _check_beta_range, _check_positive_int, run_abandonable
from poqw.samplers.base import PoqwSampler, split_reads
from poqw.samplers.descent import csr_arrays

__all__ = ["ParallelTemperingSampler", "default_beta_range", "run_tempering"]


def default_beta_range(model: IsingModel) -> tuple[float, float]:
    """Hot end: the largest single-flip rise is accepted with probability 1/2; cold end: the
    smallest nonzero coupling or field step is accepted with probability 1/100."""
    magnitudes = np.concatenate([np.abs(model.h), np.abs(model.J)])
    nonzero = magnitudes[magnitudes > 0]
    if nonzero.size == 0:
        return 0.1, 1.0
    largest_field = np.abs(model.h).copy()
    np.add.at(largest_field, model.edges[:, 0], np.abs(model.J))
    np.add.at(largest_field, model.edges[:, 1], np.abs(model.J))
    hot = np.log(2.0) / (2.0 * float(largest_field.max()))
    cold = np.log(100.0) / (2.0 * float(nonzero.min()))
    return hot, max(cold, hot)


@numba.njit(cache=True, nogil=True)
def _temper_one(indptr: IntArray, indices: IntArray, weights: FloatArray, h: FloatArray,
                offset: float, betas: FloatArray, num_sweeps: int, seed: int,
                best_out: SpinArray, coldest_out: SpinArray) -> float:  # pragma: no cover
    """One read: returns the best energy; writes the best state and the final coldest state."""
    np.random.seed(seed)
    num_replicas = betas.shape[0]
    n = h.shape[0]
    spins = np.empty((num_replicas, n), dtype=np.int8)
    fields = np.empty((num_replicas, n), dtype=np.float64)
    energies = np.empty(num_replicas, dtype=np.float64)
    at_temperature = np.arange(num_replicas)  # replica index held at each temperature
    for r in range(num_replicas):
        for i in range(n):
            spins[r, i] = 1 if np.random.random() < 0.5 else -1
        e = offset
        for i in range(n):
            f = h[i]
            pair = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                f += weights[p] * spins[r, indices[p]]
                pair += weights[p] * spins[r, indices[p]]
            fields[r, i] = f
            e += spins[r, i] * (h[i] + 0.5 * pair)
        energies[r] = e
    best = np.inf
    for sweep in range(num_sweeps):
        for t in range(num_replicas):
            r = at_temperature[t]
            beta = betas[t]
            for i in range(n):
                delta = -2.0 * spins[r, i] * fields[r, i]
                if delta <= 0.0 or np.random.random() < np.exp(-beta * delta):
                    spins[r, i] = -spins[r, i]
                    twice = 2.0 * spins[r, i]
                    for p in range(indptr[i], indptr[i + 1]):
                        fields[r, indices[p]] += twice * weights[p]
                    energies[r] += delta
            if energies[r] < best:
                best = energies[r]
                best_out[:] = spins[r]
        for t in range(sweep % 2, num_replicas - 1, 2):  # alternate even and odd pairs
            a, b = at_temperature[t], at_temperature[t + 1]
            log_ratio = (betas[t] - betas[t + 1]) * (energies[a] - energies[b])
            if log_ratio >= 0.0 or np.random.random() < np.exp(log_ratio):
                at_temperature[t], at_temperature[t + 1] = b, a
    coldest_out[:] = spins[at_temperature[num_replicas - 1]]
    return best


def run_tempering(model: IsingModel, betas: FloatArray, num_sweeps: int,
                  read_seeds: IntArray, cancelled: threading.Event | None = None
                  ) -> tuple[SpinArray, SpinArray]:
    """Independent reads (one per seed): the best states and the final coldest states; when
    ``cancelled`` is set the remaining reads are skipped (their rows are left unset)."""
    k, n = read_seeds.shape[0], model.num_variables
    best = np.empty((k, n), dtype=np.int8)
    coldest = np.empty((k, n), dtype=np.int8)
    if n == 0:
        return best, coldest
    indptr, indices, weights = csr_arrays(model)
    for r in range(k):
        if cancelled is not None and cancelled.is_set():
            break
        _temper_one(indptr, indices, weights, model.h, model.offset, betas, num_sweeps,
                    int(read_seeds[r]), best[r], coldest[r])
    return best, coldest


class ParallelTemperingSampler(PoqwSampler):
    """Replica-exchange Monte Carlo (numba); each read returns the best state it visited.

    Parameters: ``num_reads``, ``seed``, ``num_sweeps`` (default 1000), ``num_replicas``
    (default 16), ``beta_range`` (default :func:`default_beta_range`), ``num_threads``
    (default 2; it changes the speed, never the result).
    """

    extra_parameters: ClassVar[dict[str, list[str]]] = {
        "num_sweeps": [], "num_replicas": [], "beta_range": [], "num_threads": [],
    }

    def __init__(self, num_threads: int = 2) -> None:
        self.num_threads = _check_positive_int("num_threads", num_threads)

    def _sample_model(self, model: IsingModel, num_reads: int | None, seed: int,
                      **parameters: Any) -> tuple[SpinArray, dict[str, Any]]:
        assert num_reads is not None
        num_sweeps = _check_positive_int("num_sweeps", parameters.get("num_sweeps", 1000))
        replicas = _check_positive_int("num_replicas", parameters.get("num_replicas", 16))
        threads = _check_positive_int("num_threads",
                                      parameters.get("num_threads", self.num_threads))
        if replicas > 1024:
            raise SamplerError(f"num_replicas={replicas} is more than 1024")
        low, high = _check_beta_range(parameters.get("beta_range")) or default_beta_range(model)
        betas = np.geomspace(low, high, replicas) if replicas > 1 else np.array([high])
        seeds = np.random.default_rng(seed).integers(0, 2**32 - 1, size=num_reads,
                                                     dtype=np.int64)
        chunks = split_reads(num_reads, threads)
        jobs = np.split(seeds, np.cumsum(chunks)[:-1])
        # in abandonable threads, so that Ctrl-C does not wait for the numba loops to finish
        parts = run_abandonable(
            lambda job, cancelled: run_tempering(model, betas, num_sweeps, job, cancelled)[0],
            jobs)
        info = {"num_sweeps": num_sweeps, "beta_range": (float(betas[0]), float(betas[-1]))}
        return np.concatenate(parts, axis=0), info
