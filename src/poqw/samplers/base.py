"""The one sampler interface: a ``dimod.Sampler`` that also takes a poqw ``IsingModel``.

A poqw sampler turns any input (``IsingModel``, a dimod BQM of either vartype, or ``h, J`` /
``Q`` through dimod's ``sample_ising`` / ``sample_qubo``) into an ``IsingModel`` over
``0..n-1``, asks its ``_sample_model`` kernel for a batch of spin vectors, and returns a
``dimod.SampleSet`` labelled like the input, in the input's vartype, with energies recomputed
from the model (a solver's own energies are never trusted). Parameters are checked up front:
an unknown keyword or a bad ``num_reads``/``seed`` raises ``SamplerError`` naming it.
"""

from __future__ import annotations

import abc
import secrets
from collections.abc import Hashable, Sequence
from typing import Any, ClassVar

import dimod
import numpy as np
import numpy.typing as npt
from dimod.core.sampler import Sampler

from poqw.errors import InvalidProblem, SamplerError
from poqw.problems.model import FloatArray, IsingModel, SpinArray

__all__ = [
    "MAX_SAMPLE_ENTRIES",
    "PoqwSampler",
    "as_ising_model",
    "build_sampleset",
    "check_num_reads",
    "check_seed",
    "sampleset_spins",
    "spins_and_energies",
    "split_reads",
]

MAX_SAMPLE_ENTRIES = 1 << 31  # num_reads * num_variables; a guard against a typo'd num_reads
SEED_LIMIT = 1 << 64


def check_num_reads(num_reads: Any, num_variables: int = 0) -> int:
    """``num_reads`` as a positive int, or ``SamplerError`` saying what was wrong."""
    if isinstance(num_reads, bool) or not isinstance(num_reads, int | np.integer):
        raise SamplerError(f"num_reads must be a positive integer, got {num_reads!r}")
    k = int(num_reads)
    if k <= 0:
        raise SamplerError(f"num_reads must be a positive integer, got {k}")
    if k * max(num_variables, 1) > MAX_SAMPLE_ENTRIES:
        raise SamplerError(f"num_reads={k} times {num_variables} variables is more than "
                           f"{MAX_SAMPLE_ENTRIES} spins; ask for fewer reads")
    return k


def check_seed(seed: Any) -> int:
    """A seed in ``[0, 2**64)``; ``None`` draws a fresh one (reported in the SampleSet info)."""
    if seed is None:
        return secrets.randbits(63)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise SamplerError(f"seed must be a non-negative integer or None, got {seed!r}")
    s = int(seed)
    if not 0 <= s < SEED_LIMIT:
        raise SamplerError(f"seed must be in [0, 2**64), got {s}")
    return s


def split_reads(num_reads: int, parts: int) -> list[int]:
    """Split ``num_reads`` into at most ``parts`` nearly equal positive chunks."""
    parts = max(1, min(parts, num_reads))
    base, extra = divmod(num_reads, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def as_ising_model(problem: Any) -> tuple[IsingModel, list[Hashable], dimod.Vartype]:
    """The ``IsingModel`` behind ``problem``, its variable labels and its vartype.

    An ``IsingModel`` keeps labels ``0..n-1`` and SPIN; a BQM keeps its own labels (in its
    variable order) and vartype, and its energies are preserved exactly by the conversion.
    """
    if isinstance(problem, IsingModel):
        return problem, list(range(problem.num_variables)), dimod.SPIN
    if isinstance(problem, dimod.BinaryQuadraticModel):
        labels = list(problem.variables)
        spin = problem if problem.vartype is dimod.SPIN else problem.change_vartype(
            dimod.SPIN, inplace=False)
        vectors = spin.to_numpy_vectors(variable_order=labels)
        lin, (rows, cols, quad), offset = vectors[0], vectors[1], vectors[2]
        edges = np.stack([np.asarray(rows, np.int64), np.asarray(cols, np.int64)], axis=1)
        try:
            model = IsingModel.from_arrays(np.asarray(lin, np.float64), edges,
                                           np.asarray(quad, np.float64), float(offset))
        except InvalidProblem as exc:
            raise SamplerError(f"the binary quadratic model is not a valid problem: {exc}") \
                from exc
        return model, labels, problem.vartype
    raise SamplerError(
        f"cannot sample a {type(problem).__name__}: pass a poqw IsingModel or a dimod "
        "BinaryQuadraticModel (or use sample_ising / sample_qubo)"
    )


def build_sampleset(model: IsingModel, spins: npt.ArrayLike, labels: Sequence[Hashable],
                    vartype: dimod.Vartype, info: dict[str, Any] | None = None) -> dimod.SampleSet:
    """A SampleSet of ``spins`` (k, n) with energies recomputed from ``model``."""
    s = np.ascontiguousarray(spins, dtype=np.int8)
    n = model.num_variables
    if s.ndim != 2 or s.shape[1] != n:
        raise SamplerError(f"the sampler returned spins of shape {s.shape}, expected (k, {n})")
    if s.size and not np.all(np.abs(s) == 1):
        raise SamplerError("the sampler returned values other than +1 and -1")
    energies = model.energies(s) if n else np.full(s.shape[0], model.offset)
    values = s if vartype is dimod.SPIN else ((s + 1) // 2).astype(np.int8)
    sampleset: dimod.SampleSet = dimod.SampleSet.from_samples(
        (values, list(labels)), vartype, energy=energies, info=dict(info or {}))
    return sampleset


def sampleset_spins(sampleset: dimod.SampleSet, num_variables: int) -> SpinArray:
    """Spin vectors (k, n) of int8 in variable order ``0..n-1`` from a SampleSet.

    Reads ``sampleset.record`` directly (no per-sample Python loop); BINARY samples are mapped to
    spins by ``s = 2x - 1``; rows with ``num_occurrences > 1`` are repeated.
    """
    n = num_variables
    variables = sampleset.variables
    if len(variables) != n:
        raise SamplerError(f"the SampleSet has {len(variables)} variables, the model {n}")
    record = sampleset.record
    raw = np.asarray(record.sample)
    if variables.is_range:
        values = raw
    else:
        try:
            order = np.fromiter((variables.index(i) for i in range(n)), dtype=np.int64, count=n)
        except ValueError as exc:
            raise SamplerError("the SampleSet's variables are not the integers 0..n-1") from exc
        values = raw[:, order]
    if sampleset.vartype is dimod.BINARY:
        spins = (2 * values.astype(np.int8) - 1).astype(np.int8)
    else:
        spins = values.astype(np.int8, copy=False)
    occurrences = np.asarray(record.num_occurrences)
    if occurrences.size and np.any(occurrences != 1):
        spins = np.repeat(spins, occurrences, axis=0)
    return np.ascontiguousarray(spins)


def spins_and_energies(sampleset: dimod.SampleSet,
                       model: IsingModel) -> tuple[SpinArray, FloatArray]:
    """Spin vectors (k, n) of int8 (see :func:`sampleset_spins`) and their energies.

    The energies are recomputed from ``model``, never read from the SampleSet.
    """
    spins = sampleset_spins(sampleset, model.num_variables)
    if model.num_variables == 0:
        return spins, np.full(spins.shape[0], model.offset)
    return spins, model.energies(spins)


class PoqwSampler(Sampler):  # type: ignore[misc]
    """Base class of every poqw sampler; subclasses implement :meth:`_sample_model`.

    ``sample(problem, num_reads=..., seed=..., **params)`` accepts an ``IsingModel`` or a dimod
    BQM. ``stochastic`` says whether different seeds give different results (the conformance
    suite checks it); ``exact_num_reads`` whether the SampleSet always has ``num_reads`` rows.

    Writing a sampler: list its keywords in ``extra_parameters`` and implement
    ``_sample_model(model, num_reads, seed, **params) -> (spins, info)``, where ``model`` is an
    ``IsingModel`` over ``0..n-1``, ``num_reads`` is already checked (``None`` only when
    ``default_num_reads`` is ``None``), ``seed`` is an int in ``[0, 2**64)`` (draw everything
    from ``np.random.default_rng(seed)``), ``params`` holds only declared keywords (validate
    their values, raising ``SamplerError``), ``spins`` is (k, n) of +-1 and ``info`` a dict for
    ``SampleSet.info``. Labels, vartype and energies are handled here. Then pass
    :func:`poqw.samplers.testing.assert_sampler_conforms`.
    """

    stochastic: ClassVar[bool] = True
    exact_num_reads: ClassVar[bool] = True
    default_num_reads: ClassVar[int | None] = 1
    #: Parameters beyond ``num_reads`` and ``seed``, in dimod's ``parameters`` format.
    extra_parameters: ClassVar[dict[str, list[str]]] = {}

    @property
    def parameters(self) -> dict[str, list[str]]:
        return {"num_reads": [], "seed": [], **self.extra_parameters}

    @property
    def properties(self) -> dict[str, Any]:
        return {"name": type(self).__name__, "stochastic": self.stochastic}

    def sample(self, bqm: Any, num_reads: int | None = None, seed: int | None = None,
               **parameters: Any) -> dimod.SampleSet:
        """Sample ``bqm`` (an ``IsingModel`` or a dimod BQM); see the class's parameters."""
        unknown = sorted(k for k in parameters if k not in self.parameters)
        if unknown:
            raise SamplerError(
                f"{type(self).__name__} got unknown parameter(s) {', '.join(map(repr, unknown))}; "
                f"it accepts {', '.join(sorted(self.parameters))}"
            )
        model, labels, vartype = as_ising_model(bqm)
        if num_reads is None:
            num_reads = self.default_num_reads
        reads = None if num_reads is None else check_num_reads(num_reads, model.num_variables)
        used_seed = check_seed(seed)
        spins, info = self._sample_model(model, reads, used_seed, **parameters)
        info = {"seed": used_seed, **info}
        return build_sampleset(model, spins, labels, vartype, info)

    @abc.abstractmethod
    def _sample_model(self, model: IsingModel, num_reads: int | None, seed: int,
                      **parameters: Any) -> tuple[SpinArray, dict[str, Any]]:
        """Spin vectors (num_reads, n) for ``model`` and an info dict. Parameters are known."""
