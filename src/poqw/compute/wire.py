"""The layer-2 protocol between a coordinator and untrusted solvers (ALPN ``poqw-compute/1``).

A sans-I/O connection like the chain's ``PeerConnection``: bytes and ``now`` in, events and
bytes out, framed by :mod:`poqw.p2p.framing` with this protocol's own magic, message types and
per-type payload limits (checked before a payload byte is buffered). Each side proves its
secp256k1 node key by signing the other's fresh nonce with the TLS certificate fingerprint it
uses (:mod:`poqw.p2p.identity`), so a solver is its key; a solver's HELLO may add its
:class:`~poqw.compute.hardware_jobs.SolverProfile` (a gate-model device and its fidelity
estimate; without one a solver is an exact simulator, as every older solver is). After that
the coordinator sends the model, jobs and challenges (commit to these jobs); the solver answers
with results, failures and signed commitments; either side may close, saying why (and whether
the solver is banned).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from poqw.compute.hardware_jobs import (
    EXACT,
    FIDELITY_SCALE,
    MAX_DEVICE_NAME_BYTES,
    SolverProfile,
)
from poqw.compute.jobs import MAX_JOB_BYTES, result_size
from poqw.compute.strike_spec import MAX_JOB_SHOTS
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.crypto.hashing import hash32
from poqw.encoding.rlp import Bytes, Fields, ListOf, Uint
from poqw.errors import (
    ConfigError,
    DecodeError,
    LocalProtocolError,
    MalformedMessage,
    RemoteProtocolError,
)
from poqw.p2p.codec import (
    decode_payload,
    encode_uint,
    read_bytes,
    read_fixed,
    read_list,
    read_text,
    read_uint,
    rlp_encode,
)
from poqw.p2p.framing import FrameDecoder, FrameSchema, encode_payload
from poqw.p2p.identity import Role, sign_handshake, verify_handshake

__all__ = [
    "ALPN",
    "COMPUTE_FRAMES",
    "MAX_CHALLENGE_JOBS",
    "MAX_MODEL_BYTES",
    "Closed",
    "ComputeConnection",
    "Ready",
    "Received",
    "WireType",
]

ALPN = "poqw-compute/1"
MAX_CHALLENGE_JOBS = 4096  # job ids one commitment covers
MAX_MODEL_BYTES = 8 << 20  # the model's JSON
MAX_REASON_BYTES = 256
HANDSHAKE_TIMEOUT = 15.0
# The handshake signs (chain id, genesis hash); here a fixed domain stands for both, so a
# signature made for the chain protocol's join never passes as a compute one.
_DOMAIN = hash32(b"poqw/compute/handshake/v1")
_COMMITMENT_BYTES = 33 + 32 + 4 + 32 + 65


class WireType(enum.IntEnum):
    HELLO = 1  # node id, nonce[, solver profile: kind, fidelity in millionths, device name]
    AUTH = 2  # signature over the peer's nonce and our certificate
    MODEL = 3  # coordinator -> solver: the model (JSON)
    JOB = 4  # coordinator -> solver: an encoded job
    RESULT = 5  # solver -> coordinator: an encoded job result
    FAILURE = 6  # solver -> coordinator: job id (or empty), reason
    CHALLENGE = 7  # coordinator -> solver: commit to these job ids, in this order
    ANSWER = 8  # solver -> coordinator: the signed commitment
    CLOSE = 9  # either way: reason, banned flag


LIMITS = {
    WireType.HELLO: 80 + 16 + MAX_DEVICE_NAME_BYTES, WireType.AUTH: 80,
    WireType.MODEL: MAX_MODEL_BYTES,
    WireType.JOB: MAX_JOB_BYTES, WireType.RESULT: result_size(MAX_JOB_SHOTS, hardware=True),
    WireType.FAILURE: 40 + MAX_REASON_BYTES, WireType.CHALLENGE: 8 + 33 * MAX_CHALLENGE_JOBS,
    WireType.ANSWER: _COMMITMENT_BYTES, WireType.CLOSE: 8 + MAX_REASON_BYTES,
}
COMPUTE_FRAMES = FrameSchema(b"PQL2", 1, WireType, LIMITS,
                             frozenset({WireType.HELLO, WireType.AUTH, WireType.CLOSE}))
_FROM_COORDINATOR = frozenset({WireType.MODEL, WireType.JOB, WireType.CHALLENGE})
_FROM_SOLVER = frozenset({WireType.RESULT, WireType.FAILURE, WireType.ANSWER})


class State(enum.Enum):
    CONNECTING = "connecting"
    HANDSHAKING = "handshaking"
    READY = "ready"
    CLOSED = "closed"


@dataclass(frozen=True)
class Ready:
    """The peer proved its node key (and, a solver, said what it is)."""

    node_id: bytes
    profile: SolverProfile = EXACT


@dataclass(frozen=True)
class Received:
    """A message after the handshake: ``kind`` and its checked fields."""

    kind: WireType
    data: bytes = b""
    job_id: bytes = b""
    reason: str = ""
    job_ids: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class Closed:
    """The connection ended: why, whether the peer said so, and whether it banned us."""

    reason: str
    by_peer: bool
    banned: bool = False


Event = Ready | Received | Closed


class ComputeConnection:
    """One end of a coordinator-solver connection (the coordinator is the responder)."""

    def __init__(self, key: EcdsaPrivateKey, role: Role, *, nonce: bytes,
                 local_fingerprint: bytes, now: float, profile: SolverProfile = EXACT) -> None:
        if len(nonce) != 32 or len(local_fingerprint) != 32:
            raise LocalProtocolError("the nonce and certificate fingerprint are 32 bytes")
        self.key, self.role, self.profile = key, role, profile
        self.peer_profile = EXACT
        self.nonce, self.local_fingerprint = nonce, local_fingerprint
        self.state = State.CONNECTING
        self.close_reason: str | None = None
        self.peer_host: str | None = None
        self.peer_fingerprint = b""
        self.node_id: bytes | None = None  # proven once READY
        self._claimed: bytes | None = None
        self._authed = False
        self._reported = False  # a Closed event was handed out
        self._decoder = FrameDecoder(joined=False, schema=COMPUTE_FRAMES)
        self._outgoing = bytearray()
        self._deadline = now + HANDSHAKE_TIMEOUT

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    @property
    def is_coordinator(self) -> bool:
        return self.role is Role.RESPONDER

    # ---- the transport's side --------------------------------------------------------------

    def connection_made(self, peer_fingerprint: bytes, now: float) -> None:
        self.peer_fingerprint = peer_fingerprint
        self.state = State.HANDSHAKING
        self._deadline = now + HANDSHAKE_TIMEOUT
        fields: list[bytes | list[bytes]] = [self.key.public_key().compressed, self.nonce]
        if self.profile.is_hardware and not self.is_coordinator:
            fields.append(_encode_profile(self.profile))
        self._send(WireType.HELLO, rlp_encode(fields))

    def connection_lost(self, now: float, reason: str = "transport closed") -> list[Event]:
        """The transport is gone; one last ``Closed`` unless one was already reported."""
        if self._reported:
            return []
        self._reported = True
        if self.state is State.CLOSED:  # we closed it: our reason stands
            return [Closed(self.close_reason or reason, by_peer=False)]
        self.state, self.close_reason = State.CLOSED, reason
        return [Closed(reason, by_peer=True)]

    def data_to_send(self) -> bytes:
        out, self._outgoing = bytes(self._outgoing), bytearray()
        return out

    def next_timer(self) -> float | None:
        return self._deadline if self.state is State.HANDSHAKING else None

    def handle_timer(self, now: float) -> list[Event]:
        if self.state is State.HANDSHAKING and now >= self._deadline:
            return self._fail("the peer did not prove its node key in time")
        return []

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        if self.state is State.CLOSED:
            return []
        events: list[Event] = []
        try:
            self._decoder.feed(data)
            while not self.closed:
                raw = self._decoder.next_raw()
                if raw is None:
                    break
                self._dispatch(WireType(raw.message_type), raw.payload, events)
        except (RemoteProtocolError, DecodeError) as exc:
            events += self._fail(str(exc))
        return events

    # ---- the application's side ------------------------------------------------------------

    def send_model(self, model_json: bytes) -> None:
        self._send_ready(WireType.MODEL, model_json)

    def send_job(self, job: bytes) -> None:
        self._send_ready(WireType.JOB, job)

    def send_challenge(self, job_ids: tuple[bytes, ...]) -> None:
        self._send_ready(WireType.CHALLENGE, rlp_encode(list(job_ids)))

    def send_result(self, result: bytes) -> None:
        self._send_ready(WireType.RESULT, result)

    def send_failure(self, job_id: bytes, reason: str) -> None:
        self._send_ready(WireType.FAILURE, rlp_encode([job_id, _clip(reason)]))

    def send_answer(self, signed: bytes) -> None:
        self._send_ready(WireType.ANSWER, signed)

    def close(self, reason: str = "closing", banned: bool = False) -> None:
        """Say goodbye (and why) and stop reading."""
        if self.state is State.CLOSED:
            return
        if self.state is not State.CONNECTING:
            self._send(WireType.CLOSE, rlp_encode([_clip(reason), encode_uint(int(banned))]))
        self.state, self.close_reason = State.CLOSED, reason

    # ---- inside ----------------------------------------------------------------------------

    def _send(self, kind: WireType, payload: bytes) -> None:
        self._outgoing += encode_payload(kind, payload, 0, COMPUTE_FRAMES)

    def _send_ready(self, kind: WireType, payload: bytes) -> None:
        if self.state is not State.READY:
            raise LocalProtocolError(f"cannot send {kind.name}: the connection is "
                                     f"{self.state.value}")
        self._send(kind, payload)

    def _fail(self, reason: str) -> list[Event]:
        self.close(reason)
        self._reported = True
        return [Closed(reason, by_peer=False)]

    def _dispatch(self, kind: WireType, payload: bytes, events: list[Event]) -> None:
        if kind is WireType.CLOSE:
            fields = decode_payload(payload, "CLOSE", _close_shape)
            self.state, self._reported = State.CLOSED, True
            self.close_reason = read_text(fields[0], "CLOSE reason", MAX_REASON_BYTES)
            events.append(Closed(self.close_reason, by_peer=True,
                                 banned=bool(read_uint(fields[1], "CLOSE banned", 1))))
        elif kind is WireType.HELLO:
            self._on_hello(payload)
        elif kind is WireType.AUTH:
            self._on_auth(payload, events)
        elif kind in (_FROM_SOLVER if self.is_coordinator else _FROM_COORDINATOR):
            events.append(_read(kind, payload))
        else:
            raise RemoteProtocolError(f"{kind.name} is not a message the "
                                      f"{'solver' if self.is_coordinator else 'coordinator'} "
                                      "sends")

    def _on_hello(self, payload: bytes) -> None:
        if self._claimed is not None:
            raise RemoteProtocolError("a second HELLO")
        try:
            fields = decode_payload(payload, "HELLO", _hello_shape)
        except MalformedMessage:  # a solver's HELLO may add its profile
            if not self.is_coordinator:
                raise
            fields = decode_payload(payload, "HELLO", _hello_profile_shape)
            self.peer_profile = _decode_profile(fields[2])
        self._claimed = read_fixed(fields[0], "HELLO node id", 33)
        peer_nonce = read_fixed(fields[1], "HELLO nonce", 32)
        signature = sign_handshake(self.key, self.role, self.local_fingerprint, peer_nonce, 0,
                                   _DOMAIN)
        self._send(WireType.AUTH, rlp_encode([signature]))

    def _on_auth(self, payload: bytes, events: list[Event]) -> None:
        if self._claimed is None or self._authed:
            raise RemoteProtocolError("AUTH before HELLO, or a second AUTH")
        signature = read_fixed(decode_payload(payload, "AUTH", _auth_shape)[0],
                               "AUTH signature", 65)
        peer_role = Role.INITIATOR if self.role is Role.RESPONDER else Role.RESPONDER
        verify_handshake(self._claimed, signature, peer_role, self.peer_fingerprint, self.nonce,
                         0, _DOMAIN)
        self._authed = True
        self.node_id = self._claimed
        self.state = State.READY
        self._decoder.join()
        events.append(Ready(self._claimed, self.peer_profile))


def _encode_profile(profile: SolverProfile) -> list[bytes]:
    return [encode_uint(1), encode_uint(round(profile.fidelity * FIDELITY_SCALE)),
            profile.device.encode("utf-8")]


def _decode_profile(fields: list[bytes]) -> SolverProfile:
    kind = read_uint(fields[0], "HELLO profile kind", 1)
    if kind != 1:
        raise MalformedMessage(f"HELLO profile kind {kind} is not 1 (a gate-model device)")
    fidelity = read_uint(fields[1], "HELLO profile fidelity", 4)
    device = read_text(fields[2], "HELLO profile device", MAX_DEVICE_NAME_BYTES)
    try:
        return SolverProfile("hardware", fidelity / FIDELITY_SCALE, device)
    except ConfigError as exc:
        raise MalformedMessage(f"HELLO profile: {exc}") from None


def _clip(reason: str) -> bytes:
    return reason.encode("utf-8")[:MAX_REASON_BYTES].decode("utf-8", "ignore").encode("utf-8")


def _read(kind: WireType, payload: bytes) -> Received:
    if kind is WireType.FAILURE:
        fields = decode_payload(payload, "FAILURE", _failure_shape)
        job_id = read_bytes(fields[0], "FAILURE job id", 32)
        if len(job_id) not in (0, 32):
            raise MalformedMessage(f"FAILURE job id must be 0 or 32 bytes, got {len(job_id)}")
        return Received(kind, job_id=job_id,
                        reason=read_text(fields[1], "FAILURE reason", MAX_REASON_BYTES))
    if kind is WireType.CHALLENGE:
        items = read_list(decode_payload(payload, "CHALLENGE", _challenge_shape),
                          "CHALLENGE job ids", MAX_CHALLENGE_JOBS)
        return Received(kind, job_ids=tuple(read_fixed(x, "CHALLENGE job id", 32)
                                            for x in items))
    if kind is WireType.ANSWER and len(payload) != _COMMITMENT_BYTES:
        raise MalformedMessage(f"ANSWER must be a {_COMMITMENT_BYTES}-byte signed commitment, "
                               f"got {len(payload)} bytes")
    if kind is WireType.RESULT and len(payload) < 37:
        raise MalformedMessage(f"RESULT of {len(payload)} bytes is truncated")
    job_id = payload[1:33] if kind is WireType.RESULT else b""
    return Received(kind, data=payload, job_id=job_id)


_hello_shape = Fields((("node_id", Bytes(33, 33)), ("nonce", Bytes(32, 32))))
_profile_shape = Fields((("kind", Uint(1)), ("fidelity", Uint(4)),
                        ("device", Bytes(MAX_DEVICE_NAME_BYTES))))
_hello_profile_shape = Fields((("node_id", Bytes(33, 33)), ("nonce", Bytes(32, 32)),
                               ("profile", _profile_shape)))
_auth_shape = Fields((("signature", Bytes(65, 65)),))
_failure_shape = Fields((("job_id", Bytes(32)), ("reason", Bytes(MAX_REASON_BYTES))))
_close_shape = Fields((("reason", Bytes(MAX_REASON_BYTES)), ("banned", Bytes(1))))
_challenge_shape = ListOf(Bytes(32, 32), MAX_CHALLENGE_JOBS, "job ids")
