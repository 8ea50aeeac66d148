"""poqw: Proof of Quantum Work.

Miners earn by solving Ising/MaxCut problems with quantum simulation and annealing; customers
post their own problems with bounties; every claim is checked. Subpackages are imported lazily
so ``import poqw`` stays light: ``poqw.problems``, ``poqw.sim``, ``poqw.samplers``,
``poqw.strike``.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import Any

try:  # one source of truth: the version in pyproject.toml, as installed
    __version__ = metadata.version("poqw")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0+unknown"
__all__ = ["__version__", "problems", "samplers", "sim", "strike"]

_SUBPACKAGES = {"problems", "sim", "samplers", "strike", "crypto", "chain", "execution", "node",
                "p2p", "compute", "api", "cli"}


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"poqw.{name}")
    raise AttributeError(f"module 'poqw' has no attribute {name!r}")
