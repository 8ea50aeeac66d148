"""Backend registry, 'auto' selection, lazy imports and GPU path selection (no GPU needed)."""

from __future__ import annotations

import subprocess
import sys
import types
from typing import Any

import numpy as np
import pytest

from poqw.errors import BackendUnavailable, ProblemTooLarge, SimulationError
from poqw.problems import IsingModel, energy_diagonal, random_maxcut
from poqw.sim import (
    AUTO_STATEVECTOR_MAX_QUBITS,
    StateVectorQAOA,
    available_backends,
    backends,
    gpu,
    gpu_available,
    qaoa_expectation,
    qaoa_sample,
    register_backend,
)
from poqw.sim.reference import qaoa_state_reference


class ConstantEngine:
    """A toy backend: records its options, answers a constant."""

    def __init__(self, model: IsingModel, *, kernel: str, threads: int | None,
                 max_bond: int | None) -> None:
        self.model, self.kernel, self.max_bond = model, kernel, max_bond

    def expectation(self, gammas: Any, betas: Any) -> float:
        return 123.0 + (self.max_bond or 0)

    def sample(self, gammas: Any, betas: Any, shots: int, rng: Any) -> np.ndarray:
        return np.ones((shots, self.model.num_variables), dtype=np.int8)


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "_registry", dict(backends._registry))


def test_register_and_use_a_backend(clean_registry: None) -> None:
    register_backend("toy", ConstantEngine)
    model = random_maxcut(3, 6, seed=0)
    assert "toy" in available_backends()
    assert qaoa_expectation(model, [0.1], [0.2], backend="toy", max_bond=7) == 130.0
    assert qaoa_sample(model, [0.1], [0.2], 3, 0, backend="toy").shape == (3, 6)


def test_lazy_string_targets_and_missing_modules(clean_registry: None) -> None:
    module = types.ModuleType("poqw_fake_backend_mod")
    module.Engine = ConstantEngine  # type: ignore[attr-defined]
    sys.modules["poqw_fake_backend_mod"] = module
    try:
        register_backend("lazy", "poqw_fake_backend_mod:Engine")
        assert qaoa_expectation(random_maxcut(3, 4, seed=0), [0.1], [0.2], backend="lazy") == 123
    finally:
        del sys.modules["poqw_fake_backend_mod"]
    register_backend("ghost", "poqw_no_such_module_xyz:Engine")
    with pytest.raises(BackendUnavailable, match="ghost"):
        qaoa_expectation(random_maxcut(3, 4, seed=0), [0.1], [0.2], backend="ghost")
    with pytest.raises(SimulationError, match="package.module:Name"):
        register_backend("bad", "no_colon_here")
    with pytest.raises(SimulationError, match="'auto'"):
        register_backend("auto", ConstantEngine)


def test_unknown_backend_is_a_clear_error() -> None:
    with pytest.raises(SimulationError, match="unknown backend 'quantum-magic'"):
        qaoa_expectation(random_maxcut(3, 4, seed=0), [0.1], [0.2], backend="quantum-magic")


def test_auto_uses_statevector_up_to_the_threshold(clean_registry: None) -> None:
    assert backends.resolve_backend("auto", AUTO_STATEVECTOR_MAX_QUBITS) == "statevector"
    for name in backends.AUTO_FALLBACK:
        backends._registry.pop(name, None)
    with pytest.raises(ProblemTooLarge, match="above the state-vector limit"):
        backends.resolve_backend("auto", AUTO_STATEVECTOR_MAX_QUBITS + 1)
    register_backend("mps", ConstantEngine)
    assert backends.resolve_backend("auto", AUTO_STATEVECTOR_MAX_QUBITS + 1) == "mps"
    model = random_maxcut(3, 8, seed=1)
    g, b = [0.3], [0.4]
    want = float(np.dot(np.abs(qaoa_state_reference(energy_diagonal(model), g, b)) ** 2,
                        energy_diagonal(model)))
    assert qaoa_expectation(model, g, b) == pytest.approx(want, abs=1e-10)


def test_import_poqw_sim_stays_light() -> None:
    code = ("import sys, poqw.sim; heavy = [m for m in ('numba', 'qiskit', 'torch', 'cupy') "
            "if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_gpu_selection_prefers_cupy_then_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_cupy, fake_torch = object(), object()
    monkeypatch.setattr(gpu, "_cupy_ready", lambda: fake_cupy)
    monkeypatch.setattr(gpu, "_torch_ready", lambda: fake_torch)
    assert gpu.select_gpu_library() == ("cupy", fake_cupy)
    assert gpu.select_gpu_library(prefer="torch") == ("torch", fake_torch)
    monkeypatch.setattr(gpu, "_cupy_ready", lambda: None)
    assert gpu.select_gpu_library() == ("torch", fake_torch)
    monkeypatch.setattr(gpu, "_torch_ready", lambda: None)
    with pytest.raises(BackendUnavailable, match="CuPy or PyTorch"):
        gpu.select_gpu_library()
    assert gpu_available() is False
    model = random_maxcut(3, 6, seed=0)
    with pytest.raises(BackendUnavailable):
        StateVectorQAOA(model, kernel="gpu")
    assert StateVectorQAOA(model, kernel="auto").kernel == "fast"  # falls back without a GPU


def test_gpu_probes_report_unusable_without_a_device() -> None:
    # on this machine: no CuPy/torch or no CUDA device -> probes say None, never raise
    if gpu_available():
        pytest.skip("a GPU is present; covered by test_gpu_kernel_matches_reference")
    assert gpu._cupy_ready() is None or gpu._torch_ready() is None


def test_gpu_code_path_runs_on_a_numpy_stand_in_for_cupy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CuPy branch of the GPU engine, executed with numpy posing as CuPy: checks its layer,
    expectation and sampling logic without a device (the torch branch is not covered here)."""
    fake = types.SimpleNamespace(
        asarray=np.asarray, asnumpy=np.asarray, full=np.full, complex128=np.complex128,
        exp=np.exp, cumsum=np.cumsum, searchsorted=np.searchsorted)
    monkeypatch.setattr(gpu, "_cupy_ready", lambda: fake)
    rng = np.random.default_rng(4)
    weighted = IsingModel.from_arrays(rng.normal(size=7), [[0, 1], [2, 5], [3, 6], [1, 4]],
                                      rng.normal(size=4), -0.3)
    for model in (random_maxcut(3, 10, seed=2), weighted):  # level table and sin/cos phases
        g, b = rng.normal(size=2), rng.normal(size=2)
        ref = StateVectorQAOA(model, kernel="reference")
        dev = StateVectorQAOA(model, kernel="gpu")
        np.testing.assert_allclose(dev.state(g, b), ref.state(g, b), atol=1e-10)
        assert dev.expectation(g, b) == pytest.approx(ref.expectation(g, b), abs=1e-10)
        spins, energies, expect = dev.strike(g, b, 40, 3)
        np.testing.assert_allclose(energies, model.energies(spins), atol=1e-9)
        assert expect == pytest.approx(ref.expectation(g, b), abs=1e-10)
        np.testing.assert_array_equal(spins, ref.sample(g, b, 40, 3))  # same uniforms


@pytest.mark.gpu
def test_gpu_kernel_matches_reference() -> None:
    if not gpu_available():
        pytest.skip("no CUDA GPU (CuPy or PyTorch) on this machine")
    rng = np.random.default_rng(0)
    for model in (random_maxcut(3, 12, seed=0),
                  IsingModel.from_arrays(rng.normal(size=8), [[0, 1], [2, 5], [3, 7]],
                                         rng.normal(size=3), 0.5)):
        g, b = rng.normal(size=2), rng.normal(size=2)
        ref = StateVectorQAOA(model, kernel="reference")
        dev = StateVectorQAOA(model, kernel="gpu")
        np.testing.assert_allclose(dev.state(g, b), ref.state(g, b), atol=1e-10)
        assert dev.expectation(g, b) == pytest.approx(ref.expectation(g, b), abs=1e-10)
        spins, energies, _ = dev.strike(g, b, 50, 3)
        np.testing.assert_allclose(energies, model.energies(spins), atol=1e-9)


@pytest.mark.parametrize("name", ["mps", "lightcone"])
def test_registered_approximate_backends_agree_with_statevector(name: str) -> None:
    """The built-in registry entries resolve lazily to the other engines, which are exact on a
    small model (bond dimension 64 > 2**5 at n=10)."""
    from poqw.sim import fixed_angles

    model = random_maxcut(3, 10, seed=1)
    g, b = fixed_angles(2)
    want = qaoa_expectation(model, g, b, backend="statevector")
    assert qaoa_expectation(model, g, b, backend=name) == pytest.approx(want, abs=1e-8)
    spins = qaoa_sample(model, g, b, 7, 0, backend=name)
    assert spins.shape == (7, 10) and spins.dtype == np.int8


def test_auto_above_the_limit_picks_lightcones_for_sparse_and_mps_for_dense() -> None:
    n = AUTO_STATEVECTOR_MAX_QUBITS + 1
    assert backends.resolve_backend("auto", n, max_degree=3) == "lightcone"
    assert backends.resolve_backend("auto", n, max_degree=n - 1) == "mps"


def test_return_info_names_the_backend_and_the_fidelity() -> None:
    from poqw.sim import QAOARun

    small = random_maxcut(3, 10, seed=2)
    run = qaoa_expectation(small, [0.3], [0.4], return_info=True)
    assert isinstance(run, QAOARun) and run.backend == "statevector" and run.fidelity == 1.0
    assert run.value == pytest.approx(qaoa_expectation(small, [0.3], [0.4]), abs=1e-12)
    large = random_maxcut(3, 40, seed=2)
    run = qaoa_expectation(large, [0.3], [0.4], return_info=True)
    assert run.backend == "lightcone" and run.fidelity == 1.0  # light cones are exact
    capped = qaoa_sample(large, [0.3, 0.2], [0.4, 0.3], 8, 1, backend="mps", max_bond=2,
                         return_info=True)
    assert capped.backend == "mps" and capped.value.shape == (8, 40)
    assert 0.0 < capped.fidelity < 1.0  # chi=2 truncates, and says so
