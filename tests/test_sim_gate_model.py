"""Gate-model hardware backend: QAOA strikes on a fake IBM device (its real coupling map, basis
gates and calibrated noise model, simulated by qiskit-aer), fidelity estimates and weighting.

Nothing here runs on a real QPU: the 'ibm' backend's connection is tested only for its errors.
"""

from __future__ import annotations

import numpy as np
import pytest

from poqw.errors import BackendUnavailable, ConfigError, ProblemTooLarge
from poqw.problems.model import IsingModel
from poqw.sim.backends import build_engine
from poqw.sim.gate_model import (
    GateModelQAOA,
    circuit_fidelity,
    fake_device,
    ibm_device,
    noise_corrected,
)
from poqw.sim.statevector import StateVectorQAOA

pytest.importorskip("qiskit_aer", reason="fake IBM devices are simulated by qiskit-aer")

MODEL = IsingModel.from_dicts({0: 0.8, 2: -0.4}, {(0, 1): 0.7, (1, 2): -0.3}, offset=1.5)
GAMMAS, BETAS = [0.45], [0.35]


@pytest.fixture(scope="module")
def engine() -> GateModelQAOA:
    return GateModelQAOA(MODEL, fake_device("fake_guadalupe"))


def _distribution(spins: np.ndarray) -> np.ndarray:
    bits = (1 - spins.astype(np.int64)) // 2  # spin +1 is bit 0
    index = (bits << np.arange(spins.shape[1])).sum(axis=1)
    return np.bincount(index, minlength=2 ** spins.shape[1]) / len(index)


def test_noise_correction_inverts_the_depolarising_mixture() -> None:
    ideal, mixed, fidelity = -2.25, 1.5, 0.7
    measured = fidelity * ideal + (1 - fidelity) * mixed
    assert noise_corrected(measured, fidelity, mixed) == pytest.approx(ideal)
    assert noise_corrected(measured, 1.0, mixed) == measured
    with pytest.raises(ConfigError, match="fidelity"):
        noise_corrected(measured, 0.0, mixed)


def test_fake_device_samples_follow_the_exact_qaoa_distribution(engine: GateModelQAOA) -> None:
    exact = StateVectorQAOA(MODEL, kernel="reference").probabilities(GAMMAS, BETAS)
    measured = _distribution(engine.sample(GAMMAS, BETAS, 4000, 11))
    reversed_bits = exact.reshape(2, 2, 2).transpose(2, 1, 0).ravel()  # the wrong qubit order
    tvd = 0.5 * np.abs(measured - exact).sum()
    assert tvd < 0.12, (measured, exact)  # device noise, not a different state
    assert tvd < 0.5 * 0.5 * np.abs(measured - reversed_bits).sum()


def test_fidelity_comes_from_the_devices_calibration(engine: GateModelQAOA) -> None:
    one, two = engine.fidelity(1), engine.fidelity(2)
    assert 0.3 < two < one < 1.0  # deeper circuits have more noisy gates
    isa = engine.compiled(1)[0]
    target = engine.device.target
    expected = 1.0
    for instruction in isa.data:
        name = instruction.operation.name
        if name in target:
            props = target[name].get(tuple(isa.find_bit(q).index for q in instruction.qubits))
            if props is not None and props.error is not None:
                expected *= 1 - props.error
    assert circuit_fidelity(isa, target) == pytest.approx(expected) == pytest.approx(one)


def test_strike_returns_energies_and_a_noise_corrected_mean(engine: GateModelQAOA) -> None:
    spins, energies, mean = engine.strike(GAMMAS, BETAS, 500, 3)
    assert spins.shape == (500, 3) and set(np.unique(spins)) <= {-1, 1}
    np.testing.assert_allclose(energies, MODEL.energies(spins))
    assert mean == pytest.approx(noise_corrected(float(energies.mean()), engine.fidelity(1),
                                                 MODEL.offset))
    again = engine.sample(GAMMAS, BETAS, 500, 3)
    np.testing.assert_array_equal(spins, again)  # the simulator is seeded from the rng


def test_registry_and_solve_run_qaoa_on_the_fake_device(monkeypatch: pytest.MonkeyPatch) -> None:
    from poqw.strike import solve

    monkeypatch.setenv("POQW_IBM_FAKE_DEVICE", "fake_guadalupe")
    name, built = build_engine(MODEL, "ibm-fake")
    assert name == "ibm-fake" and built.name == "fake_guadalupe"
    result = solve(MODEL, backend="ibm-fake", samplers=("qaoa",), p=1, shots=64,
                   max_strikes=3, seed=5, controller="random")
    assert result.strikes == 3 and np.isfinite(result.energy)
    assert result.energy == pytest.approx(float(MODEL.energies(result.solution[None])[0]))
    assert any("fake_guadalupe" in note and "fidelity" in note for note in result.notes)


def test_model_larger_than_the_device_is_refused() -> None:
    wide = IsingModel.from_dicts({}, {(i, i + 1): 1.0 for i in range(6)})
    with pytest.raises(ProblemTooLarge, match="7 variables .* 5 qubits"):
        GateModelQAOA(wide, fake_device("fake_manila"))
    with pytest.raises(ConfigError, match="no fake IBM device"):
        fake_device("fake_nowhere")


def test_ibm_connection_error_names_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QISKIT_IBM_TOKEN", "secret-token-never-shown")
    with pytest.raises(BackendUnavailable) as caught:
        ibm_device("ibm_nowhere")
    assert "secret-token-never-shown" not in str(caught.value)
    assert "QISKIT_IBM_TOKEN" in str(caught.value)
