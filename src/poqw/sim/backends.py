"""The backend registry: names to lazily imported QAOA engines.

A backend is a factory ``factory(model, *, kernel, threads, max_bond) -> engine`` whose engine
has ``expectation(gammas, betas) -> float`` and ``sample(gammas, betas, shots, rng) -> (shots, n)
int8``. Entries are either callables or ``"package.module:Attribute"`` strings imported on first
use, so ``import poqw.sim`` stays light and a backend whose library is missing fails only when
chosen (with :class:`BackendUnavailable`). Another backend is added with one
:func:`register_backend` call or one line in ``_BUILTIN``. A factory with a true
``supports_dask`` attribute also takes ``client`` (a ``distributed.Client``) and
``slice_target_size``; they are passed only when given, and asking another backend for them is
a :class:`ConfigError`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from poqw.errors import BackendUnavailable, ConfigError, ProblemTooLarge, SimulationError
from poqw.problems.model import IsingModel

__all__ = [
    "AUTO_FALLBACK",
    "AUTO_LIGHTCONE_MAX_DEGREE",
    "AUTO_STATEVECTOR_MAX_QUBITS",
    "GATE_MODEL_BACKENDS",
    "QAOAEngine",
    "available_backends",
    "build_engine",
    "check_dask_options",
    "make_engine",
    "register_backend",
    "resolve_backend",
    "supports_dask",
]

AUTO_STATEVECTOR_MAX_QUBITS = 26
# 'auto' above the state-vector limit: light cones are exact for expectations on sparse graphs
# (and sample from an MPS); dense graphs have cones as large as the graph, so they go to the MPS.
AUTO_FALLBACK = ("lightcone", "mps")
AUTO_LIGHTCONE_MAX_DEGREE = 6

_BUILTIN: dict[str, str] = {
    "statevector": "poqw.sim.statevector:StateVectorQAOA",
    "mps": "poqw.sim.mps:MPSBackend",
    "lightcone": "poqw.sim.lightcone:LightconeBackend",
    # gate-model hardware through qiskit-ibm-runtime (never chosen by 'auto')
    "ibm": "poqw.sim.gate_model:ibm_backend",
    "ibm-fake": "poqw.sim.gate_model:fake_backend",
}
GATE_MODEL_BACKENDS = frozenset({"ibm", "ibm-fake"})
_registry: dict[str, str | Callable[..., Any]] = dict(_BUILTIN)


class QAOAEngine(Protocol):
    """What a backend factory returns."""

    def expectation(self, gammas: npt.ArrayLike, betas: npt.ArrayLike) -> float: ...

    def sample(self, gammas: npt.ArrayLike, betas: npt.ArrayLike, shots: int,
               rng: np.random.Generator | int) -> npt.NDArray[np.int8]: ...


def register_backend(name: str, factory: str | Callable[..., Any]) -> None:
    """Register (or replace) a backend: a factory, or ``"module.path:Attribute"``."""
    if not isinstance(name, str) or not name or name == "auto":
        raise SimulationError(f"backend name must be a non-empty string other than 'auto': "
                              f"{name!r}")
    if isinstance(factory, str) and ":" not in factory:
        raise SimulationError(f"backend target {factory!r} must look like 'package.module:Name'")
    if not isinstance(factory, str) and not callable(factory):
        raise SimulationError(f"backend factory for {name!r} must be callable or a path string")
    _registry[name] = factory


def available_backends() -> tuple[str, ...]:
    """Registered backend names (not all may import on this machine)."""
    return tuple(sorted(_registry))


def _load(name: str) -> Callable[..., Any]:
    target = _registry[name]
    if not isinstance(target, str):
        return target
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendUnavailable(f"backend {name!r} needs module {module_name} which cannot be "
                                 f"imported: {exc}") from exc
    try:
        factory: Callable[..., Any] = getattr(module, attr)
    except AttributeError as exc:
        raise BackendUnavailable(f"backend {name!r}: {module_name} has no {attr}") from exc
    return factory


def resolve_backend(name: str, num_qubits: int, max_degree: int = 0) -> str:
    """The concrete backend name for ``name`` ('auto' picks by size and sparsity)."""
    if name == "auto":
        if num_qubits <= AUTO_STATEVECTOR_MAX_QUBITS:
            return "statevector"
        for candidate in AUTO_FALLBACK:
            if candidate == "lightcone" and max_degree > AUTO_LIGHTCONE_MAX_DEGREE:
                continue
            if candidate in _registry:
                try:
                    _load(candidate)
                except BackendUnavailable:
                    continue
                return candidate
        raise ProblemTooLarge(f"{num_qubits} qubits is above the state-vector limit of "
                              f"{AUTO_STATEVECTOR_MAX_QUBITS} for 'auto' and no approximate "
                              f"backend ({', '.join(AUTO_FALLBACK)}) is available")
    if name not in _registry:
        raise SimulationError(f"unknown backend {name!r}; choose 'auto' or one of "
                              f"{', '.join(available_backends())}")
    return name


def supports_dask(name: str) -> bool:
    """Whether the concrete backend ``name`` takes a Dask ``client`` and ``slice_target_size``."""
    return bool(getattr(_load(name), "supports_dask", False))


def check_dask_options(requested: str, name: str, num_qubits: int, *, client: Any = None,
                       slice_target_size: int | None = None) -> None:
    """Raise :class:`ConfigError` if a client or slice target is given to a backend that
    cannot use them (``requested`` is what the user asked for, ``name`` what it resolved to)."""
    if client is None and slice_target_size is None:
        return
    if client is not None:
        from poqw.compute.slicing import check_client

        check_client(client)
    if supports_dask(name):
        return
    what = "a Dask client" if client is not None else "slice_target_size"
    why = (f"'auto' chose {name!r} for this {num_qubits}-variable model, which" if
           requested == "auto" else f"backend {name!r}")
    raise ConfigError(f"{what} was given but {why} cannot use it: only the 'lightcone' backend "
                      f"slices tensor networks (over a cluster); pass backend='lightcone' or "
                      f"drop the {'client' if client is not None else 'slice target'}")


def build_engine(model: IsingModel, backend: str = "auto", *, kernel: str = "fast",
                 threads: int | None = None, max_bond: int | None = None, client: Any = None,
                 slice_target_size: int | None = None) -> tuple[str, Any]:
    """The concrete backend name ``backend`` resolves to for ``model``, and its engine.

    ``client`` (a ``distributed.Client``) and ``slice_target_size`` go to backends that take
    them ('lightcone'); with any other backend, including one 'auto' picked, they are a
    :class:`ConfigError`.
    """
    degrees = model.degrees()
    name = resolve_backend(backend, model.num_variables,
                           int(degrees.max()) if degrees.size else 0)
    check_dask_options(backend, name, model.num_variables, client=client,
                       slice_target_size=slice_target_size)
    factory = _load(name)
    options: dict[str, Any] = {}
    if client is not None:
        options["client"] = client
    if slice_target_size is not None:
        options["slice_target_size"] = slice_target_size
    return name, factory(model, kernel=kernel, threads=threads, max_bond=max_bond, **options)


def make_engine(model: IsingModel, backend: str = "auto", *, kernel: str = "fast",
                threads: int | None = None, max_bond: int | None = None, client: Any = None,
                slice_target_size: int | None = None) -> Any:
    """Build the engine of ``backend`` for ``model``."""
    return build_engine(model, backend, kernel=kernel, threads=threads, max_bond=max_bond,
                        client=client, slice_target_size=slice_target_size)[1]
