"""The GP surrogate, acquisition, CVaR, INTERP and angle periods, each against an oracle."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from poqw.errors import ConfigError
from poqw.problems import (
    IsingModel,
    maxcut_to_ising,
    random_maxcut,
    random_regular_graph,
    sherrington_kirkpatrick,
)
from poqw.strike.acquisition import expected_improvement, maximize_acquisition
from poqw.strike.angles import angle_domain, interp_angles, rational_gcd
from poqw.strike.gp import fit_gp, kernel_matrix, log_marginal_likelihood
from poqw.strike.objectives import cvar, score_energies

PERIODS = np.array([2 * math.pi, math.pi / 2])


def dense_kernel(a: np.ndarray, b: np.ndarray, ell: float, periods: np.ndarray) -> np.ndarray:
    """The periodic kernel written out entry by entry (MacKay's form)."""
    out = np.empty((len(a), len(b)))
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            total = 0.0
            for k, period in enumerate(periods):
                total += math.sin(math.pi * (x[k] - y[k]) / period) ** 2
            out[i, j] = math.exp(-2.0 * total / ell**2)
    return out


def observations(seed: int, count: int = 15) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(count, 2)) * PERIODS
    y = np.cos(x[:, 0]) + 0.5 * np.sin(4 * x[:, 1]) + 0.05 * rng.normal(size=count)
    return x, y


def test_kernel_matches_the_entrywise_formula() -> None:
    x, _ = observations(0)
    assert np.allclose(kernel_matrix(x, x[:5], 0.7, PERIODS), dense_kernel(x, x[:5], 0.7, PERIODS))


@pytest.mark.parametrize("k", [0, 1])
def test_kernel_is_periodic_in_each_angle(k: int) -> None:
    x, _ = observations(1)
    shifted = x.copy()
    shifted[:, k] += PERIODS[k] * 3
    assert np.allclose(kernel_matrix(x, shifted, 0.5, PERIODS), kernel_matrix(x, x, 0.5, PERIODS))
    half = x.copy()
    half[:, k] += PERIODS[k] / 2
    assert not np.allclose(kernel_matrix(x, half, 0.5, PERIODS), kernel_matrix(x, x, 0.5, PERIODS))


def test_posterior_matches_a_dense_computation() -> None:
    x, y = observations(2)
    gp = fit_gp(x, y, PERIODS, lengthscales=(0.6,), noise_ratios=(0.01,))
    test = np.random.default_rng(3).uniform(0, 1, size=(7, 2)) * PERIODS
    s2 = gp.variance * gp.y_scale**2  # signal variance in y units
    K = s2 * dense_kernel(x, x, 0.6, PERIODS) + s2 * 0.01 * np.eye(len(x))
    Ks = s2 * dense_kernel(test, x, 0.6, PERIODS)
    mean = y.mean() + Ks @ np.linalg.inv(K) @ (y - y.mean())
    var = s2 - np.einsum("ij,jk,ik->i", Ks, np.linalg.inv(K), Ks)
    got_mean, got_std = gp.predict(test)
    assert np.allclose(got_mean, mean, atol=1e-8)
    assert np.allclose(got_std**2, var, atol=1e-8)


def test_profiled_likelihood_is_the_gaussian_log_density_at_the_best_variance() -> None:
    x, y = observations(4)
    z = (y - y.mean()) / y.std()
    K0 = dense_kernel(x, x, 0.5, PERIODS) + 0.05 * np.eye(len(x))
    lml = log_marginal_likelihood(x, z, 0.5, 0.05, PERIODS)
    densities = {
        s2: scipy.stats.multivariate_normal(np.zeros(len(x)), s2 * K0).logpdf(z)
        for s2 in np.geomspace(0.01, 100, 401)
    }
    assert lml == pytest.approx(max(densities.values()), abs=1e-3)
    assert lml >= max(densities.values()) - 1e-9


def test_marginal_likelihood_prefers_long_lengthscales_for_smooth_data() -> None:
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 1, size=(25, 2)) * PERIODS
    smooth = fit_gp(x, np.cos(x[:, 0]), PERIODS)
    rough = fit_gp(x, np.cos(5 * x[:, 0]) * np.sin(7 * x[:, 1]), PERIODS)
    assert smooth.lengthscale > rough.lengthscale


def test_prediction_is_periodic() -> None:
    x, y = observations(6)
    gp = fit_gp(x, y, PERIODS)
    test = np.random.default_rng(7).uniform(0, 1, size=(5, 2)) * PERIODS
    assert np.allclose(gp.predict(test)[0], gp.predict(test + PERIODS * [1, -2])[0])


def test_bad_gp_input_is_refused() -> None:
    with pytest.raises(ConfigError, match="matching"):
        fit_gp(np.zeros((3, 2)), np.zeros(2), PERIODS)
    with pytest.raises(ConfigError, match="finite"):
        fit_gp(np.zeros((2, 2)), [0.0, math.nan], PERIODS)
    with pytest.raises(ConfigError, match="periods"):
        kernel_matrix(np.zeros((2, 3)), np.zeros((2, 3)), 1.0, PERIODS)


def synthetic(x: np.ndarray) -> np.ndarray:
    """A periodic landscape with its minimum -2 at (1.0, 0.3) on the box (2 pi, pi/2)."""
    x = np.atleast_2d(x)
    return -np.cos(x[:, 0] - 1.0) - np.cos(4 * (x[:, 1] - 0.3))


def test_expected_improvement_matches_its_closed_form() -> None:
    x = np.random.default_rng(8).uniform(0, 1, size=(10, 2)) * PERIODS
    gp = fit_gp(x, synthetic(x), PERIODS)
    test = np.random.default_rng(9).uniform(0, 1, size=(6, 2)) * PERIODS
    mu, sd = gp.predict(test)
    best = gp.predict(gp.x)[0].min()
    z = (best - mu) / sd
    closed = (best - mu) * scipy.stats.norm.cdf(z) + sd * scipy.stats.norm.pdf(z)
    assert np.allclose(expected_improvement(gp, test), closed)
    assert np.all(expected_improvement(gp, test) >= 0)


def test_acquisition_picks_a_point_near_the_minimum_of_a_periodic_function() -> None:
    rng = np.random.default_rng(10)
    x = rng.uniform(0, 1, size=(12, 2)) * PERIODS
    for _ in range(12):
        gp = fit_gp(x, synthetic(x), PERIODS)
        nxt = np.mod(maximize_acquisition(gp, PERIODS, rng), PERIODS)
        x = np.vstack([x, nxt])
    best = x[np.argmin(synthetic(x))]
    assert synthetic(best)[0] < -1.95
    assert np.allclose(best, [1.0, 0.3], atol=0.25)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("alpha", [0.01, 0.1, 0.25, 0.37, 1.0])
def test_cvar_matches_the_rockafellar_uryasev_formula(seed: int, alpha: float) -> None:
    rng = np.random.default_rng(seed)
    e = rng.integers(-10, 3, size=rng.integers(1, 60)).astype(float)
    # Lower-tail CVaR = max_t { t - E[(t - X)^+] / alpha }, attained at a sample point.
    oracle = max(t - np.maximum(t - e, 0).mean() / alpha for t in e)
    assert cvar(e, alpha) == pytest.approx(oracle)


def test_cvar_special_cases() -> None:
    e = np.array([3.0, -1.0, 2.0, -5.0, 0.0, 1.0, 4.0, -2.0, 7.0, 6.0])
    assert cvar(e, 1.0) == pytest.approx(e.mean())
    assert cvar(e, 0.2) == pytest.approx(-3.5)
    assert cvar(e, 0.1) == pytest.approx(-5.0)
    assert score_energies(e, "mean") == pytest.approx(e.mean())
    with pytest.raises(ConfigError, match="alpha"):
        cvar(e, 0.0)
    with pytest.raises(ConfigError, match="unknown objective"):
        score_energies(e, "median")


def test_interp_matches_the_published_formula() -> None:
    assert np.allclose(interp_angles([0.4, 0.7]), [0.4, 0.4, 0.7, 0.7])
    assert np.allclose(interp_angles([1.0, 3.0, 0.5, 0.1]), [1.0, 2.0, 3.0, 0.5, 0.3, 0.1])
    rng = np.random.default_rng(11)
    for p in range(1, 6):
        g, b = rng.uniform(size=p), rng.uniform(size=p)
        got = interp_angles(np.concatenate([g, b]))
        for angles, new in ((g, got[: p + 1]), (b, got[p + 1 :])):
            padded = [0.0, *angles, 0.0]
            for i in range(1, p + 2):
                expected = (i - 1) / p * padded[i - 1] + (p - i + 1) / p * padded[i]
                assert new[i - 1] == pytest.approx(expected)
    with pytest.raises(ConfigError, match="2p"):
        interp_angles([0.1, 0.2, 0.3])


def test_rational_gcd() -> None:
    assert rational_gcd([1.0, 2.0, 3.0]) == pytest.approx(1.0)
    assert rational_gcd([0.5, 1.5]) == pytest.approx(0.5)
    assert rational_gcd([4.0, 6.0]) == pytest.approx(2.0)
    assert rational_gcd([1.0, math.sqrt(2)]) is None
    assert rational_gcd([0.0]) is None


def qaoa_energy(model: IsingModel, gammas: list[float], betas: list[float]) -> float:
    from poqw.problems import energy_diagonal
    from poqw.sim.reference import qaoa_state_reference

    diag = energy_diagonal(model)
    psi = qaoa_state_reference(diag, gammas, betas)
    return float(np.dot(np.abs(psi) ** 2, diag))


@pytest.mark.parametrize(
    ("model", "gamma_period", "beta_period"),
    [
        (random_maxcut(3, 8, seed=1), 2 * math.pi, math.pi / 2),
        (maxcut_to_ising(random_regular_graph(4, 8, seed=2)), math.pi, math.pi / 2),
        (IsingModel.from_dicts({0: 1.0, 1: -1.0}, {(0, 1): 1.0, (1, 2): -1.0}), math.pi, math.pi),
    ],
)
def test_angle_periods_are_true_and_not_halvable(
    model: IsingModel, gamma_period: float, beta_period: float
) -> None:
    domain = angle_domain(model)
    assert domain.gamma_period == pytest.approx(gamma_period)
    assert domain.beta_period == pytest.approx(beta_period)
    g, b = [0.37, 1.1], [0.21, 0.45]
    base = qaoa_energy(model, g, b)
    assert qaoa_energy(model, [g[0] + gamma_period, g[1]], b) == pytest.approx(base)
    assert qaoa_energy(model, g, [b[0], b[1] + beta_period]) == pytest.approx(base)
    assert qaoa_energy(model, [g[0] + gamma_period / 2, g[1]], b) != pytest.approx(base)
    assert qaoa_energy(model, g, [b[0], b[1] + beta_period / 2]) != pytest.approx(base)


def test_incommensurate_couplings_have_no_gamma_period() -> None:
    domain = angle_domain(sherrington_kirkpatrick(8, seed=3))
    assert math.isinf(domain.gamma_period)
    assert domain.gamma_width > 0
    wrapped = domain.wrap([-1.0, 1e9, 0.1, 0.2])
    assert wrapped[0] == 0.0 and wrapped[1] == pytest.approx(domain.gamma_width)


def test_symmetric_kernel_makes_the_posterior_even() -> None:
    x, y = observations(12)
    gp = fit_gp(x, y, PERIODS, symmetric=True)
    test = np.random.default_rng(13).uniform(0, 1, size=(6, 2)) * PERIODS
    mean, std = gp.predict(test)
    mirrored_mean, mirrored_std = gp.predict(-test)
    assert np.allclose(mean, mirrored_mean) and np.allclose(std, mirrored_std)
    dense = 0.5 * (dense_kernel(x, test, 0.5, PERIODS) + dense_kernel(x, -test, 0.5, PERIODS))
    assert np.allclose(kernel_matrix(x, test, 0.5, PERIODS, symmetric=True), dense)
