"""Match-strike: shallow QAOA fired again and again, steered by a Bayesian controller.

:func:`solve` runs the loop: each strike samples one circuit, the samples are polished by local
search, a Gaussian-process controller picks the next angles, and a bandit shares the time budget
with classical samplers: they strike first, QAOA may take a capped share, and the answer is the
best of all arms, so never worse than what the classical arms found in the same run. A time
limit is hard: strikes are sized by measured cost to end before it.
:mod:`poqw.strike.benchmark` compares it with classical baselines; :mod:`poqw.strike.progress`
has a Rich live view for long runs.
"""

from poqw.strike.allocator import BudgetAllocator, improvement_reward
from poqw.strike.angles import AngleDomain, angle_domain, interp_angles, warm_start_angles
from poqw.strike.controllers import CONTROLLERS, Controller, make_controller
from poqw.strike.gp import GaussianProcess, fit_gp
from poqw.strike.loop import (
    ProgressUpdate,
    SamplerAllocation,
    SolveResult,
    StrikeRecord,
    solve,
)
from poqw.strike.objectives import OBJECTIVES, cvar, score_energies

__all__ = [
    "CONTROLLERS",
    "OBJECTIVES",
    "AngleDomain",
    "BudgetAllocator",
    "Controller",
    "GaussianProcess",
    "ProgressUpdate",
    "SamplerAllocation",
    "SolveResult",
    "StrikeRecord",
    "angle_domain",
    "cvar",
    "fit_gp",
    "improvement_reward",
    "interp_angles",
    "make_controller",
    "score_energies",
    "solve",
    "warm_start_angles",
]
