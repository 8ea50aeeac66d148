"""Samplers behind one dimod-compatible interface, a name registry and a conformance suite.

Every sampler is a ``dimod.Sampler`` that also takes a poqw ``IsingModel``:
``get_sampler("simulated-annealing").sample(model, num_reads=64, seed=1)`` returns a
``dimod.SampleSet`` with energies recomputed from the model; :func:`spins_and_energies` gets the
arrays back. ``OceanSampler`` runs any Ocean sampler inside poqw; ``poqw.samplers.testing``
holds the checks every sampler must pass. The numba-compiled samplers load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from poqw.samplers.annealing import SimulatedAnnealingSampler
from poqw.samplers.base import (
    PoqwSampler,
    as_ising_model,
    build_sampleset,
    sampleset_spins,
    spins_and_energies,
)
from poqw.samplers.composites import SpinReversalComposite, gauge_transform
from poqw.samplers.ocean import OceanSampler
from poqw.samplers.registry import available_samplers, get_sampler, register_sampler
from poqw.samplers.simple import ExactSampler, RandomSampler

if TYPE_CHECKING:
    from poqw.samplers.descent import SteepestDescentSampler, polish, polish_reference
    from poqw.samplers.tempering import ParallelTemperingSampler

__all__ = [
    "ExactSampler",
    "OceanSampler",
    "ParallelTemperingSampler",
    "PoqwSampler",
    "RandomSampler",
    "SimulatedAnnealingSampler",
    "SpinReversalComposite",
    "SteepestDescentSampler",
    "as_ising_model",
    "available_samplers",
    "build_sampleset",
    "gauge_transform",
    "get_sampler",
    "polish",
    "polish_reference",
    "register_sampler",
    "sampleset_spins",
    "spins_and_energies",
]

_LAZY = {
    "SteepestDescentSampler": "poqw.samplers.descent",
    "polish": "poqw.samplers.descent",
    "polish_reference": "poqw.samplers.descent",
    "ParallelTemperingSampler": "poqw.samplers.tempering",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'poqw.samplers' has no attribute {name!r}")
