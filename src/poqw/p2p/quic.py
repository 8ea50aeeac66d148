"""The QUIC transport: the one module that touches aioquic.

Each peer connection is QUIC with TLS 1.3 and ALPN ``poqw/1``, carrying one bidirectional stream
of framed messages. Both ends present a certificate (self-signed, made on first start, or the
user's own files); this module only moves bytes between the stream and a ``PeerConnection``, runs
its timer on the event loop, and tells it the SHA-256 fingerprint of the certificate the peer
actually presented, which the join handshake then binds to the peer's node key. Incoming
connections and new node keys are admitted within per-address budgets (``Admission``). Payloads
that can take milliseconds to decode (blocks, headers, transactions) are decoded on one worker
thread of the transport, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import logging
import os
import ssl
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import Protocol as TypingProtocol

from aioquic.asyncio.client import connect as quic_connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.asyncio.server import QuicServer, serve
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import (
    ConnectionTerminated,
    HandshakeCompleted,
    QuicEvent,
    StreamDataReceived,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from poqw.errors import ConfigError, MalformedMessage, ProtocolError, RemoteProtocolError
from poqw.p2p import events as ev
from poqw.p2p.admission import Admission
from poqw.p2p.config import ChainTip, LocalNode, PeerConfig, SeenHashes
from poqw.p2p.framing import HEADER_SIZE, RawFrame, decode_raw
from poqw.p2p.identity import Role, certificate_fingerprint
from poqw.p2p.messages import MAX_PAYLOAD, DisconnectReason, Message, MessageType
from poqw.p2p.peer import HEAVY_TYPES, ConnectionState, PeerConnection
from poqw.p2p.policing import AddressLimits, BanList, Penalty
from poqw.p2p.trust import TrustStore

__all__ = [
    "ALPN",
    "DEFAULT_PORT",
    "PeerSession",
    "QuicTransport",
    "StreamConnection",
    "StreamSession",
    "TlsIdentity",
    "connect_stream",
    "ensure_tls_identity",
    "serve_streams",
]

_log = logging.getLogger(__name__)

ALPN = "poqw/1"
DEFAULT_PORT = 20049
CERT_FILE = "node.crt"
KEY_FILE = "node.key"
# Flow-control window: one largest message (a full BLOCK_SUBMIT) can be in flight at once.
_FLOW_WINDOW = MAX_PAYLOAD[MessageType.BLOCK_SUBMIT] + HEADER_SIZE
_CLOSE_GRACE = 0.25  # seconds for a DISCONNECT to reach the peer before QUIC closes
_MAX_EARLY_BYTES = 64 * 1024  # stream data buffered while TLS is still finishing


@dataclass(frozen=True)
class TlsIdentity:
    """The certificate and key files this node presents, and the certificate's fingerprint."""

    cert_file: Path
    key_file: Path
    fingerprint: bytes


def ensure_tls_identity(directory: Path | str, cert_file: Path | str | None = None,
                        key_file: Path | str | None = None) -> TlsIdentity:
    """The user's own cert/key files if given, else ``node.crt``/``node.key`` in ``directory``,
    generated on first start (self-signed ECDSA P-256, key file readable by the owner only)."""
    if (cert_file is None) != (key_file is None):
        raise ConfigError("give both a TLS certificate file and its key file, or neither")
    if cert_file is None or key_file is None:
        directory = Path(directory)
        cert_path, key_path = directory / CERT_FILE, directory / KEY_FILE
        if not cert_path.exists() and not key_path.exists():
            directory.mkdir(parents=True, exist_ok=True)
            _write_self_signed(cert_path, key_path)
    else:
        cert_path, key_path = Path(cert_file), Path(key_file)
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"cannot load TLS certificate {cert_path} / key {key_path}: {exc}"
                          ) from exc
    if key.public_key().public_bytes(serialization.Encoding.DER,
                                     serialization.PublicFormat.SubjectPublicKeyInfo) != \
            certificate.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo):
        raise ConfigError(f"TLS key {key_path} does not belong to certificate {cert_path}")
    der = certificate.public_bytes(serialization.Encoding.DER)
    return TlsIdentity(cert_path, key_path, certificate_fingerprint(der))


def _write_self_signed(cert_path: Path, key_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "poqw node")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def _configuration(identity: TlsIdentity, is_client: bool, idle_timeout: float,
                   alpn: str = ALPN, window: int = _FLOW_WINDOW) -> QuicConfiguration:
    config = QuicConfiguration(alpn_protocols=[alpn], is_client=is_client,
                               idle_timeout=idle_timeout, verify_mode=ssl.CERT_NONE,
                               max_data=window, max_stream_data=window)
    # Certificates are self-signed: identity comes from the signed join, not from a CA.
    config.load_cert_chain(identity.cert_file, identity.key_file)
    return config


def _decode_or_error(frame: RawFrame) -> Message | MalformedMessage:
    """On the decoding thread: the frame's message, or the ``MalformedMessage`` it raised."""
    try:
        return decode_raw(frame).message
    except MalformedMessage as exc:
        return exc


def _request_client_certificate(quic: QuicConnection) -> None:
    """Make the server ask the client for its certificate (aioquic has no public switch)."""
    initialize = quic._initialize

    def initialize_and_request(peer_cid: bytes) -> None:
        initialize(peer_cid)
        quic.tls._request_client_certificate = True

    quic._initialize = initialize_and_request  # type: ignore[method-assign]


def _peer_certificate_der(quic: QuicConnection) -> bytes | None:
    certificate = getattr(quic.tls, "_peer_certificate", None)
    if certificate is None:
        return None
    return bytes(certificate.public_bytes(serialization.Encoding.DER))


def _remote_address(quic: QuicConnection) -> tuple[str, int] | None:
    paths = getattr(quic, "_network_paths", None)
    if not paths:
        return None
    host, port = paths[0].addr[:2]
    if host.startswith("::ffff:"):  # an IPv4 peer on a dual-stack socket
        host = host[len("::ffff:"):]
    return str(host), int(port)


class PeerSession:
    """One live peer: its ``PeerConnection`` (``protocol``) and a queue of its events.

    Call the protocol's send/respond methods, then ``flush()``; read ``next_event()``.
    """

    def __init__(self, protocol: PeerConnection, transport: _Protocol) -> None:
        self.protocol = protocol
        self._transport = transport
        self._events: asyncio.Queue[ev.Event] = asyncio.Queue()
        self.ready = asyncio.Event()
        self.closed = asyncio.Event()
        self.terminated = asyncio.Event()  # the QUIC connection itself is gone
        self.alpn: str | None = None  # the protocol TLS negotiated
        self.remote_address: tuple[str, int] | None = None

    @property
    def state(self) -> ConnectionState:
        return self.protocol.state

    def flush(self) -> None:
        self._transport.flush()

    async def next_event(self, timeout: float | None = None) -> ev.Event:
        """The next event; ``TimeoutError`` after ``timeout`` s. (``asyncio.timeout``, not
        ``wait_for``: on Python 3.11 a cancel that lands as ``wait_for`` times out comes back
        as a ``TimeoutError``, so a loop that retries on timeouts never saw it and
        ``NetworkService.close()`` waited forever for that task.)"""
        async with asyncio.timeout(timeout):
            return await self._events.get()

    def pending_events(self) -> list[ev.Event]:
        out = []
        while not self._events.empty():
            out.append(self._events.get_nowait())
        return out

    def close(self, reason: str = "closing") -> None:
        self.protocol.close(reason)
        self.flush()

    async def wait_closed(self) -> None:
        await self._transport.wait_closed()

    def _deliver(self, events: list[ev.Event]) -> None:
        for event in events:
            if isinstance(event, ev.HandshakeCompleted):
                self.ready.set()
            elif isinstance(event, ev.ConnectionClosed):
                self.closed.set()
            self._events.put_nowait(event)


class _Protocol(QuicConnectionProtocol):
    """aioquic's connection protocol, shovelling stream bytes to and from a PeerConnection."""

    def __init__(self, quic: QuicConnection, *, make_peer: Callable[[], PeerConnection],
                 admission: Admission, on_ready: Callable[[PeerSession], None] | None = None,
                 stream_handler: Any = None, decoding: Executor | None = None) -> None:
        super().__init__(quic, stream_handler=stream_handler)
        self.session = PeerSession(make_peer(), self)
        self._admission = admission
        self._decoding = decoding  # None: decode heavy payloads on the loop (tests only)
        self._on_ready = on_ready
        self._stream_id: int | None = None
        self._early: list[bytes] = []
        self._peer_timer: asyncio.TimerHandle | None = None
        self._quic_closing = False

    def quic_event_received(self, event: QuicEvent) -> None:
        peer = self.session.protocol
        now = self._loop.time()
        if isinstance(event, HandshakeCompleted):
            self.session.alpn = event.alpn_protocol
            self.session.remote_address = _remote_address(self._quic)
            if self.session.remote_address is not None:
                peer.peer_host = self.session.remote_address[0]
            der = _peer_certificate_der(self._quic)
            refusal = None
            if event.alpn_protocol != ALPN:
                refusal = f"ALPN {event.alpn_protocol!r} is not {ALPN!r}"
            elif der is None:
                refusal = "no certificate: a poqw peer must present one"
            elif peer.role is Role.RESPONDER:
                refusal = self._admission.connection_refusal(peer.peer_host,
                                                             certificate_fingerprint(der), now)
            if refusal is not None or der is None:
                refusal = refusal or "no certificate"
                self._close_quic(refusal)
                self.session._deliver(peer.connection_lost(now, refusal))
                return
            if peer.role is Role.INITIATOR:
                self._stream_id = self._quic.get_next_available_stream_id()
            peer.connection_made(certificate_fingerprint(der), now)
            for data in self._early:
                self._receive(data, now)
            self._early.clear()
        elif isinstance(event, StreamDataReceived):
            if self._stream_id is None:
                self._stream_id = event.stream_id
            if event.stream_id != self._stream_id:
                self._receive_error(f"data on unexpected stream {event.stream_id}", now)
            elif peer.state is ConnectionState.CONNECTING:
                self._early.append(event.data)
                if sum(map(len, self._early)) > _MAX_EARLY_BYTES:
                    self._early.clear()
                    self._close_quic("too much data before the TLS handshake finished")
            else:
                self._receive(event.data, now)
        elif isinstance(event, ConnectionTerminated):
            self._quic_closing = True
            self._cancel_timer()
            reason = event.reason_phrase or f"QUIC connection closed (code {event.error_code})"
            self.session._deliver(peer.connection_lost(now, reason))
            self.session.closed.set()
            self.session.terminated.set()
        self.flush()

    def _receive(self, data: bytes, now: float) -> None:
        events = self.session.protocol.receive_data(data, now)
        self._after(events)

    def _receive_error(self, reason: str, now: float) -> None:
        peer = self.session.protocol
        self._after(peer.report_invalid(reason, now, points=Penalty.MALFORMED))
        peer.close(reason, code=DisconnectReason.PROTOCOL_ERROR)

    def _after(self, events: list[ev.Event]) -> None:
        peer = self.session.protocol
        to_decode = [e.frame for e in events if isinstance(e, ev.DecodeRequested)]
        if to_decode:
            events = [e for e in events if not isinstance(e, ev.DecodeRequested)]
        for i, event in enumerate(events):
            if isinstance(event, ev.HandshakeCompleted) and event.first_seen \
                    and peer.role is Role.RESPONDER:
                refusal = self._admission.identity_refusal(peer.peer_host, event.peer.node_id,
                                                           self._loop.time())
                if refusal is not None:  # the new key is not let in: no session, no pin
                    peer.close(refusal)
                    events = [*events[:i], ev.ConnectionClosed(DisconnectReason.REQUESTED,
                                                               refusal, by_peer=False)]
                    break
        self.session._deliver(events)
        if self._on_ready is not None and any(isinstance(e, ev.HandshakeCompleted)
                                              for e in events):
            self._on_ready(self.session)
        for frame in to_decode:
            self._decode(frame)

    def _decode(self, frame: RawFrame) -> None:
        """Decode a heavy payload on the decoding thread; the connection reads no further
        frames from this peer until ``_decoded`` hands the result back on the loop."""
        if self._decoding is None:
            self._decoded(frame, _decode_or_error(frame))
            return
        try:
            future = self._loop.run_in_executor(self._decoding, _decode_or_error, frame)
        except RuntimeError:  # the transport is closing: its decoding thread is gone
            return
        future.add_done_callback(functools.partial(self._decode_done, frame))

    def _decode_done(self, frame: RawFrame,
                     future: asyncio.Future[Message | MalformedMessage]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:  # a decoder bug, not the peer's fault: drop the connection, loudly
            _log.error("decoding a %s from %s failed: %r", frame.message_type.name,
                       self.session.protocol.peer_host, exc, exc_info=exc)
            self.session.protocol.close(f"internal error decoding a {frame.message_type.name}")
            self.flush()
            return
        self._decoded(frame, future.result())

    def _decoded(self, frame: RawFrame, result: Message | MalformedMessage) -> None:
        self._after(self.session.protocol.decoded(frame, result, self._loop.time()))
        self.flush()

    def flush(self) -> None:
        peer = self.session.protocol
        data = peer.data_to_send()
        if data and self._stream_id is not None and not self._quic_closing:
            self._quic.send_stream_data(self._stream_id, data)
        if peer.state is ConnectionState.CLOSED and not self._quic_closing:
            self._admission.closed(peer, self._loop.time())
            self._quic_closing = True
            self._cancel_timer()
            self._loop.call_later(_CLOSE_GRACE, self._close_quic, peer.close_reason or "closed")
        else:
            self._schedule_timer()
        self.transmit()

    def _close_quic(self, reason: str) -> None:
        self._quic_closing = True
        self.close(reason_phrase=reason[:200])

    def _schedule_timer(self) -> None:
        self._cancel_timer()
        due = self.session.protocol.next_timer()
        if due is not None:
            self._peer_timer = self._loop.call_at(due, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._peer_timer is not None:
            self._peer_timer.cancel()
            self._peer_timer = None

    def _on_timer(self) -> None:
        self._peer_timer = None
        self._after(self.session.protocol.handle_timer(self._loop.time()))
        self.flush()


class QuicTransport:
    """Listens for and makes peer connections over QUIC for one local node."""

    def __init__(self, local: LocalNode, tip: ChainTip, identity: TlsIdentity, *,
                 config: PeerConfig | None = None, trust: TrustStore | None = None,
                 bans: BanList | None = None, seen: SeenHashes | None = None,
                 idle_timeout: float = 120.0) -> None:
        self.local = local
        self.tip = tip
        self.identity = identity
        self.config = config or PeerConfig()
        self.trust = trust
        self.bans = bans if bans is not None else BanList()
        self.seen = seen if seen is not None else SeenHashes()
        c = self.config
        self.admission = Admission(AddressLimits(c.address_connections, c.address_identities,
                                                 c.address_strike_cost, c.address_ban_cost),
                                   trust, self.bans)
        self.idle_timeout = idle_timeout
        self.sessions: list[PeerSession] = []
        self._server: QuicServer | None = None
        self._incoming: asyncio.Queue[PeerSession] = asyncio.Queue()
        self._clients: list[contextlib.AsyncExitStack] = []
        # Blocks, headers and transactions are decoded here, off the event loop.
        self._decoding = ThreadPoolExecutor(max_workers=1, thread_name_prefix="poqw-decode")

    def _make_peer(self, role: Role, host: str | None) -> PeerConnection:
        loop = asyncio.get_running_loop()
        return PeerConnection(self.local, self.tip, role, nonce=os.urandom(32),
                              local_fingerprint=self.identity.fingerprint, now=loop.time(),
                              config=self.config, trust=self.trust, bans=self.bans,
                              seen=self.seen, peer_host=host, offload=HEAVY_TYPES)

    def set_tip(self, tip: ChainTip) -> None:
        """The node's best chain changed: future joins and every heartbeat carry it."""
        self.tip = tip
        for session in self.sessions:
            session.protocol.set_tip(tip)

    async def start_server(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> int:
        """Listen (loopback unless told otherwise); returns the bound port (``port=0``: free)."""
        if self._server is not None:
            raise ConfigError("this transport is already listening")

        def create_protocol(quic: QuicConnection, stream_handler: Any = None) -> _Protocol:
            _request_client_certificate(quic)
            protocol = _Protocol(quic, make_peer=lambda: self._make_peer(Role.RESPONDER, None),
                                 admission=self.admission, on_ready=self._incoming.put_nowait,
                                 stream_handler=stream_handler, decoding=self._decoding)
            self._forget_finished()
            self.sessions.append(protocol.session)
            return protocol

        self._server = await serve(host, port,
                                   configuration=_configuration(self.identity, False,
                                                                self.idle_timeout),
                                   create_protocol=create_protocol)
        listening = self._server._transport
        assert listening is not None
        return int(listening.get_extra_info("sockname")[1])

    def _forget_finished(self) -> None:
        self.sessions = [s for s in self.sessions if not s.terminated.is_set()]

    async def accept(self, timeout: float | None = None) -> PeerSession:
        """The next incoming peer that completed the join handshake."""
        async with asyncio.timeout(timeout):
            return await self._incoming.get()

    async def connect(self, host: str, port: int = DEFAULT_PORT, timeout: float = 10.0
                      ) -> PeerSession:
        """Connect, join, and return the ready session; raises ``ProtocolError`` if refused."""
        stack = contextlib.AsyncExitStack()
        try:
            protocol = await asyncio.wait_for(stack.enter_async_context(quic_connect(
                host, port, configuration=_configuration(self.identity, True, self.idle_timeout),
                create_protocol=lambda quic, stream_handler=None: _Protocol(
                    quic, make_peer=lambda: self._make_peer(Role.INITIATOR, host),
                    admission=self.admission, stream_handler=stream_handler,
                    decoding=self._decoding))), timeout)
        except (OSError, ConnectionError, TimeoutError) as exc:
            await stack.aclose()
            raise ProtocolError(f"cannot reach peer at {host}:{port}: {exc!r}") from exc
        assert isinstance(protocol, _Protocol)
        session = protocol.session
        self._clients.append(stack)
        self.sessions.append(session)
        ready = asyncio.ensure_future(session.ready.wait())
        closed = asyncio.ensure_future(session.closed.wait())
        await asyncio.wait({ready, closed}, timeout=timeout,
                           return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        closed.cancel()
        if session.state is not ConnectionState.READY:
            reason = session.protocol.close_reason or "join handshake did not finish in time"
            session.close(reason)
            raise RemoteProtocolError(f"peer at {host}:{port} refused: {reason}")
        return session

    async def close(self) -> None:
        """Close every session and the listener, and wait for them to go."""
        for session in self.sessions:
            if session.state is not ConnectionState.CLOSED:
                session.close("shutting down")
        waits = [s.wait_closed() for s in self.sessions]
        if waits:
            await asyncio.wait_for(asyncio.gather(*waits, return_exceptions=True),
                                   _CLOSE_GRACE + 5.0)
        for stack in self._clients:
            await stack.aclose()
        self._clients.clear()
        if self._server is not None:
            self._server.close()
            self._server = None
        self._decoding.shutdown(wait=False, cancel_futures=True)


# ---- other protocols over the same QUIC and TLS identity (the layer-2 compute protocol) ------


class StreamConnection(TypingProtocol):
    """What a sans-I/O protocol object offers the stream adapter below."""

    role: Role
    peer_host: str | None
    close_reason: str | None

    @property
    def closed(self) -> bool: ...

    def connection_made(self, peer_fingerprint: bytes, now: float) -> None: ...

    def connection_lost(self, now: float, reason: str = ...) -> list[Any]: ...

    def receive_data(self, data: bytes, now: float) -> list[Any]: ...

    def data_to_send(self) -> bytes: ...

    def next_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> list[Any]: ...

    def close(self, reason: str = ..., banned: bool = ...) -> None: ...


class StreamSession:
    """One connection of another ALPN: its protocol object and a queue of its events. Call the
    protocol's send methods, then ``flush()``; read ``events``."""

    def __init__(self, connection: StreamConnection, transport: _StreamProtocol) -> None:
        self.connection = connection
        self._transport = transport
        self.events: asyncio.Queue[Any] = asyncio.Queue()
        self.terminated = asyncio.Event()
        self.remote_address: tuple[str, int] | None = None

    def flush(self) -> None:
        self._transport.flush()

    def close(self, reason: str = "closing", banned: bool = False) -> None:
        self.connection.close(reason, banned)
        self.flush()


class _StreamProtocol(QuicConnectionProtocol):
    """aioquic's connection protocol for one bidirectional stream of another protocol."""

    def __init__(self, quic: QuicConnection, *, alpn: str,
                 make_connection: Callable[[], StreamConnection],
                 on_ready: Callable[[StreamSession], None] | None = None,
                 stream_handler: Any = None) -> None:
        super().__init__(quic, stream_handler=stream_handler)
        self.session = StreamSession(make_connection(), self)
        self._alpn, self._on_ready = alpn, on_ready
        self._stream_id: int | None = None
        self._early: list[bytes] = []
        self._timer: asyncio.TimerHandle | None = None
        self._closing = self._made = False

    def quic_event_received(self, event: QuicEvent) -> None:
        connection, now = self.session.connection, self._loop.time()
        if isinstance(event, HandshakeCompleted):
            self.session.remote_address = _remote_address(self._quic)
            if self.session.remote_address is not None:
                connection.peer_host = self.session.remote_address[0]
            der = _peer_certificate_der(self._quic)
            if event.alpn_protocol != self._alpn or der is None:
                reason = (f"ALPN {event.alpn_protocol!r} is not {self._alpn!r}"
                          if der is not None else "no certificate: a peer must present one")
                self._close_quic(reason)
                self._deliver(connection.connection_lost(now, reason))
                return
            if connection.role is Role.INITIATOR:
                self._stream_id = self._quic.get_next_available_stream_id()
            connection.connection_made(certificate_fingerprint(der), now)
            self._made = True
            if self._on_ready is not None:
                self._on_ready(self.session)
            for data in self._early:
                self._deliver(connection.receive_data(data, now))
            self._early.clear()
        elif isinstance(event, StreamDataReceived):
            if self._stream_id is None:
                self._stream_id = event.stream_id
            if event.stream_id != self._stream_id:
                connection.close(f"data on unexpected stream {event.stream_id}")
            elif not self._made:
                self._early.append(event.data)
                if sum(map(len, self._early)) > _MAX_EARLY_BYTES:
                    self._early.clear()
                    self._close_quic("too much data before the TLS handshake finished")
            else:
                self._deliver(connection.receive_data(event.data, now))
        elif isinstance(event, ConnectionTerminated):
            self._closing = True
            self._cancel_timer()
            reason = event.reason_phrase or f"QUIC connection closed (code {event.error_code})"
            self._deliver(connection.connection_lost(now, reason))
            self.session.terminated.set()
        self.flush()

    def _deliver(self, events: list[Any]) -> None:
        for event in events:
            self.session.events.put_nowait(event)

    def flush(self) -> None:
        connection = self.session.connection
        if self._stream_id is not None and not self._closing:  # else it waits for the stream
            data = connection.data_to_send()
            if data:
                self._quic.send_stream_data(self._stream_id, data)
        if connection.closed and not self._closing:
            self._closing = True
            self._cancel_timer()
            self._loop.call_later(_CLOSE_GRACE, self._close_quic,
                                  connection.close_reason or "closed")
        elif not self._closing:
            self._cancel_timer()
            due = connection.next_timer()
            if due is not None:
                self._timer = self._loop.call_at(due, self._on_timer)
        self.transmit()

    def _close_quic(self, reason: str) -> None:
        self._closing = True
        self.close(reason_phrase=reason[:200])

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        self._deliver(self.session.connection.handle_timer(self._loop.time()))
        self.flush()


async def serve_streams(identity: TlsIdentity, host: str, port: int, alpn: str,
                        make_connection: Callable[[], StreamConnection],
                        on_session: Callable[[StreamSession], None], *, window: int,
                        idle_timeout: float = 60.0) -> tuple[QuicServer, int]:
    """Listen for connections of protocol ``alpn``; ``on_session`` gets each once TLS is done.
    Returns the server and its bound port."""

    def create_protocol(quic: QuicConnection, stream_handler: Any = None) -> _StreamProtocol:
        _request_client_certificate(quic)
        return _StreamProtocol(quic, alpn=alpn, make_connection=make_connection,
                               on_ready=on_session, stream_handler=stream_handler)

    server = await serve(host, port, configuration=_configuration(identity, False, idle_timeout,
                                                                  alpn, window),
                         create_protocol=create_protocol)
    assert server._transport is not None
    return server, int(server._transport.get_extra_info("sockname")[1])


async def connect_stream(identity: TlsIdentity, host: str, port: int, alpn: str,
                         make_connection: Callable[[], StreamConnection], *, window: int,
                         timeout: float = 10.0, idle_timeout: float = 60.0
                         ) -> tuple[StreamSession, contextlib.AsyncExitStack]:
    """Connect with protocol ``alpn``; the session and the stack that closes it."""
    stack = contextlib.AsyncExitStack()
    try:
        protocol = await asyncio.wait_for(stack.enter_async_context(quic_connect(
            host, port, configuration=_configuration(identity, True, idle_timeout, alpn, window),
            create_protocol=lambda quic, stream_handler=None: _StreamProtocol(
                quic, alpn=alpn, make_connection=make_connection,
                stream_handler=stream_handler))), timeout)
    except (OSError, ConnectionError, TimeoutError) as exc:
        await stack.aclose()
        raise ProtocolError(f"cannot reach {host}:{port}: {exc!r}") from exc
    assert isinstance(protocol, _StreamProtocol)
    return protocol.session, stack
