"""Names a package loads on first use (PEP 562), so that importing the package stays light.

A package lists each lazy name with the module that defines it and sets
``__getattr__ = lazy_names(__name__, table)``; the module is imported the first time the name
is read.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(package: str, modules: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``modules`` maps a name to its module, in full
    (``poqw.sim.mps``) or under ``package`` (``mps``)."""

    def lazy_getattr(name: str) -> Any:
        if name not in modules:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = modules[name]
        if not module.startswith(f"{package}."):
            module = f"{package}.{module}"
        return getattr(importlib.import_module(module), name)

    return lazy_getattr
