"""The QUIC coordinator transport with a real solver client in this process: a solver that
refuses the model says why and its jobs fail over at once instead of waiting for a timeout."""

from __future__ import annotations

import asyncio
from pathlib import Path

from poqw.compute.jobs import Job
from poqw.compute.network import QuicCoordinatorTransport
from poqw.compute.solver_client import MAX_SOLVER_VARIABLES, run_solver
from poqw.compute.strike_spec import StrikeSpec
from poqw.compute.transport import Reply
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.p2p.quic import ensure_tls_identity
from poqw.problems import maxcut_to_ising, random_regular_graph


def test_a_solver_refusing_the_model_says_why_and_its_jobs_fail_over(tmp_path: Path) -> None:
    n = MAX_SOLVER_VARIABLES + 2
    model = maxcut_to_ising(random_regular_graph(3, n, seed=1))
    transport = QuicCoordinatorTransport(EcdsaPrivateKey.generate(),
                                         ensure_tls_identity(tmp_path / "coord"), model)
    port = transport.start()
    try:
        outcome = asyncio.run(run_solver(EcdsaPrivateKey.generate(),
                                         ensure_tls_identity(tmp_path / "solver"),
                                         "127.0.0.1", port))
        assert outcome.refused
        assert outcome.reason == (f"refused the model: the model has {n} variables; this "
                                  f"solver runs at most {MAX_SOLVER_VARIABLES}")
        name = transport.wait_for_solvers(1, 10)[0]
        spec = StrikeSpec.create(model.content_hash(), [0.1], [0.2], 4, bytes(32))
        job = Job(0, 0, bytes(32), spec)
        replies: list[Reply] = []
        for _ in range(100):
            if transport.sessions.get(name) is None:
                break
            transport.wait(0.05)
        transport.send_job(name, job.to_bytes())
        while not replies:
            replies = transport.wait(5.0)
        assert replies[0].kind == "failure" and replies[0].job_id == job.job_id
        assert replies[0].error == f"solver {name[:16]}... is not connected"
    finally:
        transport.close()
