"""Whether a solver may work: its stake in the market's ``SolverRegistry``, checked by address.

A :class:`StakeCheck` answers with a refusal (a sentence) or ``None``. :class:`AllowAll` is the
local, chain-less mode; :class:`RegistryStakeCheck` asks a ``SolverRegistry`` over JSON-RPC
(web3.py) whether the solver's address is eligible, i.e. holds at least the minimum stake and is
not unbonding or slashed below it.
"""

from __future__ import annotations

from typing import Any, Protocol

from poqw.crypto.ecdsa import to_checksum_address
from poqw.errors import ConfigError

__all__ = ["AllowAll", "RegistryStakeCheck", "StakeCheck"]

# The one registry function read here (its Solidity signature: isEligible(address) -> bool).
_IS_ELIGIBLE_ABI = [{"type": "function", "name": "isEligible", "stateMutability": "view",
                     "inputs": [{"name": "solver", "type": "address"}],
                     "outputs": [{"name": "", "type": "bool"}]}]


class StakeCheck(Protocol):
    def refusal(self, address: bytes) -> str | None:
        """Why the solver with this 20-byte address may not work, or ``None``."""


class AllowAll:
    """No chain: every solver that proves its key may work (spot checks still apply)."""

    def refusal(self, address: bytes) -> str | None:
        return None


class RegistryStakeCheck:
    """Reads ``SolverRegistry.isEligible(address)`` at ``rpc_url``."""

    def __init__(self, rpc_url: str, registry: str, timeout: float = 10.0) -> None:
        from web3 import HTTPProvider, Web3

        self.web3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
        if not Web3.is_address(registry):
            raise ConfigError(f"SolverRegistry address {registry!r} is not an address")
        self.rpc_url = rpc_url
        self.contract: Any = self.web3.eth.contract(address=Web3.to_checksum_address(registry),
                                                    abi=_IS_ELIGIBLE_ABI)

    def refusal(self, address: bytes) -> str | None:
        who = to_checksum_address(address)
        try:
            eligible = bool(self.contract.functions.isEligible(who).call())
        except Exception as exc:
            return f"cannot read the stake of {who} from {self.rpc_url}: {exc}"
        return None if eligible else f"{who} is not staked in the SolverRegistry"
