"""Adapters between poqw and D-Wave Ocean: any ``dimod.Sampler`` used as a poqw sampler.

``OceanSampler(child)`` hands the child a SPIN BQM over ``0..n-1``, reads its SampleSet back
(any vartype, aggregated rows expanded) and recomputes every energy from the model, so a child's
energies are never trusted. ``num_reads`` and ``seed`` are passed on when the child takes them;
a child that ignores ``num_reads`` (``dimod.ExactSolver`` returns all ``2**n`` states) is cut
down to its ``num_reads`` lowest-energy rows. Without ``num_reads`` the child's rows all come back.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from dimod.core.sampler import Sampler

from poqw.errors import SamplerError
from poqw.problems.model import IsingModel, SpinArray
from poqw.samplers.base import PoqwSampler, sampleset_spins

__all__ = ["OceanSampler"]


class OceanSampler(PoqwSampler):
    """A poqw sampler backed by any Ocean (dimod) sampler ``child``.

    Parameters are ``num_reads``, ``seed`` and the child's own. The adapter is stochastic
    exactly when the child takes a ``seed``; a seed is reduced to 31 bits for the child
    (dwave-samplers' range).
    """

    exact_num_reads: ClassVar[bool] = False  # a child may return fewer rows than asked
    default_num_reads: ClassVar[int | None] = None  # without num_reads: the child's default

    def __init__(self, child: Any) -> None:
        if not isinstance(child, Sampler):
            raise SamplerError(f"OceanSampler needs a dimod.Sampler, got {type(child).__name__}")
        self.child = child
        self.stochastic = "seed" in child.parameters  # type: ignore[misc]

    @property
    def children(self) -> list[Any]:
        return [self.child]

    @property
    def parameters(self) -> dict[str, list[str]]:
        return {**dict(self.child.parameters), "num_reads": [], "seed": []}

    @property
    def properties(self) -> dict[str, Any]:
        return {**super().properties, "child_properties": dict(self.child.properties)}

    def _sample_model(self, model: IsingModel, num_reads: int | None, seed: int,
                      **parameters: Any) -> tuple[SpinArray, dict[str, Any]]:
        child_parameters = self.child.parameters
        kwargs = dict(parameters)
        if num_reads is not None and "num_reads" in child_parameters:
            kwargs["num_reads"] = num_reads
        if "seed" in child_parameters:
            kwargs["seed"] = int(np.random.default_rng(seed).integers(0, 2**31 - 1))
        try:
            result = self.child.sample(model.to_bqm(), **kwargs)
        except (ValueError, TypeError) as exc:
            raise SamplerError(f"{type(self.child).__name__} failed: {exc}") from exc
        spins = sampleset_spins(result, model.num_variables)
        if num_reads is not None and spins.shape[0] > num_reads:
            energies = model.energies(spins) if model.num_variables else np.zeros(len(spins))
            spins = spins[np.argsort(energies, kind="stable")[:num_reads]]
        return spins, {"child_info": dict(result.info)}
