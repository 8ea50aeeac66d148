"""Controllers choose the angles of the next strike from the scores of the previous ones.

Every controller speaks ask/tell: ``ask()`` returns the next angle vector (gammas then betas),
``tell(angles, value)`` reports its score (lower is better). ``bayes`` is the adaptive one: a
periodic-kernel GP with expected improvement, warm-started from published fixed angles at depth 1
and grown to depth p by INTERP. ``fixed``, ``random``, ``nelder-mead`` and ``spsa`` are the
baselines it is compared against. The naive optimisers are written as generators that yield a
point and receive its value, which turns a textbook loop into ask/tell without threads.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from poqw.errors import ConfigError
from poqw.strike.acquisition import ACQUISITIONS, maximize_acquisition
from poqw.strike.angles import AngleDomain, interp_angles
from poqw.strike.gp import fit_gp

__all__ = [
    "CONTROLLERS",
    "BayesController",
    "Controller",
    "FixedController",
    "GeneratorController",
    "RandomController",
    "make_controller",
    "nelder_mead_steps",
    "ramp_angles",
    "spsa_steps",
]

FloatArray = npt.NDArray[np.float64]
WarmStart = Callable[[int], FloatArray | None]
CONTROLLERS: tuple[str, ...] = ("bayes", "fixed", "random", "nelder-mead", "spsa")


def ramp_angles(p: int, dt: float = 0.75) -> FloatArray:
    """A Trotterised linear anneal from ``-sum X`` to ``H`` (Sack & Serbyn 2021), the fallback.

    In the convention ``exp(-i beta sum X) exp(-i gamma H)``, step ``k`` of the anneal at
    ``s_k = (k - 1/2) / p`` is ``gamma_k = s_k dt`` and ``beta_k = -(1 - s_k) dt``.
    """
    s = (np.arange(1, p + 1) - 0.5) / p
    return np.concatenate([s * dt, -(1.0 - s) * dt])


@dataclass
class Controller:
    """Base class: records every (angles, value) it is told and the best of them."""

    domain: AngleDomain
    p: int
    name: str = "controller"
    observed: list[tuple[FloatArray, float]] = field(default_factory=list)

    def ask(self) -> FloatArray:
        raise NotImplementedError

    def tell(self, angles: npt.ArrayLike, value: float) -> None:
        if not math.isfinite(value):
            raise ConfigError(f"a strike's objective must be finite, got {value}")
        self.observed.append((np.asarray(angles, dtype=np.float64).copy(), float(value)))

    @property
    def best(self) -> tuple[FloatArray, float]:
        """The best observation so far (raw value; with noise it is optimistic)."""
        if not self.observed:
            raise ConfigError("no observation yet")
        return min(self.observed, key=lambda item: item[1])


def _start(domain: AngleDomain, p: int, warm_start: WarmStart | None) -> FloatArray:
    x = warm_start(p) if warm_start is not None else None
    return domain.wrap(ramp_angles(p) if x is None else x)


@dataclass
class FixedController(Controller):
    """Always the published fixed angles at depth p (the ramp when none are published)."""

    warm_start: WarmStart | None = None
    name: str = "fixed"

    def ask(self) -> FloatArray:
        return _start(self.domain, self.p, self.warm_start)


@dataclass
class RandomController(Controller):
    """Uniform random angles in the periodic box."""

    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    name: str = "random"

    def ask(self) -> FloatArray:
        return self.domain.random(self.p, self.rng)


Steps = Generator[FloatArray, float, None]


@dataclass
class GeneratorController(Controller):
    """Ask/tell over a generator that yields points and is sent their values."""

    steps: Steps | None = None
    pending: FloatArray | None = None

    def ask(self) -> FloatArray:
        if self.steps is None:
            raise ConfigError("controller has no optimiser")
        if self.pending is None:
            self.pending = next(self.steps)
        return self.domain.wrap(self.pending)

    def tell(self, angles: npt.ArrayLike, value: float) -> None:
        super().tell(angles, value)
        if self.steps is None or self.pending is None:
            raise ConfigError("tell() without a matching ask()")
        self.pending = self.steps.send(float(value))


def nelder_mead_steps(x0: FloatArray, step: FloatArray, tol: float = 1e-3) -> Steps:
    """Nelder–Mead (reflect 1, expand 2, contract 1/2, shrink 1/2), restarted when it collapses."""
    d = x0.shape[0]
    while True:
        simplex = [x0.copy()] + [x0 + step[i] * np.eye(d)[i] for i in range(d)]
        values = []
        for x in simplex:
            values.append((yield x))
        while True:
            order = np.argsort(values)
            simplex = [simplex[i] for i in order]
            values = [values[i] for i in order]
            spread = max(float(np.abs(x - simplex[0]).max()) for x in simplex[1:])
            if spread < tol:
                break
            centroid = np.mean(simplex[:-1], axis=0)
            reflected = centroid + (centroid - simplex[-1])
            fr = yield reflected
            if fr < values[0]:
                expanded = centroid + 2.0 * (centroid - simplex[-1])
                fe = yield expanded
                simplex[-1], values[-1] = (expanded, fe) if fe < fr else (reflected, fr)
            elif fr < values[-2]:
                simplex[-1], values[-1] = reflected, fr
            else:
                contracted = centroid + 0.5 * (simplex[-1] - centroid)
                fc = yield contracted
                if fc < values[-1]:
                    simplex[-1], values[-1] = contracted, fc
                else:
                    for i in range(1, d + 1):
                        simplex[i] = simplex[0] + 0.5 * (simplex[i] - simplex[0])
                        values[i] = yield simplex[i]
        x0 = simplex[0]


def spsa_steps(
    x0: FloatArray, rng: np.random.Generator, c: float = 0.1, first_step: float = 0.1
) -> Steps:
    """SPSA (Spall 1998): gains a_k = a/(k+1+A)^0.602, c_k = c/(k+1)^0.101.

    ``a`` is calibrated on the first gradient estimate so the first move is ``first_step``.
    """
    x = x0.copy()
    big_a, a = 10.0, 0.0
    k = 0
    while True:
        ck = c / (k + 1) ** 0.101
        delta = rng.choice(np.array([-1.0, 1.0]), size=x.shape[0])
        y_plus = yield x + ck * delta
        y_minus = yield x - ck * delta
        grad = (y_plus - y_minus) / (2.0 * ck) * delta
        if a == 0.0:
            magnitude = float(np.abs(grad).mean())
            a = first_step * (big_a + 1) ** 0.602 / magnitude if magnitude > 0 else 0.0
        x = x - a / (k + 1 + big_a) ** 0.602 * grad
        k += 1


@dataclass
class BayesController(Controller):
    """GP + acquisition, warm-started at depth ``p_start`` and grown to ``p`` by INTERP.

    At each depth the first strikes are the published angles (and the INTERP of the best angles
    from the depth below) plus ``initial_random`` uniform points (one random point anyway while
    the GP has fewer than two observations); after that each ask fits the GP to this depth's
    observations and maximises the acquisition. After ``strikes_per_depth`` strikes (default
    ``6 k`` at depth k: three per angle) at a depth below ``p`` the controller moves one up.
    Exploration is kept small on purpose: every strike's shots are also candidate solutions.
    The kernel's hyperparameters are re-chosen on the grid every ``refit_every`` observations
    (one Cholesky otherwise), and the GP sees at most the ``max_observations`` most recent
    strikes, so an ask stays cheap.
    """

    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    warm_start: WarmStart | None = None
    p_start: int = 1
    strikes_per_depth: int | None = None
    initial_random: int = 0
    acquisition: str = "ei"
    refit_every: int = 5
    max_observations: int = 100
    name: str = "bayes"
    depth: int = 0
    hyper: tuple[float, float] | None = None
    queue: list[FloatArray] = field(default_factory=list)
    level: list[tuple[FloatArray, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 1 <= self.p_start <= self.p:
            raise ConfigError(f"p_start must be in [1, p={self.p}], got {self.p_start}")
        if self.acquisition not in ACQUISITIONS:
            raise ConfigError(f"unknown acquisition {self.acquisition!r}")
        if self.strikes_per_depth is not None and self.strikes_per_depth < 1:
            raise ConfigError("strikes_per_depth must be at least 1")
        if self.refit_every < 1 or self.max_observations < 2:
            raise ConfigError("refit_every must be >= 1 and max_observations >= 2")
        self._enter(self.p_start, None)

    def _enter(self, depth: int, previous_best: FloatArray | None) -> None:
        self.depth = depth
        self.level = []
        self.hyper = None
        self.queue = [_start(self.domain, depth, self.warm_start)]
        if previous_best is not None:
            self.queue.insert(0, self.domain.wrap(interp_angles(previous_best)))
        self.queue += list(self.domain.random(depth, self.rng, self.initial_random))

    def ask(self) -> FloatArray:
        if self.queue:
            return self.queue[0]
        if len(self.level) < 2:
            return self.domain.random(self.depth, self.rng)
        window = self.level[-self.max_observations :]
        xs = np.array([x for x, _ in window])
        ys = np.array([y for _, y in window])
        periods, widths = self.domain.periods(self.depth), self.domain.widths(self.depth)
        if self.hyper is None or len(self.level) % self.refit_every == 0:
            gp = fit_gp(xs, ys, periods, widths, symmetric=True)
            self.hyper = (gp.lengthscale, gp.noise_ratio)
        else:
            ell, ratio = self.hyper
            gp = fit_gp(xs, ys, periods, widths, lengthscales=(ell,), noise_ratios=(ratio,),
                        symmetric=True)
        return self.domain.wrap(maximize_acquisition(gp, widths, self.rng, self.acquisition))

    def tell(self, angles: npt.ArrayLike, value: float) -> None:
        super().tell(angles, value)
        x = np.asarray(angles, dtype=np.float64)
        if x.shape[0] != 2 * self.depth:
            raise ConfigError(f"told {x.shape[0]} angles at depth {self.depth}")
        if self.queue and np.allclose(self.queue[0], x):
            self.queue.pop(0)
        self.level.append((x.copy(), float(value)))
        budget = self.strikes_per_depth or 6 * self.depth
        if self.depth < self.p and len(self.level) >= budget:
            best = min(self.level, key=lambda item: item[1])[0]
            self._enter(self.depth + 1, best)


def make_controller(
    name: str,
    domain: AngleDomain,
    p: int,
    rng: np.random.Generator,
    warm_start: WarmStart | None = None,
    **options: object,
) -> Controller:
    """A controller by name: one of ``CONTROLLERS``."""
    if not isinstance(p, int) or p < 1:
        raise ConfigError(f"depth p must be a positive integer, got {p!r}")
    if name == "bayes":
        return BayesController(domain, p, rng=rng, warm_start=warm_start, **options)  # type: ignore[arg-type]
    if name == "fixed":
        return FixedController(domain, p, warm_start=warm_start)
    if name == "random":
        return RandomController(domain, p, rng=rng)
    x0 = _start(domain, p, warm_start)
    if name == "nelder-mead":
        step = 0.1 * domain.widths(p)
        return GeneratorController(domain, p, name=name, steps=nelder_mead_steps(x0, step))
    if name == "spsa":
        return GeneratorController(domain, p, name=name, steps=spsa_steps(x0, rng))
    raise ConfigError(f"unknown controller {name!r}; choose one of {', '.join(CONTROLLERS)}")
