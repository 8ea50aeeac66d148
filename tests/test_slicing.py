"""Sliced contraction, locally and on a Dask cluster, against numpy.einsum and a state vector."""

from __future__ import annotations

import string
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from poqw.compute.slicing import (
    contract_sliced,
    contract_tensor_network_sliced,
    local_cluster,
    plan_sliced,
)
from poqw.errors import ConfigError
from poqw.problems import random_maxcut


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with local_cluster(n_workers=2, threads_per_worker=1, processes=False) as c:
        yield c


def ring_network(
    length: int, bond: int, seed: int
) -> tuple[list[tuple[str, ...]], dict[str, int], list[np.ndarray]]:
    """A closed ring of random three-index tensors with an extra chord every third site."""
    rng = np.random.default_rng(seed)
    letters = iter(string.ascii_letters)
    ring = [next(letters) for _ in range(length)]
    chords = {k: next(letters) for k in range(0, length - 3, 3)}
    inputs: list[tuple[str, ...]] = []
    for k in range(length):
        inds = [ring[k - 1], ring[k]]
        if k in chords:
            inds.append(chords[k])
        if k - 3 in chords:
            inds.append(chords[k - 3])
        inputs.append(tuple(inds))
    sizes = {ix: bond for term in inputs for ix in term}
    arrays = [rng.normal(size=[sizes[i] for i in term]) for term in inputs]
    return inputs, sizes, arrays


def einsum_reference(inputs: list[tuple[str, ...]], output: str, arrays: list[np.ndarray]) -> Any:
    eq = ",".join("".join(t) for t in inputs) + "->" + output
    return np.einsum(eq, *arrays, optimize="greedy")


def test_sliced_plan_respects_targets_and_sums_to_the_full_result() -> None:
    inputs, sizes, arrays = ring_network(12, 4, seed=1)
    expected = einsum_reference(inputs, "", arrays)
    plan = plan_sliced(inputs, (), sizes, target_slices=16)
    assert plan.nslices >= 16
    assert plan.overhead >= 1.0
    assert contract_sliced(plan, arrays) == pytest.approx(expected, rel=1e-10)
    small = plan_sliced(inputs, (), sizes, target_size=16)
    assert small.max_size <= 16
    assert contract_sliced(small, arrays) == pytest.approx(expected, rel=1e-10)


def test_open_output_indices() -> None:
    inputs, sizes, arrays = ring_network(9, 3, seed=2)
    out = inputs[0][:1] + inputs[4][:1]
    expected = einsum_reference(inputs, "".join(out), arrays)
    plan = plan_sliced(inputs, out, sizes, target_slices=8)
    np.testing.assert_allclose(contract_sliced(plan, arrays), expected, rtol=1e-10)


def test_cluster_result_equals_local(client: Any) -> None:
    inputs, sizes, arrays = ring_network(12, 4, seed=3)
    plan = plan_sliced(inputs, (), sizes, target_slices=32)
    local = contract_sliced(plan, arrays)
    for chunks in (None, 1, 5, 1000):
        remote = contract_sliced(plan, arrays, client=client, chunks=chunks)
        assert remote == pytest.approx(local, rel=1e-12)
    assert local == pytest.approx(einsum_reference(inputs, "", arrays), rel=1e-10)


def test_qaoa_correlation_by_sliced_tensor_network(client: Any) -> None:
    import quimb as qu
    import quimb.tensor as qtn

    from poqw.problems import energy_diagonal

    model = random_maxcut(3, 10, seed=2)
    n = model.num_variables
    gammas, betas = [0.4, 0.25], [0.3, 0.55]
    circ = qtn.Circuit(n)
    for q in range(n):
        circ.apply_gate("H", q)
    for g, b in zip(gammas, betas, strict=True):
        for (u, v), w in zip(model.edges.tolist(), model.J.tolist(), strict=True):
            circ.apply_gate("RZZ", 2 * g * w, u, v)
        for q in range(n):
            circ.apply_gate("RX", 2 * b, q)
    u, v = (int(x) for x in model.edges[0])
    zz = qu.pauli("Z") & qu.pauli("Z")
    tn = circ.local_expectation_tn(zz, (u, v), simplify_sequence="R")
    value = contract_tensor_network_sliced(tn, target_slices=8, client=client)
    # oracle: dense state vector
    diag = energy_diagonal(model)
    psi = np.full(2**n, 2 ** (-n / 2), dtype=complex)
    for g, b in zip(gammas, betas, strict=True):
        psi = psi * np.exp(-1j * g * diag)
        rx = np.array([[np.cos(b), -1j * np.sin(b)], [-1j * np.sin(b), np.cos(b)]])
        t = psi.reshape((2,) * n)
        for axis in range(n):
            t = np.moveaxis(np.tensordot(rx, t, axes=([1], [axis])), 0, axis)
        psi = t.reshape(-1)
    idx = np.arange(2**n)
    sign = (1 - 2 * ((idx >> u) & 1)) * (1 - 2 * ((idx >> v) & 1))
    assert complex(value).real == pytest.approx(float(np.abs(psi) ** 2 @ sign), abs=1e-10)


def test_bad_plans_are_rejected() -> None:
    inputs, sizes, _ = ring_network(6, 2, seed=0)
    with pytest.raises(ConfigError):
        plan_sliced(inputs, (), sizes, target_size=0)
    with pytest.raises(ConfigError):
        plan_sliced(inputs, (), sizes, target_slices=0)
    with pytest.raises(ConfigError), local_cluster(n_workers=0):
        pass


def test_lightcone_cones_sliced_on_the_cluster(client: Any) -> None:
    from poqw.sim.lightcone import LightconeQAOA

    model = random_maxcut(3, 8, seed=6)
    gammas, betas = [0.3, 0.5], [0.45, 0.2]
    want = LightconeQAOA(model, closed_form_p1=False).expectation(gammas, betas)
    engine = LightconeQAOA(model, closed_form_p1=False, max_statevector_qubits=0,
                           client=client, slice_target_size=64)
    assert engine.expectation(gammas, betas) == pytest.approx(want, abs=1e-9)
