"""Composites: samplers that wrap a sampler without changing the interface.

``SpinReversalComposite`` applies random gauge transforms: for a gauge ``g`` in {-1, +1}^n the
model ``h_i g_i, J_ij g_i g_j`` has exactly the energies of the original at ``s * g``, so the
child samples the gauged model and the composite multiplies its spins by ``g`` on return. This
averages out a solver's bias towards particular spin values (as on an analog QPU).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from dimod.core.sampler import Sampler

from poqw.errors import SamplerError
from poqw.problems.model import IsingModel, SpinArray
from poqw.samplers.base import PoqwSampler, sampleset_spins, split_reads
from poqw.samplers.ocean import OceanSampler

__all__ = ["SpinReversalComposite", "gauge_transform"]


def gauge_transform(model: IsingModel, gauge: np.ndarray) -> IsingModel:
    """The model with every spin ``i`` where ``gauge[i] == -1`` reversed."""
    g = np.asarray(gauge, dtype=np.float64)
    return IsingModel.from_arrays(model.h * g, model.edges,
                                  model.J * g[model.edges[:, 0]] * g[model.edges[:, 1]],
                                  model.offset)


class SpinReversalComposite(PoqwSampler):
    """Split the reads over ``num_spin_reversal_transforms`` random gauges of the model.

    ``child`` is a poqw sampler, or any dimod sampler (wrapped in :class:`OceanSampler`).
    Parameters: the child's, plus ``num_spin_reversal_transforms`` (default 1).
    """

    def __init__(self, child: Any) -> None:
        if not isinstance(child, PoqwSampler):
            if not isinstance(child, Sampler):
                raise SamplerError(f"SpinReversalComposite needs a sampler, "
                                   f"got {type(child).__name__}")
            child = OceanSampler(child)
        self.child = child
        self.stochastic = True  # type: ignore[misc]
        self.exact_num_reads = child.exact_num_reads  # type: ignore[misc]
        self.default_num_reads = child.default_num_reads  # type: ignore[misc]

    @property
    def children(self) -> list[Any]:
        return [self.child]

    @property
    def parameters(self) -> dict[str, list[str]]:
        return {**self.child.parameters, "num_spin_reversal_transforms": []}

    @property
    def properties(self) -> dict[str, Any]:
        return {**super().properties, "child_properties": self.child.properties}

    def _sample_model(self, model: IsingModel, num_reads: int | None, seed: int,
                      **parameters: Any) -> tuple[SpinArray, dict[str, Any]]:
        transforms = parameters.pop("num_spin_reversal_transforms", 1)
        if isinstance(transforms, bool) or not isinstance(transforms, int | np.integer) \
                or transforms <= 0:
            raise SamplerError("num_spin_reversal_transforms must be a positive integer, "
                               f"got {transforms!r}")
        rng = np.random.default_rng(seed)
        n = model.num_variables
        chunks = [None] if num_reads is None else split_reads(num_reads, int(transforms))
        parts = []
        for chunk in chunks:
            gauge = (1 - 2 * rng.integers(0, 2, size=n)).astype(np.int8)
            child_seed = int(rng.integers(0, 2**63))
            result = self.child.sample(gauge_transform(model, gauge), num_reads=chunk,
                                       seed=child_seed, **parameters)
            parts.append(sampleset_spins(result, n) * gauge)
        return np.concatenate(parts, axis=0).astype(np.int8), {"num_transforms": len(chunks)}
