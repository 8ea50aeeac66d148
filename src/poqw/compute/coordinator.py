"""The coordinator: owns a solve (model, controller, budget) and spreads its strikes over solvers.

Each round the controller picks angles, the round's strike is cut into jobs of at least
``job_shots`` shots (below that size a round trip costs more than it saves, so smaller strikes
stay one job), and each job's seed comes from the solve's seed, the round and the job's index:
never from which solver runs it. Results are aggregated in job order exactly as the
single-process loop aggregates one strike (score the raw energies, tell the controller, polish,
keep the best), so N solvers give what one gives. It is a sans-I/O state machine: the caller
passes ``now`` and moves bytes (:mod:`poqw.compute.transport` drives it). With
``verify_every`` rounds per epoch, solvers commit to their epoch's leaves, the beacon is
revealed, leaves are spot-checked, honest batches are paid and a cheater is banned and its epoch
re-run from the checkpoint without it. Gate-model devices join a solve only where its
``min_fidelity`` tolerates them (:mod:`poqw.compute.hardware_jobs`: they go first, their
results are verified on arrival and weighted by fidelity). The checkpoint is saved to
``state_path`` when given, and a new coordinator on the same file resumes from it (the
controller replayed from its record).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from poqw.compute.commitment import SignedCommitment, StrikeLeaf, batch_id
from poqw.compute.hardware_jobs import HardwareJobs, SolverProfile, score_round
from poqw.compute.jobs import Job, JobResult, result_size
from poqw.compute.merkle import MerkleTree
from poqw.compute.strike_spec import MAX_JOB_SHOTS, StrikeSpec, derive_job_seed, spins_from_indices
from poqw.compute.verifier import (
    Beacon,
    FraudEvidence,
    Reveal,
    Verifier,
    challenge_from_beacon,
)
from poqw.crypto.hashing import hash32
from poqw.crypto.keystate import write_file_durably
from poqw.errors import ComputeError, ConfigError, HardwareFraud, InvalidCommitment, ResultRejected
from poqw.problems import IsingModel
from poqw.strike.angles import angle_domain, split_angles, warm_start_angles
from poqw.strike.arms import polish_samples
from poqw.strike.assembly import stream
from poqw.strike.controllers import CONTROLLERS, Controller, make_controller

__all__ = ["Assignment", "Coordinator", "RoundRecord", "SolveSettings"]

Assignment = tuple[str, bytes]  # (solver, encoded job)
_STATE_VERSION = 1


@dataclass(frozen=True)
class SolveSettings:
    """What a coordinated solve does; ``verify_every`` 0 trusts the solvers (a Dask cluster)."""

    p: int = 2
    shots: int = 256
    rounds: int = 20
    seed: int = 0
    controller: str = "bayes"
    objective: str = "cvar"
    alpha: float = 0.1
    job_shots: int = 1024  # a Dask round trip costs thousands of shots (bench_compute.py)
    timeout: float = 60.0
    verify_every: int = 0
    checks: int = 44
    min_fidelity: float | None = None  # lowest device fidelity accepted; None: exact only

    def __post_init__(self) -> None:
        if not 1 <= self.shots <= MAX_JOB_SHOTS * 64 or not 1 <= self.job_shots <= MAX_JOB_SHOTS:
            raise ConfigError(f"shots must be 1..{MAX_JOB_SHOTS * 64} and job_shots "
                              f"1..{MAX_JOB_SHOTS}")
        if self.rounds < 1 or not 1 <= self.p <= 16 or self.timeout <= 0:
            raise ConfigError("rounds and p must be positive (p <= 16), timeout above 0")
        if self.controller not in CONTROLLERS:
            raise ConfigError(f"unknown controller {self.controller!r}")
        if self.verify_every < 0 or self.checks < 1:
            raise ConfigError("verify_every must be >= 0 and checks >= 1")
        if self.min_fidelity is not None and not 0.0 < self.min_fidelity <= 1.0:
            raise ConfigError(f"min_fidelity must be in (0, 1], got {self.min_fidelity!r}")

    def job_sizes(self) -> list[int]:
        """The shots of each job of a round (as even as possible, none below job_shots)."""
        count = max(1, min(self.shots // self.job_shots, 64))
        return [self.shots // count + (1 if k < self.shots % count else 0) for k in range(count)]


@dataclass(frozen=True)
class RoundRecord:
    """One round: its angles, objective value, best raw and polished energy, who ran its jobs."""

    index: int
    angles: tuple[float, ...]
    objective: float
    strike_best: float
    best_energy: float
    solvers: tuple[str, ...]


@dataclass
class _Pending:
    job: Job
    solver: str
    deadline: float


@dataclass
class _Epoch:
    beacon: Beacon
    jobs: dict[str, list[tuple[Job, JobResult]]] = field(default_factory=dict)
    commitments: dict[str, SignedCommitment] = field(default_factory=dict)


def _revealer(leaves: list[StrikeLeaf], tree: MerkleTree) -> Reveal:
    return lambda k: (leaves[k], tree.proof(k))


class Coordinator:
    """A solve spread over named solvers (see the module docstring)."""

    def __init__(self, model: IsingModel, settings: SolveSettings, solvers: Sequence[str], *,
                 random_bytes: Callable[[int], bytes] = os.urandom,
                 state_path: Path | str | None = None, ledger: Any = None,
                 verifier_backend: str = "fast", verifier_name: str = "coordinator",
                 solver_keys: dict[str, bytes] | None = None,
                 profiles: Mapping[str, SolverProfile] | None = None) -> None:
        if not solvers or len(set(solvers)) != len(solvers):
            raise ConfigError(f"a coordinator needs distinct solver names, got {list(solvers)}")
        self.model, self.settings = model, settings
        self.model_hash = model.content_hash()
        self.solvers, self.banned = list(solvers), set[str]()
        self.random_bytes, self.ledger = random_bytes, ledger
        self.state_path = Path(state_path) if state_path is not None else None
        self.verifier = Verifier(model, verifier_backend) if settings.verify_every else None
        self.verifier_name = verifier_name
        self.solver_keys = dict(solver_keys or {})
        self.solve_seed = hash32(b"poqw/compute/solve-seed/v1",
                                 settings.seed.to_bytes(16, "big", signed=True))
        self.evidence: list[FraudEvidence] = []
        self.notes: list[str] = []
        self.hardware = HardwareJobs(model, settings.min_fidelity, profiles or {}, self.notes,
                                     verifier_backend)
        self.outstanding: dict[bytes, _Pending] = {}
        self.answers: dict[bytes, tuple[str, JobResult]] = {}
        self.round_jobs: list[Job] = []
        self._assigned = 0
        #: Called after each epoch's verdict (its frauds; none when the epoch was paid), e.g.
        #: to settle the frauds and pay the credits on chain (poqw.compute.onchain).
        self.on_epoch: Callable[[Coordinator, list[FraudEvidence]], None] | None = None
        self._restore_or_start()

    # ---- state: checkpoint, save, restore -----------------------------------------------

    def _fresh(self) -> None:
        root = np.random.SeedSequence(self.settings.seed)
        self.controller: Controller = make_controller(
            self.settings.controller, angle_domain(self.model), self.settings.p,
            stream(root, "controller"), lambda depth: warm_start_angles(self.model, depth))
        self.round = 0
        self.told: list[tuple[list[float], float]] = []
        self.history: list[RoundRecord] = []
        self.best_energy, self.best_spins = math.inf, np.zeros(0, dtype=np.int8)

    def _snapshot(self) -> dict[str, Any]:
        """The solve's state as plain JSON values (a copy: later rounds do not change it)."""
        doc = {"version": _STATE_VERSION, "model": self.model_hash.hex(),
                "settings": vars(self.settings), "round": self.round, "told": self.told,
                "history": [vars(r) for r in self.history],
                "best_energy": None if not math.isfinite(self.best_energy) else self.best_energy,
                "best_spins": self.best_spins.tolist(), "banned": sorted(self.banned),
                "ledger": None if self.ledger is None else self.ledger.to_dict()}
        copied: dict[str, Any] = json.loads(json.dumps(doc))
        return copied

    def _load(self, doc: dict[str, Any]) -> None:
        if doc.get("version") != _STATE_VERSION or doc.get("model") != self.model_hash.hex():
            raise ConfigError("the saved solve state is for another model or version")
        if {"min_fidelity": None, **doc["settings"]} != vars(self.settings):
            raise ConfigError(f"the saved solve used settings {doc['settings']}, not these")
        self._fresh()
        for angles, value in doc["told"]:  # replay: the controller's state is its history
            asked = self.controller.ask()
            if not np.array_equal(asked, np.asarray(angles)):
                raise ConfigError("replaying the saved solve asked other angles: the state "
                                  "does not belong to this controller and seed")
            self.controller.tell(asked, value)
        self.round, self.told = int(doc["round"]), [(list(a), float(v)) for a, v in doc["told"]]
        self.history = [RoundRecord(**{**r, "angles": tuple(r["angles"]),
                                       "solvers": tuple(r["solvers"])}) for r in doc["history"]]
        energy = doc["best_energy"]
        self.best_energy = math.inf if energy is None else float(energy)
        self.best_spins = np.asarray(doc["best_spins"], dtype=np.int8)
        self.banned = set(doc["banned"])
        if self.ledger is not None and doc["ledger"] is not None:
            self.ledger = type(self.ledger).from_dict(doc["ledger"])

    def _restore_or_start(self) -> None:
        self._fresh()
        if self.state_path is not None and self.state_path.exists():
            try:
                doc = json.loads(self.state_path.read_text())
            except (OSError, ValueError) as exc:
                raise ConfigError(f"cannot read the solve state {self.state_path}: {exc}") from exc
            try:
                self._load(doc)
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                if isinstance(exc, ConfigError):
                    raise
                raise ConfigError(f"the solve state {self.state_path} is malformed: "
                                  f"{exc!r}") from exc
            self.notes.append(f"resumed at round {self.round} from {self.state_path}")
        self._checkpoint = self._snapshot()
        self.epoch = _Epoch(Beacon(self.random_bytes(32)))

    def save_ledger(self) -> None:
        """Put the ledger as it is now into the saved checkpoint (on-chain transfers are
        recorded between checkpoints; the ledger only grows, so this rolls nothing forward)."""
        if self.ledger is None:
            return
        self._checkpoint["ledger"] = json.loads(json.dumps(self.ledger.to_dict()))
        if self.state_path is not None:
            write_file_durably(self.state_path, json.dumps(self._checkpoint).encode())

    def _settle(self) -> None:
        """Take a checkpoint (the point a restart or a fraud rolls back to) and save it."""
        self._checkpoint = self._snapshot()
        if self.state_path is not None:
            write_file_durably(self.state_path, json.dumps(self._checkpoint).encode())
        self.epoch = _Epoch(Beacon(self.random_bytes(32)))

    # ---- rounds --------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self.round >= self.settings.rounds and not self.verification_due

    @property
    def active_solvers(self) -> list[str]:
        return [s for s in self.solvers if s not in self.banned]

    def _next_solver(self, avoid: str | None = None) -> str:
        active = [s for s in self.active_solvers if self.hardware.may_run(s)]
        if not active:
            raise ComputeError("no solver is left to run jobs (all banned, or devices this "
                               "solve does not accept)")
        choices = [s for s in active if s != avoid] or active
        self._assigned += 1
        return choices[self._assigned % len(choices)]

    def start_round(self, now: float) -> list[Assignment]:
        """Ask the controller for angles and issue the round's jobs."""
        if self.outstanding or self.round_jobs:
            raise ComputeError("the current round is still running")
        if self.round >= self.settings.rounds:
            return []
        gammas, betas = split_angles(self.controller.ask())
        self.round_jobs = []
        for k, shots in enumerate(self.settings.job_sizes()):
            spec = StrikeSpec.create(self.model_hash, gammas, betas, shots,
                                     derive_job_seed(self.solve_seed, self.round, k))
            self.round_jobs.append(Job(self.round, k, self.epoch.beacon.commitment, spec))
        out = []
        dealt = self.hardware.deal(len(self.round_jobs), self.active_solvers, self.round)
        for k, job in enumerate(self.round_jobs):
            solver = dealt[k] if dealt is not None else self._next_solver()
            self.outstanding[job.job_id] = _Pending(job, solver, now + self.settings.timeout)
            out.append((solver, job.to_bytes()))
        return out

    def on_result(self, solver: str, data: bytes, now: float) -> None:
        """Take a solver's encoded result, or raise :class:`ResultRejected` saying why."""
        result = JobResult.from_bytes(data, max(self.settings.job_sizes()))
        pending = self.outstanding.get(result.job_id)
        if pending is None:
            why = "was already answered" if result.job_id in self.answers else "was never issued"
            raise ResultRejected(f"result from {solver} for job {result.job_id.hex()[:16]}... "
                                 f"which {why}", result)
        if pending.solver != solver:
            raise ResultRejected(f"job {result.job_id.hex()[:16]}... is assigned to "
                                 f"{pending.solver}, not {solver}", result)
        n, spec = self.model.num_variables, pending.job.spec
        if result.indices.shape != (spec.shots,) or (spec.shots and result.indices.max() >> n):
            raise ResultRejected(f"result from {solver} has {result.indices.shape[0]} shots "
                                 f"or indices beyond {n} variables; the job asked {spec.shots}",
                                 result)
        try:
            if solver in self.banned:  # a device banned earlier in this round
                raise ResultRejected(f"result from {solver}, which is banned", result)
            self.hardware.check(solver, spec, result)
        except ResultRejected as exc:  # this solver may not run the job: reassign it now
            pending.deadline = now
            if isinstance(exc, HardwareFraud):
                self.banned.add(solver)
            raise
        energies = self.model.energies(spins_from_indices(result.indices, n))
        if not np.allclose(energies, result.energies, rtol=1e-9, atol=1e-9):
            raise ResultRejected(f"result from {solver}: the energies are not the samples' "
                                 f"energies under this solve's model", result)
        del self.outstanding[result.job_id]
        self.answers[result.job_id] = (solver, result)

    def on_failure(self, solver: str, job_id: bytes, reason: str, now: float) -> list[Assignment]:
        """A solver could not run a job: give it to another one at once."""
        pending = self.outstanding.get(job_id)
        if pending is None or pending.solver != solver:
            return []
        self.notes.append(f"{solver} failed job {job_id.hex()[:16]}...: {reason}")
        return self._reassign(pending, now)

    def _reassign(self, pending: _Pending, now: float) -> list[Assignment]:
        pending.solver = self._next_solver(avoid=pending.solver)
        pending.deadline = now + self.settings.timeout
        return [(pending.solver, pending.job.to_bytes())]

    def expire(self, now: float) -> list[Assignment]:
        """Reassign every job whose solver has not answered by its deadline."""
        out = []
        for job_id, pending in list(self.outstanding.items()):
            if now >= pending.deadline:
                self.notes.append(f"{pending.solver} did not answer job {job_id.hex()[:16]}... "
                                  f"in {self.settings.timeout:g} s: reassigned")
                out += self._reassign(pending, now)
        return out

    @property
    def round_complete(self) -> bool:
        return bool(self.round_jobs) and not self.outstanding

    def finish_round(self) -> None:
        """Aggregate the round in job order, exactly as the single-process loop does a strike."""
        if not self.round_complete:
            raise ComputeError("the round's jobs are not all answered")
        results = [self.answers[job.job_id] for job in self.round_jobs]
        indices = np.concatenate([r.indices for _, r in results])
        angles = np.concatenate([self.round_jobs[0].spec.gammas, self.round_jobs[0].spec.betas])
        value = score_round([r for _, r in results], self.settings.objective,
                            self.settings.alpha, self.model.offset)
        self.controller.tell(angles, value)
        self.told.append(([float(a) for a in angles], float(value)))
        spins = spins_from_indices(indices, self.model.num_variables)
        polished, energies = polish_samples(self.model, spins)
        k = int(np.argmin(energies))
        if float(energies[k]) < self.best_energy:
            self.best_energy, self.best_spins = float(energies[k]), polished[k].copy()
        self.history.append(RoundRecord(self.round, tuple(float(a) for a in angles), value,
                                        float(energies[k]), self.best_energy,
                                        tuple(s for s, _ in results)))
        for job, (solver, result) in zip(self.round_jobs, results, strict=True):
            if result.fidelity is None:
                self.epoch.jobs.setdefault(solver, []).append((job, result))
            elif self.ledger is not None:  # a device's result was verified on arrival
                self.ledger.credit_batch(solver, batch_id([job.spec]), job.spec.shots)
        self.round += 1
        self.round_jobs, self.answers = [], {}
        if not self.settings.verify_every:
            self._pay_epoch()
            self._settle()
            if self.on_epoch is not None:
                self.on_epoch(self, [])
        elif not self.epoch.jobs and self.round % self.settings.verify_every == 0:
            self._settle()  # an epoch of device results only: nothing to spot-check
            if self.on_epoch is not None:
                self.on_epoch(self, [])

    # ---- verification epochs -------------------------------------------------------------

    @property
    def verification_due(self) -> bool:
        every = self.settings.verify_every
        return bool(every) and bool(self.epoch.jobs) and not self.round_jobs and (
            self.round % every == 0 or self.round >= self.settings.rounds)

    def commitment_requests(self) -> list[tuple[str, list[bytes]]]:
        """(solver, job ids in order) for every solver that worked in this epoch."""
        return [(s, [job.job_id for job, _ in done]) for s, done in self.epoch.jobs.items()
                if s not in self.epoch.commitments]

    def on_commitment(self, solver: str, data: bytes) -> None:
        """Take a solver's signed commitment; it must be its key's and match what it sent."""
        signed = SignedCommitment.from_bytes(data)
        signed.verify()
        known = self.solver_keys.get(solver)
        if known is not None and known != signed.commitment.solver:
            raise InvalidCommitment(f"{solver}'s commitment is signed by another key than its "
                                    f"registered {known.hex()[:16]}...")
        done = self.epoch.jobs.get(solver, [])
        leaves = [StrikeLeaf(job.spec, r.indices, r.energies) for job, r in done]
        if not leaves or MerkleTree([leaf.digest() for leaf in leaves]).root != \
                signed.commitment.root or signed.commitment.batch != \
                batch_id([leaf.spec for leaf in leaves]):
            raise InvalidCommitment(f"{solver}'s commitment is not over the results it sent")
        self.epoch.commitments[solver] = signed

    def verify_epoch(self) -> list[FraudEvidence]:
        """Reveal the beacon, spot-check every solver's commitment, pay the honest batches;
        on fraud, ban the cheaters and roll back to the epoch's checkpoint."""
        assert self.verifier is not None
        missing = [s for s in self.epoch.jobs if s not in self.epoch.commitments]
        if missing:
            raise ComputeError(f"no commitment yet from {', '.join(missing)}")
        found: list[FraudEvidence] = []
        for solver, signed in self.epoch.commitments.items():
            done = self.epoch.jobs[solver]
            leaves = [StrikeLeaf(job.spec, r.indices, r.energies) for job, r in done]
            tree = MerkleTree([leaf.digest() for leaf in leaves])
            randomness = challenge_from_beacon(self.epoch.beacon.commitment,
                                               self.epoch.beacon.secret, signed)
            check = self.verifier.spot_check(signed, randomness, self.settings.checks,
                                             _revealer(leaves, tree))
            if self.ledger is not None:
                self.ledger.credit_checks(self.verifier_name, len(check.checked))
            if check.evidence is not None:
                found.append(check.evidence)
                self.banned.add(solver)
                self.notes.append(f"{solver} caught faking a strike in rounds "
                                  f"{done[0][0].round_index}..{done[-1][0].round_index}: banned")
        self.evidence += found
        if found:
            self._roll_back()
        else:
            self._pay_epoch()
            self._settle()
        if self.on_epoch is not None:
            self.on_epoch(self, found)
        return found

    def abandon_epoch(self, solver: str, reason: str) -> None:
        """A solver would not commit to its epoch's results: ban it and re-run the epoch."""
        self.notes.append(f"{solver} did not commit to its results ({reason}): banned")
        self.banned.add(solver)
        self._roll_back()

    def _roll_back(self) -> None:
        """Back to the epoch's checkpoint, keeping the bans and the fees already paid."""
        banned, ledger = set(self.banned), self.ledger
        self._load(self._checkpoint)
        self.banned |= banned
        self.ledger = ledger
        self.epoch = _Epoch(Beacon(self.random_bytes(32)))

    def _pay_epoch(self) -> None:
        if self.ledger is None:
            return
        for solver, done in self.epoch.jobs.items():
            specs = [job.spec for job, _ in done]
            self.ledger.credit_batch(solver, batch_id(specs), sum(s.shots for s in specs))

    # ---- the answer ----------------------------------------------------------------------

    def result(self) -> dict[str, Any]:
        """A JSON-ready summary: best energy and solution, rounds, bans, payments, notes."""
        best_angles = None
        if self.controller.observed:
            best_angles = [float(a) for a in self.controller.best[0]]
        return {"energy": self.best_energy if math.isfinite(self.best_energy) else None,
                "solution": [int(s) for s in self.best_spins], "strikes": self.round,
                "best_angles": best_angles, "banned": sorted(self.banned),
                "fraud_evidence": len(self.evidence),
                "payments": None if self.ledger is None else self.ledger.balances(),
                "solvers": {s: sum(1 for r in self.history for x in r.solvers if x == s)
                            for s in self.solvers},
                "notes": list(self.notes),
                **({"hardware": self.hardware.summary()} if self.hardware.involved else {})}

    def max_result_bytes(self) -> int:
        return result_size(max(self.settings.job_sizes()), hardware=True)
