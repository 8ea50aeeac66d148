"""Sliced tensor-network contraction, run piece by piece on Dask workers.

A contraction too large for one memory is split by fixing ("slicing") a few indices: each
assignment of values to them is an independent, smaller contraction, and the full result is
their sum. cotengra finds the contraction tree and the indices to slice; the pieces are sent to
a Dask cluster in chunks and summed on the coordinator. By default the cluster is a
``LocalCluster`` bound to 127.0.0.1; pass a ``distributed.Client`` for the user's own scheduler.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from poqw.errors import ConfigError, SimulationError

__all__ = [
    "SlicedPlan",
    "check_client",
    "cluster_threads",
    "contract_sliced",
    "contract_tensor_network_sliced",
    "local_cluster",
    "plan_sliced",
    "scatter_tree",
]

MAX_SLICES = 1 << 20
# Arrays up to this many bytes in all travel inside each task; larger ones are scattered once.
INLINE_BYTES = 1 << 20


@dataclass(frozen=True)
class SlicedPlan:
    """A cotengra contraction tree with sliced indices, and what it costs."""

    tree: Any
    nslices: int
    sliced_indices: tuple[str, ...]
    max_size: int
    flops: float

    @property
    def overhead(self) -> float:
        """Total flops of all slices over the flops of the unsliced tree (>= 1)."""
        return float(self.tree.total_flops()) / max(self.flops, 1.0)


def plan_sliced(
    inputs: Sequence[Sequence[str]],
    output: Sequence[str],
    size_dict: dict[str, int],
    *,
    target_size: int | None = None,
    target_slices: int | None = None,
    optimize: str = "greedy",
) -> SlicedPlan:
    """Find a contraction tree, then slice it until the largest intermediate has at most
    ``target_size`` entries and/or there are at least ``target_slices`` pieces (or as many as
    the contracted indices have values, if that is fewer)."""
    import cotengra as ctg

    if target_size is not None and target_size < 1:
        raise ConfigError(f"target_size must be positive, got {target_size}")
    if target_slices is not None and not 1 <= target_slices <= MAX_SLICES:
        raise ConfigError(f"target_slices must be between 1 and {MAX_SLICES}, got {target_slices}")
    tree = ctg.array_contract_tree(
        [tuple(i) for i in inputs], tuple(output), size_dict, optimize=optimize
    )
    flops = float(tree.total_flops())
    inner = {ix for term in inputs for ix in term} - set(output)
    if target_size is not None and inner:
        tree = tree.slice(target_size=target_size, allow_outer=False, seed=0)
    # A second pass for the count (cotengra's search with both targets can find no candidate;
    # on a sliced tree, target_slices counts the new slices only).
    if target_slices is not None and inner and tree.nslices < target_slices:
        # no more slices than the inner indices have values
        possible = math.prod(size_dict[ix] for ix in inner)
        more = -(-min(target_slices, possible) // int(tree.nslices))
        if more > 1:
            tree = tree.slice(target_slices=more, allow_outer=False, seed=0)
    if tree.nslices > MAX_SLICES:
        raise SimulationError(f"{tree.nslices} slices is over the limit of {MAX_SLICES}")
    return SlicedPlan(
        tree=tree,
        nslices=int(tree.nslices),
        sliced_indices=tuple(tree.sliced_inds),
        max_size=int(tree.max_size()),
        flops=flops,
    )


def _contract_range(tree: Any, arrays: Sequence[npt.NDArray[Any]], first: int, stop: int) -> Any:
    """Sum of slices ``first .. stop-1`` (runs on a worker)."""
    total: Any = 0
    for i in range(first, stop):
        total = total + tree.contract_slice(arrays, i)
    return total


def check_client(client: Any) -> None:
    """Raise :class:`ConfigError` unless ``client`` looks like a ``distributed.Client``."""
    if not all(callable(getattr(client, name, None)) for name in ("submit", "scatter",
                                                                    "gather", "nthreads")):
        raise ConfigError(f"client must be a distributed.Client, got {type(client).__name__}")


def cluster_threads(client: Any) -> int:
    """Worker threads of the cluster behind ``client`` right now (0 while it has no workers)."""
    check_client(client)
    return int(sum(client.nthreads().values()))


def contract_sliced(
    plan: SlicedPlan,
    arrays: Sequence[npt.NDArray[Any]],
    *,
    client: Any = None,
    chunks: int | None = None,
    remote_tree: Any = None,
) -> Any:
    """Contract every slice of ``plan`` and sum them.

    Without ``client`` the slices run here one after another. With a ``distributed.Client`` the
    slices are cut into ``chunks`` contiguous ranges (default: 4 per worker thread), each a
    task on the cluster, and the partial sums are added here. Small arrays travel inside the
    tasks, large ones (over ``INLINE_BYTES``) are scattered to every worker first; the tree is
    scattered too, unless ``remote_tree`` is a future of it already on the cluster (see
    :func:`scatter_tree`), which saves a round trip when one plan is contracted many times.
    """
    n = plan.nslices
    if client is None:
        return _contract_range(plan.tree, arrays, 0, n)
    if chunks is None:
        chunks = 4 * max(1, cluster_threads(client))
    chunks = max(1, min(int(chunks), n))
    bounds = np.linspace(0, n, chunks + 1).astype(int)
    shared: Any = [np.asarray(a) for a in arrays]
    if sum(a.nbytes for a in shared) > INLINE_BYTES:
        shared = client.scatter(shared, broadcast=True, hash=False)
    tree = remote_tree if remote_tree is not None else scatter_tree(plan, client)
    futures = [
        client.submit(_contract_range, tree, shared, int(a), int(b), pure=False)
        for a, b in itertools.pairwise(bounds)
        if b > a
    ]
    parts = client.gather(futures)
    total: Any = 0
    for part in parts:
        total = total + part
    return total


def scatter_tree(plan: SlicedPlan, client: Any) -> Any:
    """A future of ``plan``'s contraction tree, copied to every worker of ``client``."""
    return client.scatter(plan.tree, broadcast=True, hash=False)


def contract_tensor_network_sliced(
    tn: Any,
    *,
    output_inds: Sequence[str] | None = None,
    target_size: int | None = None,
    target_slices: int | None = None,
    client: Any = None,
    optimize: str = "greedy",
) -> Any:
    """Contract a quimb ``TensorNetwork`` by slices (a scalar unless ``output_inds`` given)."""
    tensors = list(tn.tensors)
    inputs = [tuple(t.inds) for t in tensors]
    output = tuple(output_inds) if output_inds is not None else ()
    size_dict: dict[str, int] = {}
    for t in tensors:
        size_dict.update(zip(t.inds, t.shape, strict=True))
    plan = plan_sliced(
        inputs, output, size_dict,
        target_size=target_size, target_slices=target_slices, optimize=optimize,
    )
    return contract_sliced(plan, [np.asarray(t.data) for t in tensors], client=client)


@contextlib.contextmanager
def local_cluster(
    n_workers: int = 2,
    threads_per_worker: int = 1,
    processes: bool = False,
    address: str | None = None,
) -> Iterator[Any]:
    """A Dask ``Client``, closed on exit: the user's scheduler at ``address``, or a local cluster.

    The local cluster never listens beyond this machine: with ``processes=False`` (the default)
    workers are threads of this process talking in-process (no socket at all); with
    ``processes=True`` each worker is a process and everything binds to 127.0.0.1.
    """
    from distributed import Client, LocalCluster

    if address is not None:
        if not isinstance(address, str) or not address.strip():
            raise ConfigError(f"a Dask scheduler address must be a non-empty string like "
                              f"tcp://host:8786, got {address!r}")
        try:
            client = Client(address)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot connect to the Dask scheduler at {address}: {exc}") from exc
        try:
            yield client
        finally:
            client.close()
        return
    if n_workers < 1 or threads_per_worker < 1:
        raise ConfigError("a local cluster needs at least one worker with one thread")
    options: dict[str, Any] = {"dashboard_address": None}
    if processes:
        options.update(host="127.0.0.1", protocol="tcp")
    cluster = LocalCluster(
        n_workers=n_workers, threads_per_worker=threads_per_worker, processes=processes, **options
    )
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
