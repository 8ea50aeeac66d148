"""The problem market's Python SDK: customers post Ising problems with bounties, staked solvers
commit and reveal, the contracts check every energy and pay the best.

:func:`deploy_market` puts the contracts on any EVM node; :class:`MarketClient` does everything
else over JSON-RPC; :class:`SolverDaemon` watches for problems and solves them with a poqw
sampler; ``encoding`` holds the calldata form of problems, spins and commitments.
"""

from poqw.market.accounts import load_account
from poqw.market.client import CommitmentInfo, Deployment, MarketClient, ProblemInfo, connect
from poqw.market.contracts import decode_revert, load_artifact
from poqw.market.deploy import MarketSettings, deploy_market
from poqw.market.encoding import (
    ChainProblem,
    commitment_digest,
    decode_problem,
    encode_problem,
    new_salt,
    pack_spins,
    unpack_spins,
)

__all__ = ["ChainProblem", "CommitmentInfo", "Deployment", "MarketClient", "MarketSettings",
           "ProblemInfo", "commitment_digest", "connect", "decode_problem", "decode_revert",
           "deploy_market", "encode_problem", "load_account", "load_artifact", "new_salt",
           "pack_spins", "unpack_spins"]
