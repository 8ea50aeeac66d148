"""The solver daemon: watch the market, solve new problems, commit, reveal, settle, collect.

Each :meth:`SolverDaemon.poll` looks at the chain once (its time is the latest block's) and takes
every step that is due: solve an open problem with a poqw sampler (``qaoa`` is match-strike,
given half the time left before the deadline) and commit when the answer reaches the target;
reveal once the commit phase is over; settle problems whose reveal window has closed; report
other solvers' slashable commitments (the reporter is paid part of the slash); withdraw what the
market credited. The spins and salt of a commitment are written durably *before* it is sent: a
solver that crashes still reveals after a restart.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from poqw.crypto.keystate import write_file_durably
from poqw.errors import ContractReverted, MarketError, PoqwError
from poqw.market.client import MarketClient
from poqw.market.encoding import new_salt, pack_spins

__all__ = ["SolverDaemon", "SolverState"]

log = logging.getLogger(__name__)


@dataclass
class SolverState:
    """The commitments this solver must still reveal, kept in a JSON file."""

    path: Path
    entries: dict[int, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def open(cls, path: Path) -> SolverState:
        if not path.exists():
            return cls(path)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            return cls(path, {int(k): v for k, v in doc.items()})
        except (ValueError, AttributeError) as exc:
            raise MarketError(f"solver state {path} is unreadable ({exc}); it holds the salts "
                              "of unrevealed commitments, so it is left as it is") from None

    def save(self) -> None:
        data = json.dumps({str(k): v for k, v in sorted(self.entries.items())}, indent=1)
        write_file_durably(self.path, data.encode())


class SolverDaemon:
    """A solver (and watcher) acting through ``client``; ``state_path`` keeps its salts."""

    def __init__(self, client: MarketClient, state_path: Path, *,
                 sampler: str = "simulated-annealing", num_reads: int = 32, seed: int = 0,
                 min_bounty: int = 0, max_variables: int = 1024, report: bool = True,
                 max_solve_seconds: float | None = None,
                 solve: Callable[[Any, float], tuple[np.ndarray, int]] | None = None) -> None:
        self.client = client
        self.state = SolverState.open(state_path)
        self.sampler_name = sampler
        self.num_reads = num_reads
        self.seed = seed
        self.min_bounty = min_bounty
        self.max_variables = max_variables
        self.report = report
        self.max_solve_seconds = max_solve_seconds
        self._solve = solve or self._solve_with_sampler
        self._skipped: set[int] = set()
        self._closed: set[int] = set()
        self._warned: set[tuple[int, str]] = set()

    def _solve_with_sampler(self, model: Any, budget: float) -> tuple[np.ndarray, int]:
        from poqw.samplers import get_sampler, spins_and_energies

        sampler = get_sampler(self.sampler_name)
        options: dict[str, Any] = {}
        if "time_limit" in getattr(sampler, "parameters", {}):
            # Half the time left before the deadline: the commitment must still be mined.
            limit = max(1.0, budget / 2)
            if self.max_solve_seconds is not None:
                limit = min(limit, self.max_solve_seconds)
            options["time_limit"] = limit
        sampleset = sampler.sample(model, num_reads=self.num_reads, seed=self.seed, **options)
        spins, energies = spins_and_energies(sampleset, model)
        best = int(np.argmin(energies))
        return np.asarray(spins[best]), round(float(energies[best]))

    def poll(self) -> list[str]:
        """Take every step due now; returns what was done, one line per step."""
        done: list[str] = []
        now = self.client.chain_time()
        for pid in range(1, self.client.problem_count() + 1):
            if pid in self._closed:
                continue
            try:
                self._step(pid, now, done)
            except ContractReverted as exc:  # someone was faster (settled, reported): move on
                key = (pid, exc.error)
                if key not in self._warned:
                    self._warned.add(key)
                    log.warning("problem %d: %s", pid, exc)
        if self.client.market.functions.claimable(self.client.address).call() > 0:
            done.append(f"withdrew {self.client.withdraw()}")
        for line in done:
            log.info("%s", line)
        return done

    def _step(self, pid: int, now: int, done: list[str]) -> None:
        info = self.client.problem(pid)
        entry = self.state.entries.get(pid)
        if info.status != "Open":
            self._closed.add(pid)
            if entry is None or entry.get("revealed"):
                self.state.entries.pop(pid, None)
            return
        if entry is None and now < info.commit_deadline and pid not in self._skipped:
            # The commitment lands in a later block, whose timestamp must still be before the
            # deadline: on a PoQW chain that is seconds away, not the next instant.
            left, interval = info.commit_deadline - now, self._block_interval()
            if left <= interval:
                self._skipped.add(pid)
                done.append(f"problem {pid}: too late to commit ({left} s left, a block every "
                            f"{interval:.1f} s)")
            else:
                self._try_commit(pid, info.bounty, info.target, info.num_variables,
                                 left - interval, done)
        elif entry is not None and not entry.get("revealed") and \
                info.commit_deadline <= now < info.reveal_deadline:
            terms = self.client.terms(pid)
            energy = self.client.reveal(pid, bytes.fromhex(entry["spins"]),
                                        bytes.fromhex(entry["salt"]), terms)
            entry["revealed"] = True
            self.state.save()
            done.append(f"problem {pid}: revealed energy {energy}")
        if self.report and now >= info.commit_deadline:
            self._report_cheats(pid, now >= info.reveal_deadline, done)
        everyone_revealed = info.num_commits and info.num_revealed == info.num_commits
        if now >= info.reveal_deadline or (everyone_revealed and now >= info.commit_deadline):
            outcome = self.client.settle(pid)
            done.append(f"problem {pid}: settled, {outcome['outcome']}")

    def _block_interval(self) -> float:
        """Mean seconds between the chain's last few blocks (0 on a chain of one block)."""
        latest = self.client.w3.eth.get_block("latest")
        count = min(8, int(latest["number"]))
        if count == 0:
            return 0.0
        old = self.client.w3.eth.get_block(int(latest["number"]) - count)
        return (int(latest["timestamp"]) - int(old["timestamp"])) / count

    def _try_commit(self, pid: int, bounty: int, target: int, n: int, budget: float,
                    done: list[str]) -> None:
        if bounty < self.min_bounty or n > self.max_variables:
            self._skipped.add(pid)
            return
        terms = self.client.terms(pid)
        try:
            spins, energy = self._solve(terms.model(), budget)
        except PoqwError as exc:
            self._skipped.add(pid)
            done.append(f"problem {pid}: not solved ({exc})")
            return
        if energy > target:
            self._skipped.add(pid)
            done.append(f"problem {pid}: best energy {energy} misses the target {target}")
            return
        packed, salt = pack_spins(spins), new_salt()
        self.state.entries[pid] = {"spins": packed.hex(), "salt": salt.hex(), "energy": energy,
                                   "revealed": False}
        self.state.save()  # before the commitment exists, so a crash cannot orphan it
        try:
            self.client.commit(pid, packed, salt, energy)
        except ContractReverted:
            del self.state.entries[pid]
            self.state.save()
            self._skipped.add(pid)
            raise
        done.append(f"problem {pid}: committed energy {energy} (target {target})")

    def _report_cheats(self, pid: int, window_closed: bool, done: list[str]) -> None:
        me = self.client.address
        for c in self.client.commitments(pid):
            slashable = c.state == "Mismatched" or (c.state == "Committed" and window_closed)
            if c.solver != me and slashable:
                slashed = self.client.report(pid, c.solver)
                done.append(f"problem {pid}: reported {c.solver}, slashed {slashed}")

    def run(self, stop: Callable[[], bool], wait: Callable[[float], None],
            interval: float = 2.0) -> None:
        """Poll until ``stop()``. A market error or a node that does not answer is logged and
        polling goes on (a node restart must not orphan commitments that still need revealing);
        anything else is a bug and stops the daemon (the caller reports it)."""
        while not stop():
            try:
                self.poll()
            except (MarketError, OSError) as exc:  # requests' connection errors are OSErrors
                log.error("market: %s; retrying in %g s", exc, interval)
            wait(interval)
