"""The PoQW chain's EVM rules: Prague plus the strike precompile, from genesis.

Every PoQW chain runs Prague's opcodes and precompiles and, at 0x...504f5157, the strike precompile
of :mod:`poqw.execution.strike_precompile`. It is a consensus rule with no activation height:
a node without it would compute other state roots for any block that calls that address.
"""

from __future__ import annotations

from eth.vm.forks.prague.computation import PRAGUE_PRECOMPILES, PragueComputation
from eth.vm.forks.prague.state import PragueState
from eth_typing import Address as EvmAddress

from .strike_precompile import STRIKE_PRECOMPILE_ADDRESS, strike_precompile

__all__ = ["POQW_PRECOMPILES", "PoqwComputation", "PoqwState"]

POQW_PRECOMPILES = {**PRAGUE_PRECOMPILES,
                    EvmAddress(STRIKE_PRECOMPILE_ADDRESS): strike_precompile}


class PoqwComputation(PragueComputation):
    """Prague's computation with the strike precompile."""

    _precompiles = POQW_PRECOMPILES


class PoqwState(PragueState):
    """Prague's state with :class:`PoqwComputation` (so the precompile is also warm)."""

    computation_class = PoqwComputation
