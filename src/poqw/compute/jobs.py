"""Jobs, results and the solver node: what travels between a coordinator and its solvers.

A :class:`Job` is one verifiable strike spec with its place in the solve (round, index) and the
coordinator's beacon commitment; a :class:`JobResult` is the shots' basis indices and energies.
Both have fixed layouts, and a result is decoded only up to the size its job allows (a
gate-model device's result, version 2, adds its calibration fidelity estimate). A
:class:`SolverNode` runs jobs for the models it holds, keeps each result as a Merkle leaf, and
signs a commitment over the leaves the coordinator lists (in its order) when asked.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from poqw.compute.commitment import StrikeLeaf, batch_id, commit_leaves
from poqw.compute.strike_spec import MAX_STRIKE_DEPTH, StrikeRunner, StrikeSpec, spins_from_indices
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.crypto.hashing import Hash32, hash32
from poqw.errors import JobRejected, ResultRejected
from poqw.problems import IsingModel

__all__ = [
    "MAX_JOB_BYTES",
    "Job",
    "JobResult",
    "SolverNode",
    "result_size",
]

_JOB_HEAD = struct.Struct(">BIH32sH")  # version, round, index, beacon commitment, spec size
_RESULT_HEAD = struct.Struct(">B32sI")  # version, job id, shots
_FIDELITY = struct.Struct(">d")  # version 2 only: the device's fidelity estimate
MAX_JOB_BYTES = _JOB_HEAD.size + 70 + 16 * MAX_STRIKE_DEPTH
#: Leaves a solver keeps for its next commitment; the oldest are dropped beyond this.
MAX_PENDING_LEAVES = 1 << 16


def result_size(shots: int, hardware: bool = False) -> int:
    """The exact size of the result of a job of ``shots`` shots (``hardware``: version 2,
    with a fidelity estimate)."""
    return _RESULT_HEAD.size + 12 * shots + (_FIDELITY.size if hardware else 0)


@dataclass(frozen=True)
class Job:
    """Strike ``index`` of round ``round_index``, and the beacon the coordinator committed to."""

    round_index: int
    index: int
    beacon: Hash32
    spec: StrikeSpec

    def to_bytes(self) -> bytes:
        spec = self.spec.to_bytes()
        return _JOB_HEAD.pack(1, self.round_index, self.index, self.beacon, len(spec)) + spec

    @classmethod
    def from_bytes(cls, data: bytes) -> Job:
        if not _JOB_HEAD.size < len(data) <= MAX_JOB_BYTES:
            raise JobRejected(f"a job is {_JOB_HEAD.size + 1}..{MAX_JOB_BYTES} bytes, got "
                              f"{len(data)}")
        version, round_index, index, beacon, size = _JOB_HEAD.unpack_from(data)
        if version != 1 or size != len(data) - _JOB_HEAD.size:
            raise JobRejected(f"job version {version} with a spec of {size} bytes does not "
                              f"match its {len(data)} bytes")
        return cls(round_index, index, beacon, StrikeSpec.from_bytes(data[_JOB_HEAD.size:]))

    @property
    def job_id(self) -> Hash32:
        return hash32(b"poqw/compute/job/v1", self.to_bytes())


@dataclass(frozen=True, eq=False)
class JobResult:
    """The shots of one job: basis indices and their energies; ``fidelity`` is set only by a
    gate-model device (its calibration estimate for the job's circuit), None for an exact
    simulator, whose result keeps the version 1 layout byte for byte."""

    job_id: Hash32
    indices: npt.NDArray[np.int64]
    energies: npt.NDArray[np.float64]
    fidelity: float | None = None

    def to_bytes(self) -> bytes:
        version = 1 if self.fidelity is None else 2
        body = (_RESULT_HEAD.pack(version, self.job_id, len(self.indices))
                + np.asarray(self.indices, dtype=">u4").tobytes()
                + np.asarray(self.energies, dtype=">f8").tobytes())
        return body if self.fidelity is None else body + _FIDELITY.pack(self.fidelity)

    @classmethod
    def from_bytes(cls, data: bytes, max_shots: int) -> JobResult:
        """Decode a result of at most ``max_shots`` shots (its size is checked first)."""
        if len(data) > result_size(max_shots, hardware=True):
            raise ResultRejected(f"a result of {len(data)} bytes is larger than the "
                                 f"{result_size(max_shots, hardware=True)} its job allows")
        if len(data) < _RESULT_HEAD.size:
            raise ResultRejected(f"a result of {len(data)} bytes is truncated")
        version, job_id, shots = _RESULT_HEAD.unpack_from(data)
        if version not in (1, 2) or len(data) != result_size(shots, version == 2):
            raise ResultRejected(f"result version {version} with {shots} shots does not match "
                                 f"its {len(data)} bytes")
        body = data[_RESULT_HEAD.size:]
        indices = np.frombuffer(body[:4 * shots], dtype=">u4").astype(np.int64)
        energies = np.frombuffer(body[4 * shots:12 * shots], dtype=">f8").astype(np.float64)
        fidelity = None
        if version == 2:
            (fidelity,) = _FIDELITY.unpack_from(body, 12 * shots)
            if not 0.0 < fidelity <= 1.0:  # NaN fails too
                raise ResultRejected(f"a fidelity estimate must be in (0, 1], got {fidelity!r}")
        return cls(job_id, indices, energies, fidelity)


class SolverNode:
    """Runs jobs for the models it holds on ``backend`` and commits to its results.

    ``fake_fraction`` makes a dishonest node for tests and benchmarks: that share of its jobs
    (chosen by ``rng``) are answered with uniformly random basis states instead of simulated
    ones, with their true energies, and committed like the rest.
    """

    def __init__(self, key: EcdsaPrivateKey, models: Iterable[IsingModel],
                 backend: str = "fast", fake_fraction: float = 0.0,
                 rng: np.random.Generator | None = None) -> None:
        self.key = key
        self.node_id = key.public_key().compressed
        self.runners = {m.content_hash(): StrikeRunner(m, backend) for m in models}
        self.fake_fraction = fake_fraction
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.leaves: OrderedDict[bytes, StrikeLeaf] = OrderedDict()
        self.jobs_run = 0

    def handle_job(self, data: bytes) -> bytes:
        """Run one encoded job; return the encoded result (raises :class:`JobRejected`)."""
        job = Job.from_bytes(data)
        runner = self.runners.get(job.spec.model_hash)
        if runner is None:
            raise JobRejected(f"this solver does not hold model "
                              f"{job.spec.model_hash.hex()[:16]}...", job)
        if self.fake_fraction and self.rng.random() < self.fake_fraction:
            n = runner.model.num_variables
            idx = self.rng.integers(0, 1 << n, job.spec.shots).astype(np.int64)
            energies = runner.model.energies(spins_from_indices(idx, n))
        else:
            outcome = runner.run(job.spec)
            idx, energies = outcome.indices, outcome.energies
        self.jobs_run += 1
        self.leaves[job.job_id] = StrikeLeaf(job.spec, idx, np.asarray(energies, np.float64))
        while len(self.leaves) > MAX_PENDING_LEAVES:
            self.leaves.popitem(last=False)
        return JobResult(job.job_id, idx, np.asarray(energies, np.float64)).to_bytes()

    def handle_commit(self, job_ids: Sequence[bytes]) -> bytes:
        """Sign the Merkle root of the leaves of ``job_ids`` (in that order) and forget them."""
        missing = [j.hex()[:16] for j in job_ids if j not in self.leaves]
        if missing or not job_ids:
            raise JobRejected(f"cannot commit to jobs this solver did not run: {missing}")
        leaves = [self.leaves.pop(j) for j in job_ids]
        signed, _ = commit_leaves(self.key, batch_id([leaf.spec for leaf in leaves]), leaves)
        return signed.to_bytes()
