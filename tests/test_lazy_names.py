"""Packages load a lazy name's module on first use only, and refuse unknown names plainly."""

from __future__ import annotations

import subprocess
import sys

import pytest

from poqw._lazy import lazy_names

LOADS_ON_USE = """
import sys
import poqw.node
assert "poqw.node.service" not in sys.modules, "imported before use"
assert poqw.node.Node.__module__ == "poqw.node.service"
"""


def test_a_lazy_name_imports_its_module_when_first_read() -> None:
    done = subprocess.run([sys.executable, "-c", LOADS_ON_USE], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_full_and_package_relative_module_names_and_unknown_names() -> None:
    lookup = lazy_names("poqw.compute", {"Ledger": "ledger", "MerkleTree": "poqw.compute.merkle"})
    assert lookup("Ledger").__module__ == "poqw.compute.ledger"
    assert lookup("MerkleTree").__module__ == "poqw.compute.merkle"
    with pytest.raises(AttributeError, match="module 'poqw.compute' has no attribute 'Nope'"):
        lookup("Nope")
