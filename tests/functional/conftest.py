"""Fixtures of the functional tests: a ``network`` factory whose nodes are always stopped."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from framework import Network


@pytest.fixture()
def network(tmp_path: Path) -> Iterator[Callable[[int], Network]]:
    made: list[Network] = []

    def make(n: int) -> Network:
        net = Network(tmp_path, n)
        made.append(net)
        return net

    yield make
    for net in made:
        net.stop_all()
