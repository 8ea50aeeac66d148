"""``QAOASampler``: the match-strike loop behind the dimod sampler interface.

A call runs :func:`poqw.strike.solve` on the model (by default the QAOA strike stream alone,
steered by the Bayesian controller) and returns the ``num_reads`` lowest-energy *distinct*
polished spin vectors it saw, lowest first. When the strikes saw fewer distinct vectors than
``num_reads`` the best ones are repeated, so the SampleSet always has ``num_reads`` rows; the
info dict says how many were distinct, how many strikes ran and any notes (such as a fallback to
classical samplers above the state-vector limit).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from poqw.errors import ConfigError, SamplerError
from poqw.problems.model import IsingModel, SpinArray
from poqw.samplers.base import PoqwSampler

__all__ = ["QAOASampler"]

_DEFAULTS: dict[str, Any] = {
    "p": 2,
    "shots": 64,
    "max_strikes": 20,
    "time_limit": None,
    "controller": "bayes",
    "objective": "cvar",
    "alpha": 0.1,
    "samplers": ("qaoa",),
    "target_energy": None,
    "kernel": "fast",
    "backend": "auto",
    "max_bond": 64,
}


class QAOASampler(PoqwSampler):
    """Match-strike QAOA with polish; parameters are those of :func:`poqw.strike.solve`.

    ``p`` (depth, default 2), ``shots`` per strike (64), ``max_strikes`` (20), ``time_limit``
    (seconds, None), ``controller`` ("bayes"), ``objective`` ("cvar"), ``alpha`` (0.1),
    ``samplers`` (("qaoa",); add "simulated-annealing" to share the budget), ``target_energy``,
    ``kernel`` ("fast"), ``backend`` ("auto": tensor networks above the state vector),
    ``max_bond`` (64). With ``time_limit`` the result depends on the machine's speed.
    """

    extra_parameters: ClassVar[dict[str, list[str]]] = {name: [] for name in _DEFAULTS}

    def _sample_model(self, model: IsingModel, num_reads: int | None, seed: int,
                      **parameters: Any) -> tuple[SpinArray, dict[str, Any]]:
        from poqw.strike import solve

        assert num_reads is not None
        n = model.num_variables
        if n == 0:
            return np.zeros((num_reads, 0), dtype=np.int8), {"distinct": 1}
        options = {**_DEFAULTS, **parameters}
        samplers = options.pop("samplers")
        if isinstance(samplers, str):
            samplers = (samplers,)
        try:
            result = solve(model, seed=seed, keep=num_reads, samplers=tuple(samplers), **options)
        except ConfigError as exc:
            raise SamplerError(f"QAOASampler: {exc}") from exc
        distinct = result.samples.shape[0]
        rows = np.resize(np.arange(distinct), num_reads)  # repeat the best when short
        info = {
            "distinct": distinct,
            "strikes": result.strikes,
            "found_by": result.found_by,
            "best_angles": result.best_angles,
            "notes": list(result.notes),
        }
        return np.ascontiguousarray(result.samples[rows]), info
