"""Gate-level circuits as data, a state-vector simulator for them, and export to Qiskit.

A ``Circuit`` is a frozen list of gates on ``num_qubits`` qubits, with Qiskit's conventions:
``RX(t) = exp(-i t X/2)``, ``RY(t) = exp(-i t Y/2)``, ``RZ(t) = exp(-i t Z/2)``,
``RZZ(t) = exp(-i t Z(x)Z/2)``, ``CNOT`` as (control, target), qubit j is bit j of the basis
index (little-endian). ``qaoa_circuit`` writes the QAOA ansatz of an Ising model with these gates
(H on every qubit, then per layer RZ(2 gamma h_j), RZZ(2 gamma J_ij), RX(2 beta)); it equals the
diagonal-path state up to the global phase ``exp(-i gamma offset)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from poqw.errors import InvalidProblem, ProblemTooLarge, SimulationError
from poqw.problems.model import IsingModel
from poqw.sim.reference import ComplexArray
from poqw.sim.statevector import MAX_STATEVECTOR_QUBITS, check_angles

__all__ = ["GATES", "Circuit", "Gate", "qaoa_circuit", "simulate", "to_qiskit"]

# name -> (number of qubits, takes an angle)
GATES: dict[str, tuple[int, bool]] = {
    "h": (1, False), "x": (1, False), "rx": (1, True), "ry": (1, True), "rz": (1, True),
    "cnot": (2, False), "cz": (2, False), "rzz": (2, True),
}


@dataclass(frozen=True)
class Gate:
    """One gate: a name from ``GATES``, its qubits and (for rotations) its angle."""

    name: str
    qubits: tuple[int, ...]
    angle: float = 0.0

    def __post_init__(self) -> None:
        if self.name not in GATES:
            raise InvalidProblem(f"unknown gate {self.name!r}; known: {', '.join(GATES)}")
        arity, takes_angle = GATES[self.name]
        qubits = tuple(int(q) for q in self.qubits)
        if len(qubits) != arity:
            raise InvalidProblem(f"gate {self.name} acts on {arity} qubit(s), got {qubits}")
        if len(set(qubits)) != arity:
            raise InvalidProblem(f"gate {self.name} needs distinct qubits, got {qubits}")
        if not takes_angle and self.angle != 0.0:
            raise InvalidProblem(f"gate {self.name} takes no angle")
        if not np.isfinite(self.angle):
            raise InvalidProblem(f"gate {self.name} angle {self.angle} is not finite")
        object.__setattr__(self, "qubits", qubits)
        object.__setattr__(self, "angle", float(self.angle))

    def matrix(self) -> npt.NDArray[np.complex128]:
        """The gate's unitary, 2x2 or 4x4 (two-qubit: basis |q1 q0>, q0 = first qubit = bit 0)."""
        t = self.angle / 2
        c, s = np.cos(t), np.sin(t)
        mats: dict[str, Any] = {
            "h": np.array([[1, 1], [1, -1]]) / np.sqrt(2),
            "x": np.array([[0, 1], [1, 0]]),
            "rx": np.array([[c, -1j * s], [-1j * s, c]]),
            "ry": np.array([[c, -s], [s, c]]),
            "rz": np.diag([np.exp(-1j * t), np.exp(1j * t)]),
            "cnot": np.array([[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0], [0, 1, 0, 0]]),
            "cz": np.diag([1, 1, 1, -1]),
            "rzz": np.diag([np.exp(-1j * t), np.exp(1j * t), np.exp(1j * t), np.exp(-1j * t)]),
        }
        return np.asarray(mats[self.name], dtype=np.complex128)


@dataclass(frozen=True)
class Circuit:
    """A frozen gate list on ``num_qubits`` qubits, starting from |0...0>."""

    num_qubits: int
    gates: tuple[Gate, ...] = ()

    def __post_init__(self) -> None:
        if self.num_qubits < 1:
            raise InvalidProblem(f"a circuit needs at least one qubit, got {self.num_qubits}")
        gates = tuple(self.gates)
        for k, g in enumerate(gates):
            if not isinstance(g, Gate):
                raise InvalidProblem(f"gate {k} is a {type(g).__name__}, not a Gate")
            bad = [q for q in g.qubits if not 0 <= q < self.num_qubits]
            if bad:
                raise InvalidProblem(f"gate {k} ({g.name}) uses qubit {bad[0]} outside "
                                     f"0..{self.num_qubits - 1}")
        object.__setattr__(self, "gates", gates)

    def __add__(self, other: Circuit) -> Circuit:
        if other.num_qubits != self.num_qubits:
            raise InvalidProblem("cannot join circuits of different widths")
        return Circuit(self.num_qubits, self.gates + other.gates)

    def count_ops(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for g in self.gates:
            out[g.name] = out.get(g.name, 0) + 1
        return out


def qaoa_circuit(model: IsingModel, gammas: npt.ArrayLike, betas: npt.ArrayLike) -> Circuit:
    """The QAOA ansatz of ``model`` as gates (offset dropped: a global phase)."""
    g, b = check_angles(gammas, betas)
    n = model.num_variables
    gates = [Gate("h", (q,)) for q in range(n)]
    for gamma, beta in zip(g, b, strict=True):
        gates += [Gate("rz", (q,), 2 * gamma * hq) for q, hq in enumerate(model.h) if hq != 0]
        gates += [Gate("rzz", (int(i), int(j)), 2 * gamma * w)
                  for (i, j), w in zip(model.edges, model.J, strict=True)]
        gates += [Gate("rx", (q,), 2 * beta) for q in range(n)]
    return Circuit(n, tuple(gates))


# ---- reference simulator (numpy) ------------------------------------------------------------


def _apply_reference(psi: ComplexArray, gate: Gate) -> None:
    u = gate.matrix()
    if len(gate.qubits) == 1:
        view = psi.reshape(-1, 2, 1 << gate.qubits[0])
        a, b = view[:, 0, :].copy(), view[:, 1, :].copy()
        view[:, 0, :] = u[0, 0] * a + u[0, 1] * b
        view[:, 1, :] = u[1, 0] * a + u[1, 1] * b
        return
    q0, q1 = gate.qubits
    idx = np.arange(psi.shape[0])
    sub = ((idx >> q0) & 1) | (((idx >> q1) & 1) << 1)  # 2-qubit basis index per amplitude
    base = idx & ~((1 << q0) | (1 << q1))
    corners = [base | ((k & 1) << q0) | ((k >> 1) << q1) for k in range(4)]
    old = psi.copy()
    psi[:] = sum(u[sub, k] * old[corners[k]] for k in range(4))


# ---- fast simulator (numba) -----------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _apply_1q(psi: Any, q: int, u00: complex, u01: complex, u10: complex, u11: complex) -> None:
    st = 1 << q
    for base in range(0, psi.shape[0], 2 * st):
        for i in range(base, base + st):
            a = psi[i]
            b = psi[i + st]
            psi[i] = u00 * a + u01 * b
            psi[i + st] = u10 * a + u11 * b


@numba.njit(cache=True, nogil=True)
def _apply_diag2(psi: Any, q0: int, q1: int, phases: Any) -> None:
    for i in range(psi.shape[0]):
        psi[i] *= phases[((i >> q0) & 1) | (((i >> q1) & 1) << 1)]


@numba.njit(cache=True, nogil=True)
def _apply_cnot(psi: Any, control: int, target: int) -> None:
    cm, tm = 1 << control, 1 << target
    for i in range(psi.shape[0]):
        if (i & cm) and not (i & tm):
            j = i | tm
            psi[i], psi[j] = psi[j], psi[i]


def _apply_fast(psi: ComplexArray, gate: Gate) -> None:
    u = gate.matrix()
    if len(gate.qubits) == 1:
        _apply_1q(psi, gate.qubits[0], u[0, 0], u[0, 1], u[1, 0], u[1, 1])
    elif gate.name == "cnot":
        _apply_cnot(psi, gate.qubits[0], gate.qubits[1])
    else:
        _apply_diag2(psi, gate.qubits[0], gate.qubits[1], np.ascontiguousarray(np.diag(u)))


def simulate(circuit: Circuit, kernel: str = "fast") -> ComplexArray:
    """The state ``circuit |0...0>`` (2**n complex128); ``kernel`` 'reference' or 'fast'."""
    if kernel not in ("reference", "fast"):
        raise SimulationError(f"unknown circuit kernel {kernel!r}; choose 'reference' or 'fast'")
    n = circuit.num_qubits
    if n > MAX_STATEVECTOR_QUBITS:
        raise ProblemTooLarge(f"a state vector of {n} qubits is above the limit of "
                              f"{MAX_STATEVECTOR_QUBITS}")
    psi = np.zeros(1 << n, dtype=np.complex128)
    psi[0] = 1.0
    apply = _apply_fast if kernel == "fast" else _apply_reference
    for gate in circuit.gates:
        apply(psi, gate)
    return psi


def to_qiskit(circuit: Circuit) -> Any:
    """The same circuit as a ``qiskit.QuantumCircuit`` (Qiskit imported lazily)."""
    try:
        from qiskit import QuantumCircuit
    except ImportError as exc:  # pragma: no cover - qiskit is a dependency
        from poqw.errors import BackendUnavailable

        raise BackendUnavailable("to_qiskit needs qiskit") from exc
    qc = QuantumCircuit(circuit.num_qubits)
    for g in circuit.gates:
        q = g.qubits
        if g.name == "h":
            qc.h(q[0])
        elif g.name == "x":
            qc.x(q[0])
        elif g.name == "rx":
            qc.rx(g.angle, q[0])
        elif g.name == "ry":
            qc.ry(g.angle, q[0])
        elif g.name == "rz":
            qc.rz(g.angle, q[0])
        elif g.name == "cnot":
            qc.cx(q[0], q[1])
        elif g.name == "cz":
            qc.cz(q[0], q[1])
        else:
            qc.rzz(g.angle, q[0], q[1])
    return qc
