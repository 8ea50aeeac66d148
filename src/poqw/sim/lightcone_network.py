"""⟨ψ|Z…Z|ψ⟩ of a light cone as one tensor network with hyperedges, contracted by cotengra.

The cost layers are diagonal, so a qubit keeps one index through each of them: a ZZ phase is a
2x2 tensor on the two qubits' current indices, a field phase a vector, and only the mixer
(a 2x2 matrix) moves a qubit to a new index. The bra is the conjugate network; at the end the
ket and bra indices of a qubit are the same index, carrying [1, -1] for a measured root. The
mixer of the last layer cancels against its conjugate on every qubit that is not a root, so it
is left out. Contraction trees depend only on the cone's shape and depth, so they are cached
and reused for cones that differ only in weights, fields or angles; a ``distributed.Client``
spreads the slices of a wide cone over Dask workers (:mod:`poqw.compute.slicing`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from poqw.errors import ProblemTooLarge

__all__ = ["ConeNetworkCache", "cone_network", "cone_network_expectation",
           "contract_cone_network"]

ComplexArray = npt.NDArray[np.complex128]
# One piece of a contraction holds at most this many amplitudes (2 GiB of complex128); bigger
# plans are sliced down to it. A cone needing more operations than MAX_CONE_FLOPS (minutes of
# work per cone) is refused with ProblemTooLarge before anything is allocated.
MAX_INTERMEDIATE = 1 << 27
MAX_CONE_FLOPS = 1e12
_Z = np.array([1.0, -1.0])


class ConeLike(Protocol):
    """What this module needs of :class:`poqw.sim.lightcone.Cone`."""

    @property
    def roots(self) -> tuple[int, ...]: ...

    @property
    def edges(self) -> tuple[tuple[int, int], ...]: ...

    @property
    def J(self) -> tuple[float, ...]: ...  # noqa: N802 - the model's name for couplings

    @property
    def h(self) -> tuple[float, ...]: ...

    @property
    def size(self) -> int: ...


def cone_network(
    cone: ConeLike, gammas: Sequence[float], betas: Sequence[float]
) -> tuple[list[tuple[str, ...]], list[ComplexArray]]:
    """The doubled (ket and bra) network of the cone's ⟨Π_roots Z⟩: (index lists, arrays)."""
    k, p = cone.size, len(gammas)
    roots = set(range(len(cone.roots)))
    inputs: list[tuple[str, ...]] = []
    arrays: list[ComplexArray] = []
    plus = np.full(2, 1 / np.sqrt(2), dtype=np.complex128)

    def ket(q: int, layer: int, side: str) -> str:
        # the final index of a qubit is shared by ket and bra
        last = p if q in roots else p - 1
        return f"q{q}_{layer}" if layer == last else f"{side}{q}_{layer}"

    for side in ("k", "b"):
        conj = side == "b"
        for q in range(k):
            inputs.append((ket(q, 0, side),))
            arrays.append(plus)
        for layer, (gamma, beta) in enumerate(zip(gammas, betas, strict=True)):
            for (a, b), w in zip(cone.edges, cone.J, strict=True):
                phase = np.exp(-1j * gamma * w * np.outer(_Z, _Z))
                inputs.append((ket(a, layer, side), ket(b, layer, side)))
                arrays.append(phase.conj() if conj else phase)
            for q, hq in enumerate(cone.h):
                if hq != 0.0:
                    phase = np.exp(-1j * gamma * hq * _Z)
                    inputs.append((ket(q, layer, side),))
                    arrays.append(phase.conj() if conj else phase)
            c, s = np.cos(beta), -1j * np.sin(beta)
            rx = np.array([[c, s], [s, c]], dtype=np.complex128)
            for q in range(k):
                if layer == p - 1 and q not in roots:
                    continue
                inputs.append((ket(q, layer + 1, side), ket(q, layer, side)))
                arrays.append(rx.conj() if conj else rx)
    for q in sorted(roots):
        inputs.append((f"q{q}_{p}",))
        arrays.append(_Z.astype(np.complex128))
    return inputs, arrays


class ConeNetworkCache:
    """Contraction plans by cone shape, so equal shapes are planned once.

    Plans are sliced until the largest intermediate has at most ``target_size`` entries and/or
    there are at least ``target_slices`` pieces (set for a Dask cluster, so that one cone is
    parallel work); ``last_plan`` is the plan of the latest :meth:`plan` call. For a cluster,
    each plan's tree is sent to the workers once (:meth:`remote_tree`) and reused.
    """

    def __init__(
        self,
        optimize: Any = "greedy",
        target_size: int | None = None,
        target_slices: int | None = None,
    ) -> None:
        self.optimize = optimize
        self.target_size = target_size
        self.target_slices = target_slices
        self.plans: dict[tuple[tuple[str, ...], ...], Any] = {}
        self.last_plan: Any = None
        self._remote: dict[tuple[tuple[str, ...], ...], tuple[Any, Any]] = {}

    def plan(self, inputs: list[tuple[str, ...]]) -> Any:
        key = tuple(inputs)
        found = self.plans.get(key)
        if found is None:
            from poqw.compute.slicing import plan_sliced

            size_dict = {ix: 2 for term in inputs for ix in term}
            found = plan_sliced(
                inputs, (), size_dict, target_size=self.target_size,
                target_slices=self.target_slices, optimize=self.optimize,
            )
            if found.max_size > MAX_INTERMEDIATE and self.target_size is None:
                # too big for memory as one piece: slice it down to the memory limit
                found = plan_sliced(
                    inputs, (), size_dict, target_size=MAX_INTERMEDIATE,
                    target_slices=self.target_slices, optimize=self.optimize,
                )
            cost = float(found.tree.total_flops())
            if cost > MAX_CONE_FLOPS:
                raise ProblemTooLarge(
                    f"a light-cone network of {len(inputs)} tensors needs about {cost:.1e} "
                    f"operations (largest piece {found.max_size:.1e} amplitudes, "
                    f"{found.nslices} slices), over the limit of {MAX_CONE_FLOPS:.0e}: its "
                    "cones hold too many loops at this depth; use fewer layers or the MPS "
                    "backend")
            self.plans[key] = found
        self.last_plan = found
        return found

    def remote_tree(self, inputs: list[tuple[str, ...]], client: Any) -> Any:
        """A future of the tree of ``inputs``' plan on ``client``'s workers (scattered once)."""
        key = tuple(inputs)
        held = self._remote.get(key)
        if held is None or held[0] is not client:
            from poqw.compute.slicing import scatter_tree

            held = (client, scatter_tree(self.plan(inputs), client))
            self._remote[key] = held
        return held[1]


def cone_network_expectation(
    cone: ConeLike,
    gammas: Sequence[float],
    betas: Sequence[float],
    cache: ConeNetworkCache | None = None,
    client: Any = None,
    chunks: int | None = None,
) -> float:
    """⟨Π_roots Z⟩ of the cone's QAOA state by contracting :func:`cone_network`; with a Dask
    ``client`` its slices run on the cluster in ``chunks`` tasks (see
    :func:`poqw.compute.slicing.contract_sliced`)."""
    inputs, arrays = cone_network(cone, gammas, betas)
    return contract_cone_network(inputs, arrays, cache or ConeNetworkCache(), client, chunks)


def contract_cone_network(
    inputs: list[tuple[str, ...]],
    arrays: list[ComplexArray],
    cache: ConeNetworkCache,
    client: Any = None,
    chunks: int | None = None,
) -> float:
    """The real value of a network built by :func:`cone_network`, by ``cache``'s plan for it;
    its slices run on the Dask ``client``'s cluster when one is given."""
    from poqw.compute.slicing import contract_sliced

    plan = cache.plan(inputs)
    remote = None if client is None else cache.remote_tree(inputs, client)
    value = contract_sliced(plan, arrays, client=client, chunks=chunks, remote_tree=remote)
    return float(np.real(value))
