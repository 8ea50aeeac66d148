"""From fraud evidence to an on-chain settlement: the arguments of ``StrikeFraudJudge.settle``.

A verifier that caught a faked leaf holds :class:`~poqw.compute.verifier.FraudEvidence` (the
signed commitment, the Merkle path, the leaf). The PoQW chain's judge contract re-runs the
leaf's strike through the strike precompile for the shot numbers it is given, so the reporter
names the shots that the integer re-run proves wrong (claimed index not the canonical one, and
the draw not ambiguous); a leaf with no such shot cannot be settled on chain.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from poqw.compute.commitment import StrikeLeaf
from poqw.compute.exact_strike import ExactStrike
from poqw.compute.strike_spec import energies_digest
from poqw.compute.verifier import FraudEvidence
from poqw.errors import InvalidCommitment
from poqw.problems import IsingModel

__all__ = ["MAX_SETTLED_SHOTS", "provably_faked_shots", "settle_arguments"]

#: The judge asks the precompile about at most this many shots per settlement.
MAX_SETTLED_SHOTS = 256


def provably_faked_shots(leaf: StrikeLeaf, model: IsingModel,
                         limit: int = MAX_SETTLED_SHOTS) -> list[int]:
    """The shot numbers (at most ``limit``) whose claimed index differs from the integer
    re-run's canonical draw where that draw is not ambiguous."""
    draws = ExactStrike(model).draws(leaf.spec)
    claimed = np.asarray(leaf.indices, dtype=np.int64)
    if claimed.shape != draws.indices.shape:
        raise InvalidCommitment(f"the leaf carries {claimed.size} shots, its spec "
                                f"{leaf.spec.shots}")
    wrong = (claimed != draws.indices) & ~draws.ambiguous
    return [int(k) for k in np.flatnonzero(wrong)[:limit]]


def settle_arguments(evidence: FraudEvidence, model: IsingModel) -> list[Any]:
    """``[commitment, proof, leaf, model, shots]`` for ``StrikeFraudJudge.settle`` (tuples for
    the Solidity structs), or :class:`InvalidCommitment` when the chain could not settle it."""
    shots = provably_faked_shots(evidence.leaf, model)
    if not shots:
        raise InvalidCommitment("no shot of the leaf is provably faked: the judge would find "
                                "no fraud (a leaf wrong only in its energies is settled off "
                                "chain)")
    c, leaf = evidence.signed.commitment, evidence.leaf
    return [(c.solver, c.batch, c.leaf_count, c.root, evidence.signed.signature),
            (evidence.proof.index, list(evidence.proof.siblings)),
            (leaf.spec.to_bytes(), np.asarray(leaf.indices, dtype=">u4").tobytes(),
             energies_digest(leaf.energies)),
            model.canonical_bytes(), shots]
