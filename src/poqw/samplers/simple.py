"""Two baseline samplers: uniformly random spins, and exact enumeration.

``RandomSampler`` is the floor every real sampler must beat. ``ExactSampler`` lists the lowest
states of the full energy diagonal (``poqw.problems.energy_diagonal``), or every ground state
(``poqw.problems.solve_exact``) when ``num_reads`` is not given; it is deterministic and refuses
models above ``max_variables``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from poqw.errors import ProblemTooLarge, SamplerError
from poqw.problems.exact import energy_diagonal, index_to_spins, solve_exact, spins_to_index
from poqw.problems.model import IsingModel, SpinArray
from poqw.samplers.base import PoqwSampler

__all__ = ["ExactSampler", "RandomSampler", "random_spins"]

DEFAULT_EXACT_VARIABLES = 24
EXACT_VARIABLES_LIMIT = 30


def random_spins(rng: np.random.Generator, num_reads: int, num_variables: int) -> SpinArray:
    """Uniformly random spin vectors (num_reads, num_variables) of int8."""
    bits = rng.integers(0, 2, size=(num_reads, num_variables), dtype=np.int8)
    return (1 - 2 * bits).astype(np.int8)


class RandomSampler(PoqwSampler):
    """Independent uniformly random spin vectors: the baseline, not an optimiser."""

    def _sample_model(self, model: IsingModel, num_reads: int | None, seed: int,
                      **parameters: Any) -> tuple[SpinArray, dict[str, Any]]:
        assert num_reads is not None
        return random_spins(np.random.default_rng(seed), num_reads, model.num_variables), {}


class ExactSampler(PoqwSampler):
    """Exhaustive enumeration: the ``num_reads`` lowest states, or all ground states.

    With ``num_reads=k`` the SampleSet holds the k lowest-energy states in order of energy, then
    basis index (at most ``2**n`` rows). Without ``num_reads`` it holds every ground state
    (within ``atol``). ``seed`` is accepted and ignored. Models with more than
    ``max_variables`` variables raise ``ProblemTooLarge``.
    """

    stochastic: ClassVar[bool] = False
    exact_num_reads: ClassVar[bool] = False  # at most 2**n rows; all ground states by default
    default_num_reads: ClassVar[int | None] = None
    extra_parameters: ClassVar[dict[str, list[str]]] = {"atol": []}

    def __init__(self, max_variables: int = DEFAULT_EXACT_VARIABLES) -> None:
        if not 0 <= max_variables <= EXACT_VARIABLES_LIMIT:
            raise SamplerError(f"max_variables must be in [0, {EXACT_VARIABLES_LIMIT}], "
                               f"got {max_variables}")
        self.max_variables = max_variables

    @property
    def properties(self) -> dict[str, Any]:
        return {**super().properties, "max_variables": self.max_variables}

    def _sample_model(self, model: IsingModel, num_reads: int | None, seed: int,
                      **parameters: Any) -> tuple[SpinArray, dict[str, Any]]:
        n = model.num_variables
        if n > self.max_variables:
            raise ProblemTooLarge(f"ExactSampler enumerates 2**n states; {n} variables is more "
                                  f"than its max_variables={self.max_variables}")
        atol = parameters.get("atol", 1e-9)
        if isinstance(atol, bool) or not isinstance(atol, int | float) or not atol >= 0.0:
            raise SamplerError(f"atol must be a non-negative number, got {atol!r}")
        if num_reads is None:
            first = solve_exact(model, max_states=64, atol=atol)
            result = first if first.num_ground_states <= 64 else solve_exact(
                model, max_states=first.num_ground_states, atol=atol)
            order = np.argsort(spins_to_index(result.states), kind="stable")
            return result.states[order], {"num_ground_states": result.num_ground_states}
        diagonal = energy_diagonal(model)
        k = min(num_reads, diagonal.shape[0])
        if k < diagonal.shape[0]:
            candidates = np.argpartition(diagonal, k - 1)[:k]
            # ties at the k-th energy: take the lowest indices so the result is canonical
            kth = diagonal[candidates].max()
            below = np.flatnonzero(diagonal < kth)
            at = np.flatnonzero(diagonal == kth)[: k - below.size]
            candidates = np.concatenate([below, at])
        else:
            candidates = np.arange(k)
        order = np.lexsort((candidates, diagonal[candidates]))
        return index_to_spins(candidates[order], n), {}
