"""Real ``poqw coordinator`` and ``poqw solver`` processes on loopback for the layer-2 tests.

``Cluster`` starts a coordinator on a free port with a temporary data directory and solver
processes with their own key files, reads the coordinator's JSON answer when it finishes, and
stops every process it started (by its process group). ``honest_answer`` is the same solve in
one process with one honest solver: what the network must reproduce.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from framework import log, wait_until

from poqw.cli.devnet import free_port
from poqw.compute.coordinator import Coordinator, SolveSettings
from poqw.compute.jobs import SolverNode
from poqw.compute.transport import InProcessTransport, run_solve
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.problems import maxcut_to_ising, random_regular_graph

__all__ = ["SETTINGS", "Cluster", "honest_answer"]

_MAIN = "from poqw.cli.main import main; main()"
# A 10-variable MaxCut, strikes of 4 jobs, a spot-check epoch every 2 rounds checking every leaf.
SETTINGS = {"p": 2, "shots": 128, "rounds": 6, "seed": 3, "job_shots": 32, "verify_every": 2,
            "checks": 44}
GRAPH = (3, 10)


def honest_answer(**overrides: Any) -> dict[str, Any]:
    settings = SolveSettings(**{**SETTINGS, **overrides})
    model = maxcut_to_ising(random_regular_graph(*GRAPH, seed=settings.seed))
    node = SolverNode(EcdsaPrivateKey.generate(), [model])
    coordinator = Coordinator(model, settings, ["solo"])
    return run_solve(coordinator, InProcessTransport({"solo": node}))


class Cluster:
    """A coordinator and its solvers (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        with open(self.root / f"{name}.out", "wb") as out, \
                open(self.root / f"{name}.err", "wb") as err:
            process = subprocess.Popen([sys.executable, "-c", _MAIN, *args], stdout=out,
                                       stderr=err, start_new_session=True, cwd=self.root)
        self.processes[name] = process
        return process

    def start_coordinator(self, solvers: int, timeout: float = 60.0, name: str = "coordinator",
                          extra: Sequence[str] = (), **overrides: Any) -> None:
        s = {**SETTINGS, **overrides}
        args = ["coordinator", "--random-regular", str(GRAPH[0]), str(GRAPH[1]),
                "--listen", f"127.0.0.1:{self.port}", "--datadir", str(self.root / "coord"),
                "--solvers", str(solvers), "--seed", str(s["seed"]), "--p", str(s["p"]),
                "--shots", str(s["shots"]), "--strikes", str(s["rounds"]),
                "--job-shots", str(s["job_shots"]), "--verify-every", str(s["verify_every"]),
                "--checks", str(s["checks"]), "--timeout", str(timeout), *extra]
        self._spawn(name, args)
        wait_until(lambda: "listening" in self.text(name), 60, f"{name} to listen")
        log(f"{name} listening on 127.0.0.1:{self.port}")

    def start_solver(self, name: str, *extra: str, key_of: str | None = None) -> None:
        """Start solver ``name`` with its own key file (or ``key_of``'s)."""
        key = self.root / f"{key_of or name}.key"
        if not key.exists():
            key.write_text(EcdsaPrivateKey.generate().secret_bytes().hex() + "\n")
        self._spawn(name, ["solver", "--coordinator", f"127.0.0.1:{self.port}",
                           "--key", str(key), *extra])
        log(f"{name} started {' '.join(extra)}")

    def text(self, name: str) -> str:
        return (self.root / f"{name}.err").read_text(errors="replace")

    def answer(self, name: str = "coordinator", timeout: float = 120.0) -> dict[str, Any]:
        process = self.processes[name]
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{name} did not finish in {timeout:g} s:\n"
                                 f"{self.text(name)[-3000:]}") from None
        assert process.returncode == 0, self.text(name)[-3000:]
        doc: dict[str, Any] = json.loads((self.root / f"{name}.out").read_text())
        return doc

    def node_id(self, name: str) -> str:
        secret = bytes.fromhex((self.root / f"{name}.key").read_text().strip())
        return EcdsaPrivateKey(secret).public_key().compressed.hex()

    def signal(self, name: str, sig: int) -> None:
        os.killpg(self.processes[name].pid, sig)

    def stop_all(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGCONT)
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                log(f"{name} stopped")
