"""Layer-2 compute: a coordinator spreads match-strike over solvers and checks their work.

A strike is verifiable (:mod:`~poqw.compute.strike_spec`: its shots are a function of its spec),
solvers commit to their results with signed Merkle roots (:mod:`~poqw.compute.commitment`),
the verifier spot-checks challenged leaves and turns a failure into fraud evidence anyone can
check (:mod:`~poqw.compute.verifier`; :mod:`~poqw.compute.fixed_point` is the integer re-run
for on-chain settlement), and the coordinator drives the solve over any transport, Dask
included (:mod:`~poqw.compute.coordinator`, :mod:`~poqw.compute.transport`). Sliced
tensor-network contraction lives in :mod:`~poqw.compute.slicing`. Names are imported on use,
so importing this package stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Coordinator",
    "FraudEvidence",
    "Ledger",
    "SolveSettings",
    "SolverNode",
    "StrikeRunner",
    "StrikeSpec",
    "Verifier",
    "check_fraud_evidence",
    "run_solve",
    "solve_on_cluster",
]

_LAZY = {
    "Coordinator": "poqw.compute.coordinator",
    "SolveSettings": "poqw.compute.coordinator",
    "SolverNode": "poqw.compute.jobs",
    "Ledger": "poqw.compute.ledger",
    "StrikeRunner": "poqw.compute.strike_spec",
    "StrikeSpec": "poqw.compute.strike_spec",
    "FraudEvidence": "poqw.compute.verifier",
    "Verifier": "poqw.compute.verifier",
    "check_fraud_evidence": "poqw.compute.verifier",
    "run_solve": "poqw.compute.transport",
    "solve_on_cluster": "poqw.compute.transport",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'poqw.compute' has no attribute {name!r}")
