"""Gate-model hardware through Qiskit: QAOA strikes on IBM Quantum devices or their fakes.

The ansatz of a model is built once per depth with symbolic angles and transpiled once for the
device (``generate_preset_pass_manager``); a strike only binds its (gammas, betas) and runs the
Sampler primitive of qiskit-ibm-runtime. Every result carries the device's calibration-derived
fidelity estimate ``F``: the product of ``1 - error`` over each gate and measurement of the
transpiled circuit, read from the device's ``Target``. Under a global depolarising model the
measured energies are ``F * ideal + (1 - F) * offset`` on average (the uniform distribution's
mean energy is the model's offset), which :func:`noise_corrected` inverts, so strikes from
machines of different fidelity are comparable; ``F`` is an estimate, not a guarantee.

Devices: ``ibm-fake`` runs one of qiskit-ibm-runtime's fake backends (a real device's coupling
map, basis gates and noise model, simulated locally by qiskit-aer); ``ibm`` runs on IBM Quantum
with the token in ``QISKIT_IBM_TOKEN`` (never logged, never stored by poqw). The spin of qubit
``j`` is ``1 - 2 * bit_j``, as in every poqw backend.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt

from poqw.errors import BackendUnavailable, ConfigError, ProblemTooLarge
from poqw.problems.model import IsingModel
from poqw.sim.statevector import check_angles

__all__ = [
    "DEFAULT_FAKE_DEVICE",
    "GateModelQAOA",
    "circuit_fidelity",
    "fake_device",
    "fake_device_names",
    "ibm_device",
    "noise_corrected",
]

DEFAULT_FAKE_DEVICE = "fake_guadalupe"  # 16 qubits: small enough to simulate with its noise
FAKE_DEVICE_ENV = "POQW_IBM_FAKE_DEVICE"
IBM_DEVICE_ENV = "POQW_IBM_DEVICE"
IBM_TOKEN_ENV = "QISKIT_IBM_TOKEN"  # qiskit-ibm-runtime's own variable name


def noise_corrected(value: float, fidelity: float, mixed: float) -> float:
    """Undo global depolarising noise of fidelity ``F`` on an energy average: the measured
    ``value = F * ideal + (1 - F) * mixed`` gives ``ideal``. ``F = 1`` returns ``value``."""
    if not 0.0 < fidelity <= 1.0:
        raise ConfigError(f"fidelity must be in (0, 1], got {fidelity!r}")
    return mixed + (value - mixed) / fidelity


def circuit_fidelity(circuit: Any, target: Any) -> float:
    """Product of ``1 - error`` over the operations of a transpiled ``circuit``, with each
    operation's calibrated error on its physical qubits from ``target`` (unknown: 0)."""
    fidelity = 1.0
    for instruction in circuit.data:
        name = instruction.operation.name
        if name in ("barrier", "delay") or name not in target:
            continue
        qargs = tuple(circuit.find_bit(q).index for q in instruction.qubits)
        properties = target[name].get(qargs)
        error = getattr(properties, "error", None)
        if error is not None:
            fidelity *= 1.0 - min(max(float(error), 0.0), 1.0)
    return fidelity


def fake_device_names() -> tuple[str, ...]:
    """The fake devices qiskit-ibm-runtime ships (``fake_guadalupe``, ``fake_brisbane``...)."""
    provider = _fake_provider()
    with warnings.catch_warnings():  # some snapshots warn that their numbers are not typical
        warnings.simplefilter("ignore", UserWarning)
        names = {b.name for b in provider.FakeProviderForBackendV2().backends()}
    return tuple(sorted(names))


def fake_device(name: str = DEFAULT_FAKE_DEVICE) -> Any:
    """The fake backend called ``name`` (a real device's snapshot, simulated by qiskit-aer)."""
    provider = _fake_provider()
    stem = "Fake" + name.removeprefix("fake_").replace("_", " ").title().replace(" ", "")
    for class_name in (stem, stem + "V2"):  # fake_guadalupe -> FakeGuadalupeV2
        cls = getattr(provider, class_name, None)
        if cls is not None:
            backend = cls()
            if backend.name == name:
                return backend
    raise ConfigError(f"no fake IBM device {name!r}; choose one of "
                      f"{', '.join(fake_device_names())}")


def ibm_device(name: str | None = None, *, token: str | None = None) -> Any:
    """A real IBM Quantum device: ``name`` or the least busy one, authenticated with
    ``token`` (else ``QISKIT_IBM_TOKEN``, else an account saved with qiskit-ibm-runtime)."""
    try:
        from qiskit_ibm_runtime import QiskitRuntimeService
    except ImportError as exc:
        raise BackendUnavailable("the 'ibm' backend needs qiskit-ibm-runtime "
                                 "(pip install qiskit-ibm-runtime)") from exc
    token = token or os.environ.get(IBM_TOKEN_ENV) or None
    try:
        service = (QiskitRuntimeService(token=token) if token else QiskitRuntimeService())
        return service.backend(name) if name else service.least_busy(operational=True,
                                                                     simulator=False)
    except Exception as exc:  # the service's own errors name no secret; ours must not either
        detail = type(exc).__name__
        raise BackendUnavailable(
            f"cannot reach IBM Quantum ({detail}): set {IBM_TOKEN_ENV} or save an account "
            f"with QiskitRuntimeService.save_account, and check the device name "
            f"{name or '(least busy)'}") from None


def _fake_provider() -> Any:
    try:
        from qiskit_ibm_runtime import fake_provider
    except ImportError as exc:
        raise BackendUnavailable("the 'ibm-fake' backend needs qiskit-ibm-runtime and "
                                 "qiskit-aer") from exc
    return fake_provider


def _make_sampler(device: Any, seed: int | None) -> Any:
    try:
        from qiskit_ibm_runtime.executor_sampler import Sampler
    except ImportError:  # older qiskit-ibm-runtime: the V2 primitive
        from qiskit_ibm_runtime import SamplerV2 as Sampler
    sampler = Sampler(mode=device)
    if seed is not None and hasattr(sampler.options, "simulator"):
        sampler.options.simulator.seed_simulator = seed  # fake devices only; ignored by hardware
    return sampler


class GateModelQAOA:
    """QAOA strikes of ``model`` on a Qiskit ``device`` (a ``BackendV2``).

    ``sample``/``strike``/``expectation`` follow the engine protocol of
    :mod:`poqw.sim.backends`; ``fidelity(p)`` is the estimate for depth ``p`` (a strike's
    circuit fidelity depends on its transpiled layout, not on its angles), and ``expectation``
    returns the noise-corrected energy mean of ``shots`` shots.
    """

    def __init__(self, model: IsingModel, device: Any, *, optimization_level: int = 1,
                 seed_transpiler: int = 1, expectation_shots: int = 1024) -> None:
        n = model.num_variables
        qubits = int(getattr(device, "num_qubits", 0) or 0)
        if n > qubits:
            raise ProblemTooLarge(f"{n} variables do not fit device {device.name!r} with "
                                  f"{qubits} qubits")
        if n == 0:
            raise ConfigError("the model has no variables")
        self.model = model
        self.device = device
        self.num_qubits = n
        self.optimization_level = optimization_level
        self.seed_transpiler = seed_transpiler
        self.expectation_shots = expectation_shots
        # what the scheduler assumes before the first strike is timed (a fake device simulates
        # its noise in about a second; a real one queues)
        fake = type(device).__module__.startswith("qiskit_ibm_runtime.fake_provider")
        self.strike_seconds_estimate = 2.0 if fake else 30.0
        self._compiled: dict[int, tuple[Any, Any, Any, float]] = {}  # p -> (isa, g, b, F)

    @property
    def name(self) -> str:
        return str(self.device.name)

    def compiled(self, p: int) -> tuple[Any, Any, Any, float]:
        """(transpiled circuit, gamma parameters, beta parameters, fidelity) for depth ``p``,
        built and transpiled once."""
        if p not in self._compiled:
            from qiskit import QuantumCircuit
            from qiskit.circuit import ParameterVector
            from qiskit.transpiler import generate_preset_pass_manager

            gammas, betas = ParameterVector("gamma", p), ParameterVector("beta", p)
            qc = QuantumCircuit(self.num_qubits)
            qc.h(range(self.num_qubits))
            m = self.model
            for layer in range(p):
                for q, hq in enumerate(m.h):
                    if hq != 0:
                        qc.rz(2 * float(hq) * gammas[layer], q)
                for (i, j), w in zip(m.edges, m.J, strict=True):
                    qc.rzz(2 * float(w) * gammas[layer], int(i), int(j))
                qc.rx(2 * betas[layer], range(self.num_qubits))
            qc.measure_all()
            manager = generate_preset_pass_manager(optimization_level=self.optimization_level,
                                                   backend=self.device,
                                                   seed_transpiler=self.seed_transpiler)
            isa = manager.run(qc)
            self._compiled[p] = (isa, gammas, betas, circuit_fidelity(isa, self.device.target))
        return self._compiled[p]

    def fidelity(self, p: int) -> float:
        return self.compiled(p)[3]

    def sample(self, gammas: npt.ArrayLike, betas: npt.ArrayLike, shots: int,
               rng: np.random.Generator | int) -> npt.NDArray[np.int8]:
        """``shots`` spin vectors (shots, n) int8 measured on the device."""
        g, b = check_angles(gammas, betas)
        if isinstance(shots, bool) or not isinstance(shots, int | np.integer) or shots < 1:
            raise ConfigError(f"shots must be a positive integer, got {shots!r}")
        isa, gp, bp, _ = self.compiled(len(g))
        values = {**dict(zip(gp, map(float, g), strict=True)),
                  **dict(zip(bp, map(float, b), strict=True))}
        generator = np.random.default_rng(rng)
        sampler = _make_sampler(self.device, int(generator.integers(2**31)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            result = sampler.run([(isa, [values[param] for param in isa.parameters])],
                                 shots=int(shots)).result()
        bitstrings = result[0].data.meas.get_bitstrings()
        # Qiskit prints qubit 0 last: character n-1-j is qubit j; spin = 1 - 2 * bit.
        bits = np.array([[c == "1" for c in s[::-1]] for s in bitstrings], dtype=np.int8)
        return (1 - 2 * bits).astype(np.int8)

    def strike(self, gammas: npt.ArrayLike, betas: npt.ArrayLike, shots: int,
               rng: np.random.Generator | int
               ) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float64], float]:
        """Samples, their energies, and the noise-corrected energy mean of those samples."""
        spins = self.sample(gammas, betas, shots, rng)
        energies = self.model.energies(spins)
        p = len(check_angles(gammas, betas)[0])
        mean = noise_corrected(float(energies.mean()), self.fidelity(p), self.model.offset)
        return spins, energies, mean

    def expectation(self, gammas: npt.ArrayLike, betas: npt.ArrayLike) -> float:
        """The energy mean estimated from ``expectation_shots`` shots, noise-corrected."""
        return self.strike(gammas, betas, self.expectation_shots, 0)[2]


def fake_backend(model: IsingModel, *, kernel: str = "fast", threads: int | None = None,
                 max_bond: int | None = None) -> GateModelQAOA:
    """Registry factory of ``ibm-fake``: the fake device named by ``POQW_IBM_FAKE_DEVICE``
    (default ``fake_guadalupe``). ``kernel``/``threads``/``max_bond`` do not apply."""
    return GateModelQAOA(model, fake_device(os.environ.get(FAKE_DEVICE_ENV, DEFAULT_FAKE_DEVICE)))


def ibm_backend(model: IsingModel, *, kernel: str = "fast", threads: int | None = None,
                max_bond: int | None = None) -> GateModelQAOA:
    """Registry factory of ``ibm``: the device named by ``POQW_IBM_DEVICE`` (else the least
    busy), on the account of ``QISKIT_IBM_TOKEN``."""
    return GateModelQAOA(model, ibm_device(os.environ.get(IBM_DEVICE_ENV) or None))
