"""A solver's end of the layer-2 network: connect to a coordinator and work its jobs.

The solver proves its node key, receives the model, runs each job on a worker thread (in
order, so a challenge always follows the results it covers), and answers challenges with a
signed commitment over the listed jobs. It returns when the coordinator closes the connection,
with the coordinator's reason and whether it banned this solver.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from poqw.compute.jobs import SolverNode
from poqw.compute.network import WINDOW
from poqw.compute.wire import (
    ALPN,
    MAX_MODEL_BYTES,
    Closed,
    ComputeConnection,
    Ready,
    Received,
    WireType,
)
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.errors import ComputeError, InvalidProblem, JobRejected
from poqw.p2p.identity import Role
from poqw.p2p.quic import TlsIdentity, connect_stream
from poqw.problems.io import ising_from_json

__all__ = ["MAX_SOLVER_VARIABLES", "SolverOutcome", "run_solver"]

log = logging.getLogger(__name__)
MAX_SOLVER_VARIABLES = 24  # a state vector of 2**24 amplitudes: the most a solver accepts


@dataclass(frozen=True)
class SolverOutcome:
    reason: str
    banned: bool
    jobs: int
    refused: bool = False  # this solver would not take the coordinator's model


async def run_solver(key: EcdsaPrivateKey, identity: TlsIdentity, host: str, port: int, *,
                     backend: str = "fast", cheat_fraction: float = 0.0,
                     seed: int | None = None, timeout: float = 10.0) -> SolverOutcome:
    """Serve one coordinator until it closes the connection."""
    loop = asyncio.get_running_loop()

    def make() -> ComputeConnection:
        return ComputeConnection(key, Role.INITIATOR, nonce=os.urandom(32),
                                 local_fingerprint=identity.fingerprint, now=loop.time())

    session, stack = await connect_stream(identity, host, port, ALPN, make, window=WINDOW,
                                          timeout=timeout)
    connection = session.connection
    assert isinstance(connection, ComputeConnection)
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="poqw-solver")
    node: SolverNode | None = None
    try:
        while True:
            event = await session.events.get()
            if isinstance(event, Ready):
                log.info("joined coordinator %s:%d as %s", host, port, event.node_id.hex()[:16])
            elif isinstance(event, Closed):
                jobs = 0 if node is None else node.jobs_run
                return SolverOutcome(event.reason, event.banned, jobs)
            elif isinstance(event, Received):
                if event.kind is WireType.MODEL:
                    try:
                        node = await loop.run_in_executor(worker, _make_node, key, event.data,
                                                          backend, cheat_fraction, seed)
                    except ComputeError as exc:  # say why, so its jobs go elsewhere at once
                        session.close(f"solver refuses the model: {exc}")
                        return SolverOutcome(f"refused the model: {exc}", False, 0, True)
                elif event.kind is WireType.JOB:
                    await _run_job(loop, worker, node, connection, event.data)
                elif event.kind is WireType.CHALLENGE:
                    try:
                        if node is None:
                            raise JobRejected("no model yet")
                        connection.send_answer(node.handle_commit(event.job_ids))
                    except JobRejected as exc:
                        connection.send_failure(b"", str(exc))
                if not connection.closed:
                    session.flush()
    finally:
        worker.shutdown(wait=False, cancel_futures=True)
        if not connection.closed:
            session.close("solver stopping")
        await asyncio.sleep(0.1)
        await stack.aclose()


def _make_node(key: EcdsaPrivateKey, data: bytes, backend: str, cheat_fraction: float,
               seed: int | None) -> SolverNode:
    if len(data) > MAX_MODEL_BYTES:
        raise ComputeError(f"the model is {len(data)} bytes, over {MAX_MODEL_BYTES}")
    try:
        model = ising_from_json(json.loads(data))
    except (ValueError, InvalidProblem) as exc:
        raise ComputeError(f"the coordinator sent a model that does not load: {exc}") from exc
    if model.num_variables > MAX_SOLVER_VARIABLES:
        raise ComputeError(f"the model has {model.num_variables} variables; this solver runs "
                           f"at most {MAX_SOLVER_VARIABLES}")
    return SolverNode(key, [model], backend, fake_fraction=cheat_fraction,
                      rng=np.random.default_rng(seed))


async def _run_job(loop: asyncio.AbstractEventLoop, worker: ThreadPoolExecutor,
                   node: SolverNode | None, connection: ComputeConnection, job: bytes) -> None:
    from poqw.compute.jobs import Job

    try:
        if node is None:
            raise JobRejected("this solver has no model yet")
        result = await loop.run_in_executor(worker, node.handle_job, job)
    except JobRejected as exc:
        connection.send_failure(Job.from_bytes(job).job_id, str(exc))
        return
    if not connection.closed:
        connection.send_result(result)
