"""A solver's end of the layer-2 network: connect to a coordinator and work its jobs.

The solver proves its node key, receives the model, runs each job on a worker thread (in
order, so a challenge always follows the results it covers), and answers challenges with a
signed commitment over the listed jobs. It returns when the coordinator closes the connection,
with the coordinator's reason and whether it banned this solver. With a gate-model backend
(``ibm-fake``, ``ibm``) it announces the device and its fidelity estimate when it joins and
runs the jobs on the device (:mod:`poqw.compute.hardware_solver`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from poqw.compute.hardware_jobs import EXACT, SolverProfile
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
from poqw.errors import ComputeError, InvalidProblem, JobRejected, PoqwError
from poqw.p2p.identity import Role
from poqw.p2p.quic import TlsIdentity, connect_stream
from poqw.problems.io import ising_from_json

__all__ = ["DEVICE_BACKENDS", "MAX_SOLVER_VARIABLES", "SolverOutcome", "open_device",
           "run_solver"]

log = logging.getLogger(__name__)
MAX_SOLVER_VARIABLES = 24  # a state vector of 2**24 amplitudes: the most a solver accepts
DEVICE_BACKENDS = ("ibm-fake", "ibm")


def open_device(backend: str) -> Any:
    """The gate-model device of ``backend``: the fake named by ``POQW_IBM_FAKE_DEVICE``, or
    the IBM Quantum device named by ``POQW_IBM_DEVICE`` (else the least busy)."""
    from poqw.sim.gate_model import (
        DEFAULT_FAKE_DEVICE,
        FAKE_DEVICE_ENV,
        IBM_DEVICE_ENV,
        fake_device,
        ibm_device,
    )

    if backend == "ibm-fake":
        return fake_device(os.environ.get(FAKE_DEVICE_ENV, DEFAULT_FAKE_DEVICE))
    return ibm_device(os.environ.get(IBM_DEVICE_ENV) or None)


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
    device: Any = None
    profile = EXACT
    if backend in DEVICE_BACKENDS:
        from poqw.compute.hardware_solver import announced_fidelity

        device = await loop.run_in_executor(None, open_device, backend)
        fidelity = await loop.run_in_executor(None, announced_fidelity, device)
        profile = SolverProfile("hardware", fidelity, str(device.name))

    def make() -> ComputeConnection:
        return ComputeConnection(key, Role.INITIATOR, nonce=os.urandom(32),
                                 local_fingerprint=identity.fingerprint, now=loop.time(),
                                 profile=profile)

    session, stack = await connect_stream(identity, host, port, ALPN, make, window=WINDOW,
                                          timeout=timeout)
    connection = session.connection
    assert isinstance(connection, ComputeConnection)
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="poqw-solver")
    node: Any = None  # a SolverNode, or a HardwareSolverNode on a device
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
                        node = await loop.run_in_executor(
                            worker, _make_node, key, event.data, backend, cheat_fraction, seed,
                            (device, profile.fidelity))
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
               seed: int | None, device: tuple[Any, float] = (None, 1.0)) -> Any:
    if len(data) > MAX_MODEL_BYTES:
        raise ComputeError(f"the model is {len(data)} bytes, over {MAX_MODEL_BYTES}")
    try:
        model = ising_from_json(json.loads(data))
    except (ValueError, InvalidProblem) as exc:
        raise ComputeError(f"the coordinator sent a model that does not load: {exc}") from exc
    if model.num_variables > MAX_SOLVER_VARIABLES:
        raise ComputeError(f"the model has {model.num_variables} variables; this solver runs "
                           f"at most {MAX_SOLVER_VARIABLES}")
    if device[0] is not None:
        from poqw.compute.hardware_solver import HardwareSolverNode

        try:
            return HardwareSolverNode(key, [model], device[0], announced=device[1])
        except PoqwError as exc:  # the model does not fit the device, say
            raise ComputeError(str(exc)) from exc
    return SolverNode(key, [model], backend, fake_fraction=cheat_fraction,
                      rng=np.random.default_rng(seed))


async def _run_job(loop: asyncio.AbstractEventLoop, worker: ThreadPoolExecutor,
                   node: Any, connection: ComputeConnection, job: bytes) -> None:
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
