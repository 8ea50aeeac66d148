"""Gate circuits: simulator against the QAOA diagonal path, Qiskit export, gate conventions."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit.quantum_info import Operator, Statevector

from poqw.errors import InvalidProblem, SimulationError
from poqw.problems import IsingModel, energy_diagonal, random_maxcut
from poqw.sim import Circuit, Gate, qaoa_circuit, simulate, to_qiskit
from poqw.sim.reference import qaoa_state_reference


def equal_up_to_phase(a: np.ndarray, b: np.ndarray, atol: float = 1e-10) -> bool:
    k = int(np.argmax(np.abs(b)))
    phase = a[k] / b[k]
    return bool(abs(abs(phase) - 1) < atol and np.allclose(a, phase * b, atol=atol))


def random_circuit(n: int, depth: int, seed: int) -> Circuit:
    rng = np.random.default_rng(seed)
    gates = []
    for _ in range(depth):
        name = str(rng.choice(["h", "x", "rx", "ry", "rz", "cnot", "cz", "rzz"]))
        qubits = tuple(int(q) for q in rng.choice(n, size=2 if name in
                                                  ("cnot", "cz", "rzz") else 1, replace=False))
        angle = float(rng.uniform(-3, 3)) if name in ("rx", "ry", "rz", "rzz") else 0.0
        gates.append(Gate(name, qubits, angle))
    return Circuit(n, tuple(gates))


def model_with_fields(n: int, seed: int) -> IsingModel:
    rng = np.random.default_rng(seed)
    pairs = np.array([(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.5])
    return IsingModel.from_arrays(rng.normal(size=n), pairs.reshape(-1, 2),
                                  rng.normal(size=len(pairs)), offset=1.5)


@pytest.mark.parametrize("seed", range(3))
def test_fast_circuit_simulator_equals_reference_and_qiskit(seed: int) -> None:
    circ = random_circuit(5, 40, seed)
    fast = simulate(circ, kernel="fast")
    ref = simulate(circ, kernel="reference")
    np.testing.assert_allclose(fast, ref, atol=1e-12)
    np.testing.assert_allclose(Statevector(to_qiskit(circ)).data, fast, atol=1e-10)


def test_gate_matrices_follow_qiskit_conventions() -> None:
    for name in ("h", "x", "rx", "ry", "rz", "cnot", "cz", "rzz"):
        arity = 2 if name in ("cnot", "cz", "rzz") else 1
        angle = 0.7 if name in ("rx", "ry", "rz", "rzz") else 0.0
        gate = Gate(name, tuple(range(arity)), angle)
        want = Operator(to_qiskit(Circuit(arity, (gate,)))).data
        np.testing.assert_allclose(gate.matrix(), want, atol=1e-12)


@pytest.mark.parametrize("p", [1, 2, 3])
def test_qaoa_circuit_equals_diagonal_path_up_to_global_phase(p: int) -> None:
    rng = np.random.default_rng(p)
    for model in (model_with_fields(6, p), random_maxcut(3, 8, seed=p)):
        g, b = rng.normal(size=p), rng.normal(size=p)
        want = qaoa_state_reference(energy_diagonal(model), g, b)
        circ = qaoa_circuit(model, g, b)
        got = simulate(circ)
        assert equal_up_to_phase(got, want)
        # the dropped phase is exactly exp(-i offset sum(gamma))
        np.testing.assert_allclose(got * np.exp(-1j * model.offset * g.sum()), want, atol=1e-10)
        assert equal_up_to_phase(Statevector(to_qiskit(circ)).data, want)


def test_circuit_validation() -> None:
    with pytest.raises(InvalidProblem, match="unknown gate"):
        Gate("toffoli", (0, 1, 2))
    with pytest.raises(InvalidProblem, match="acts on 2"):
        Gate("cnot", (0,))
    with pytest.raises(InvalidProblem, match="distinct"):
        Gate("cz", (1, 1))
    with pytest.raises(InvalidProblem, match="takes no angle"):
        Gate("h", (0,), 0.3)
    with pytest.raises(InvalidProblem, match="outside"):
        Circuit(2, (Gate("h", (2,)),))
    with pytest.raises(SimulationError, match="unknown circuit kernel"):
        simulate(Circuit(1), kernel="gpu-ish")
    with pytest.raises(InvalidProblem, match="gammas has 1 angles but betas has 2"):
        qaoa_circuit(random_maxcut(3, 4, seed=0), [0.1], [0.2, 0.3])
    joined = Circuit(2, (Gate("h", (0,)),)) + Circuit(2, (Gate("cnot", (0, 1)),))
    assert joined.count_ops() == {"h": 1, "cnot": 1}
    bell = simulate(joined)
    np.testing.assert_allclose(np.abs(bell) ** 2, [0.5, 0, 0, 0.5], atol=1e-12)
