"""The coordinator's end of the layer-2 network: a :class:`Transport` over QUIC.

An asyncio loop on one supervised thread listens for solvers (ALPN ``poqw-compute/1``), lets in
those that prove their node key, are not banned and pass the :class:`StakeCheck`, sends each the
model, and moves jobs, results, challenges and commitments between the sans-I/O
:class:`~poqw.compute.wire.ComputeConnection` objects and the synchronous :func:`run_solve`
loop. A solver is named by its node id (hex); the profile it announced (exact simulator or
gate-model device) is kept in ``profiles``, and ``admission`` may refuse it by its profile
(a device the solve does not tolerate is told why and let go, not banned; so is one the
coordinator stops using later, named by ``dismissed_source``). When the
coordinator bans one, its connection is closed with ``banned`` set and its key is refused from
then on; a solver that disconnects has its outstanding jobs failed at once, so they are
reassigned without waiting for the timeout.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from poqw.compute.hardware_jobs import SolverProfile
from poqw.compute.stake import AllowAll, StakeCheck
from poqw.compute.transport import Reply
from poqw.compute.wire import (
    ALPN,
    LIMITS,
    Closed,
    ComputeConnection,
    Ready,
    Received,
    WireType,
)
from poqw.crypto.ecdsa import EcdsaPrivateKey, EcdsaPublicKey
from poqw.errors import ComputeError, ConfigError
from poqw.p2p.identity import Role
from poqw.p2p.policing import BanList, MisbehaviourScore, Penalty
from poqw.p2p.quic import StreamSession, TlsIdentity, serve_streams
from poqw.problems import IsingModel
from poqw.problems.io import ising_to_json

__all__ = ["BAN_SECONDS", "QuicCoordinatorTransport"]

log = logging.getLogger(__name__)
BAN_SECONDS = 30 * 24 * 3600.0
WINDOW = max(LIMITS.values()) + 64


class QuicCoordinatorTransport:
    """Solvers connect here; ``send_job``/``request_commitment``/``wait`` as run_solve expects."""

    def __init__(self, key: EcdsaPrivateKey, identity: TlsIdentity, model: IsingModel, *,
                 stake: StakeCheck | None = None, bans: BanList | None = None) -> None:
        self.key, self.identity = key, identity
        self.model_json = json.dumps(ising_to_json(model)).encode()
        self.stake = stake or AllowAll()
        self.bans = bans if bans is not None else BanList()
        self.sessions: dict[str, StreamSession] = {}
        self.profiles: dict[str, SolverProfile] = {}
        self.admission: Callable[[SolverProfile], str | None] = lambda profile: None
        self.sent: dict[str, set[bytes]] = {}  # job ids a solver holds and has not answered
        self.challenged: set[str] = set()
        self.scores: dict[str, MisbehaviourScore] = {}
        self.replies: queue.Queue[Reply] = queue.Queue()
        self.joined: queue.Queue[str] = queue.Queue()
        self.banned_source: Callable[[], set[str]] = set
        self._closed_bans: set[str] = set()
        self.dismissed_source: Callable[[], Mapping[str, str]] = dict  # solver -> why
        self._dismissed: set[str] = set()
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._stopping: asyncio.Event | None = None
        self._pumps: set[asyncio.Task[None]] = set()
        self.port = 0

    # ---- life cycle ------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on ``host:port`` (port 0: a free one); returns the bound port."""
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(host, port, started),
                                        name="poqw-coordinator-net", daemon=True)
        self._thread.start()
        started.wait()
        if self._failure is not None:
            raise ConfigError(f"cannot listen on {host}:{port}: {self._failure}")
        return self.port

    def _run(self, host: str, port: int, started: threading.Event) -> None:
        """The network thread: its owner is this transport; a crash is kept and re-raised by
        the next ``wait`` on the solve's thread."""
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve(host, port, started))
        except BaseException as exc:
            log.error("the coordinator's network thread stopped: %r", exc)
            self._failure = exc
        finally:
            started.set()

    async def _serve(self, host: str, port: int, started: threading.Event) -> None:
        self._stopping = asyncio.Event()
        server, self.port = await serve_streams(
            self.identity, host, port, ALPN, self._make_connection, self._on_session,
            window=WINDOW)
        started.set()
        try:
            await self._stopping.wait()
            for session in list(self.sessions.values()):
                session.close("the solve is finished")
            await asyncio.sleep(0.3)  # let the goodbyes leave
        finally:
            server.close()
            for task in self._pumps:
                task.cancel()
            await asyncio.gather(*self._pumps, return_exceptions=True)

    def close(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            return
        if self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(10.0)

    # ---- the Transport interface (called on the solve's thread) ------------------------------

    def send_job(self, solver: str, job: bytes) -> None:
        self._loop.call_soon_threadsafe(self._send, solver, WireType.JOB, job)

    def request_commitment(self, solver: str, job_ids: Sequence[bytes]) -> None:
        self._loop.call_soon_threadsafe(self._send, solver, WireType.CHALLENGE, tuple(job_ids))

    def wait(self, timeout: float) -> list[Reply]:
        if self._failure is not None:
            raise ComputeError(f"the coordinator's network stopped: {self._failure!r}")
        for solver in self.banned_source() - self._closed_bans:
            self._closed_bans.add(solver)
            self._loop.call_soon_threadsafe(self._ban, solver)
        for solver, reason in self.dismissed_source().items():
            if solver not in self._dismissed:
                self._dismissed.add(solver)
                self._loop.call_soon_threadsafe(self._dismiss, solver, reason)
        out = []
        try:
            out.append(self.replies.get(timeout=timeout))
            while True:
                out.append(self.replies.get_nowait())
        except queue.Empty:
            pass
        return out

    def wait_for_solvers(self, count: int, timeout: float) -> list[str]:
        """Block until ``count`` solvers joined (or raise :class:`ComputeError`)."""
        names: list[str] = []
        while len(names) < count:
            try:
                names.append(self.joined.get(timeout=timeout))
            except queue.Empty:
                raise ComputeError(f"only {len(names)} of {count} solvers joined in "
                                   f"{timeout:g} s") from None
        return names

    def new_solvers(self) -> list[str]:
        out = []
        while not self.joined.empty():
            out.append(self.joined.get_nowait())
        return out

    # ---- on the network thread ---------------------------------------------------------------

    def _make_connection(self) -> ComputeConnection:
        return ComputeConnection(self.key, Role.RESPONDER, nonce=os.urandom(32),
                                 local_fingerprint=self.identity.fingerprint,
                                 now=self._loop.time())

    def _on_session(self, session: StreamSession) -> None:
        task = self._loop.create_task(self._pump(session))
        self._pumps.add(task)
        task.add_done_callback(self._pump_done)

    def _pump_done(self, task: asyncio.Task[None]) -> None:
        self._pumps.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a solver connection's handler failed: %r", task.exception())
            self._failure = task.exception()

    def _send(self, solver: str, kind: WireType, payload: Any) -> None:
        session = self.sessions.get(solver)
        if session is None or session.connection.closed:
            job_id = b""
            if kind is WireType.JOB:
                from poqw.compute.jobs import Job
                job_id = Job.from_bytes(payload).job_id
            self.replies.put(Reply(solver, "failure", job_id=job_id,
                                   error=f"solver {solver[:16]}... is not connected"))
            return
        connection = session.connection
        assert isinstance(connection, ComputeConnection)
        if kind is WireType.JOB:
            from poqw.compute.jobs import Job
            self.sent.setdefault(solver, set()).add(Job.from_bytes(payload).job_id)
            connection.send_job(payload)
        else:
            self.challenged.add(solver)
            connection.send_challenge(payload)
        session.flush()

    def _ban(self, solver: str,
             reason: str = "banned: caught faking strikes or refusing to commit") -> None:
        self.bans.ban(f"node:{solver}", self._loop.time(), BAN_SECONDS, reason)
        session = self.sessions.pop(solver, None)
        if session is not None:
            session.close(reason, banned=True)

    def _dismiss(self, solver: str, reason: str) -> None:
        session = self.sessions.pop(solver, None)
        if session is not None:
            session.close(reason)

    async def _pump(self, session: StreamSession) -> None:
        name: str | None = None
        while True:
            event = await session.events.get()
            if isinstance(event, Ready):
                address = EcdsaPublicKey(event.node_id).address()
                # The stake check may ask a chain over HTTP: off the loop.
                refusal = await self._loop.run_in_executor(None, self.stake.refusal, address)
                name = self._admit(session, event.node_id,
                                   refusal or self.admission(event.profile))
            elif isinstance(event, Received) and name is not None:
                self._received(name, event)
            elif isinstance(event, Closed):
                if name is not None:
                    self._gone(name, session, event.reason)
                return

    def _admit(self, session: StreamSession, node_id: bytes, refusal: str | None
               ) -> str | None:
        name = node_id.hex()
        if session.connection.closed:
            return None
        if self.bans.is_banned(f"node:{name}", self._loop.time()):
            refusal = f"solver {name[:16]}... is " + (
                self.bans.reason(f"node:{name}", self._loop.time()) or "banned")
        if refusal is not None:
            log.warning("refused solver %s: %s", name[:16], refusal)
            session.close(refusal, banned=refusal.startswith("solver"))
            return None
        old = self.sessions.get(name)
        if old is not None:
            old.close("replaced by a new connection of the same key")
        self.sessions[name] = session
        connection = session.connection
        assert isinstance(connection, ComputeConnection)
        self.profiles[name] = connection.peer_profile
        connection.send_model(self.model_json)
        session.flush()
        log.info("solver %s joined from %s", name[:16], session.remote_address)
        self.joined.put(name)
        return name

    def _received(self, name: str, event: Received) -> None:
        unasked = (event.kind is WireType.ANSWER and name not in self.challenged) or (
            event.kind is not WireType.ANSWER and bool(event.job_id)
            and event.job_id not in self.sent.get(name, set()))
        if unasked:  # still handed on: the coordinator refuses it by name
            score = self.scores.setdefault(name, MisbehaviourScore())
            if score.add(Penalty.UNSOLICITED, self._loop.time()):
                self._ban(name, f"banned: {event.kind.name} messages for work it was not given")
        if event.kind is WireType.RESULT:
            self.sent.get(name, set()).discard(event.job_id)
            self.replies.put(Reply(name, "result", event.data, event.job_id))
        elif event.kind is WireType.FAILURE:
            self.sent.get(name, set()).discard(event.job_id)
            if not event.job_id:
                self.challenged.discard(name)
            self.replies.put(Reply(name, "failure", job_id=event.job_id, error=event.reason))
        elif event.kind is WireType.ANSWER:
            self.challenged.discard(name)
            self.replies.put(Reply(name, "commitment", event.data))

    def _gone(self, name: str, session: StreamSession, reason: str) -> None:
        if self.sessions.get(name) is session:
            del self.sessions[name]
        log.info("solver %s left: %s", name[:16], reason)
        for job_id in self.sent.pop(name, set()):
            self.replies.put(Reply(name, "failure", job_id=job_id, error=f"disconnected: "
                                                                        f"{reason}"))
        if name in self.challenged:
            self.challenged.discard(name)
            self.replies.put(Reply(name, "failure", error=f"disconnected: {reason}"))
