"""Samplers by name, imported lazily so optional backends cost nothing until used.

Each name maps to ``"module:Class"``; :func:`get_sampler` imports the module on first use and
builds the sampler with the given keyword arguments. :func:`register_sampler` adds a name (for
plug-ins and tests).
"""

from __future__ import annotations

import importlib
from typing import Any

from poqw.errors import SamplerError, UnknownSampler

__all__ = ["available_samplers", "get_sampler", "register_sampler"]

_REGISTRY: dict[str, str] = {
    "exact": "poqw.samplers.simple:ExactSampler",
    "random": "poqw.samplers.simple:RandomSampler",
    "steepest-descent": "poqw.samplers.descent:SteepestDescentSampler",
    "simulated-annealing": "poqw.samplers.annealing:SimulatedAnnealingSampler",
    "qaoa": "poqw.samplers.qaoa:QAOASampler",
    "parallel-tempering": "poqw.samplers.tempering:ParallelTemperingSampler",
}


def available_samplers() -> list[str]:
    """The registered sampler names, in registration order."""
    return list(_REGISTRY)


def register_sampler(name: str, target: str, *, replace: bool = False) -> None:
    """Register ``target`` (``"package.module:Class"``) under ``name``."""
    module, sep, attribute = target.partition(":")
    if not name or not sep or not module or not attribute:
        raise SamplerError(f"register {name!r} as 'package.module:Class', got {target!r}")
    if name in _REGISTRY and not replace and _REGISTRY[name] != target:
        raise SamplerError(f"a sampler named {name!r} is already registered "
                           f"({_REGISTRY[name]}); pass replace=True to override it")
    _REGISTRY[name] = target


def get_sampler(name: str, **kwargs: Any) -> Any:
    """A new sampler registered under ``name``, built with ``kwargs``."""
    target = _REGISTRY.get(name)
    if target is None:
        raise UnknownSampler(f"no sampler named {name!r}; available: "
                             f"{', '.join(available_samplers())}")
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, attribute)
    except (ImportError, AttributeError) as exc:
        raise SamplerError(f"sampler {name!r} ({target}) cannot be loaded: {exc}") from exc
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise SamplerError(f"sampler {name!r} does not take these arguments: {exc}") from exc
