"""Peer dialing for the network service: configured peers kept connected, discovered ones.

Configured peers (``--peer``) are dialed at start and redialed after every session ends, ever
more slowly while they drop us at once; peers named in PEERS answers are dialed if the dial
policy allows them, at a bounded rate. Joins that fail because a peer is on another chain are
told on the console once, since that is the operator's mistake.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from poqw.errors import ConfigError, ProtocolError, StorageError
from poqw.p2p.dialpolicy import dial_refusal
from poqw.p2p.identity import Role
from poqw.p2p.messages import MAX_PEERS_PER_MESSAGE, PeerAddress
from poqw.p2p.peer import ConnectionState
from poqw.p2p.policing import TokenBucket
from poqw.p2p.quic import PeerSession

if TYPE_CHECKING:
    from poqw.node.network import NetworkService

__all__ = ["MAX_REDIAL_DELAY", "Dial", "addresses_for", "dial_configured", "dial_discovered",
           "log_refused", "on_discovered", "parse_peer", "redial", "tell_if_other_chain"]

MAX_REDIAL_DELAY = 5.0

log = logging.getLogger("poqw.node.network")  # one logger for the whole network glue


def parse_peer(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too) as a pair; raises :class:`ConfigError` naming it."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"peer {value!r} is not HOST:PORT")
    return host, int(port)


@dataclass
class Dial:
    """A configured peer address we keep connected."""

    host: str
    port: int
    next_try: float = 0.0
    delay: float = 0.5
    session: PeerSession | None = None
    dialing: bool = False


def redial(net: NetworkService, now: float) -> None:
    """Dial again every configured peer whose session ended and whose retry time has come
    (one that dialled us counts as connected)."""
    listening = {(s.protocol.peer.listen_host, s.protocol.peer.listen_port)
                 for s in net.peers.values() if s.protocol.peer is not None}
    for dial in net._dials:
        alive = (dial.session is not None and not dial.session.closed.is_set()) or \
            (dial.host, dial.port) in listening  # it dialled us
        if not alive and not dial.dialing and now >= dial.next_try:
            dial.dialing = True
            net._spawn(functools.partial(dial_configured, net, dial), "a dial")


def tell_if_other_chain(net: NetworkService, who: str, reason: str) -> None:
    """A peer on another genesis is a configuration mistake the operator must see: say it
    on the console (stderr) once per peer, not only in node.log."""
    if "genesis" not in reason or who in net._told:
        return
    net._told.add(who)
    message = f"refused peer {who}: it is on another chain ({reason})"
    log.warning(message)
    print(f"warning: {message}", file=sys.stderr, flush=True)


def log_refused(net: NetworkService) -> None:
    """Incoming connections that closed before the join finished never reach ``accept``:
    say why (a changed certificate, a ban, another chain) once each."""
    for session in net.transport.sessions:
        if session.state is ConnectionState.CLOSED and not session.ready.is_set() \
                and session not in net._refused:
            net._refused.add(session)
            log.warning("refused peer %s: %s", session.remote_address,
                        session.protocol.close_reason)
            if session.protocol.role is Role.RESPONDER:  # dial_configured tells of ours
                address = session.remote_address  # its port changes at every try
                tell_if_other_chain(net, str(address[0]) if address else "?",
                                    str(session.protocol.close_reason))


async def dial_configured(net: NetworkService, dial: Dial) -> None:
    """Join a configured peer and serve it; whatever ends the session (the peer left, was
    killed, or our handler failed), the tick loop dials it again after ``dial.delay``."""
    try:
        session = await net.transport.connect(dial.host, dial.port, timeout=5.0)
    except (ProtocolError, OSError) as exc:
        dial.next_try = net._now() + dial.delay
        log.info("cannot join peer %s:%d: %s (retry in %.1f s)", dial.host, dial.port, exc,
                 dial.delay)
        tell_if_other_chain(net, f"{dial.host}:{dial.port}", str(exc))
        dial.delay = min(dial.delay * 2, MAX_REDIAL_DELAY)
        return
    finally:
        dial.dialing = False
    dial.session = session
    if session.protocol.node_id is not None:  # a configured peer's pin is never evicted
        with contextlib.suppress(StorageError):
            net.trust.keep(session.protocol.node_id)
    joined = net._now()
    await net._serve(session)
    # a peer that drops us at once (a refused pin, a ban) is retried ever more slowly
    dial.delay = 0.5 if net._now() - joined > 10 * MAX_REDIAL_DELAY else \
        min(dial.delay * 2, MAX_REDIAL_DELAY)
    dial.next_try = net._now() + dial.delay


async def dial_discovered(net: NetworkService, address: PeerAddress) -> None:
    where = (address.host, address.port)
    net._dialing_discovered.add(where)
    try:
        log.info("dialing discovered peer %s:%d", address.host, address.port)
        try:
            session = await net.transport.connect(address.host, address.port, timeout=5.0)
        except ProtocolError as exc:
            log.info("cannot join discovered peer %s:%d: %s", address.host, address.port,
                     exc)
            return
        await net._serve(session)
    finally:
        net._dialing_discovered.discard(where)


def addresses_for(net: NetworkService, exclude: bytes) -> tuple[PeerAddress, ...]:
    out = [PeerAddress(k, s.protocol.peer.listen_host, s.protocol.peer.listen_port)
           for k, s in net.peers.items()
           if k != exclude and s.protocol.peer is not None and s.protocol.peer.listen_port]
    return tuple(out[:MAX_PEERS_PER_MESSAGE])


def on_discovered(net: NetworkService, addresses: tuple[PeerAddress, ...]) -> None:
    """Dial peers a PEERS answer named, if the dial policy allows them, at a bounded rate."""
    if not net.discover:
        return
    now, policy = net._now(), net.dial_policy
    if net._discovered_dials is None:
        net._discovered_dials = TokenBucket(policy.rate, policy.burst, now)
    for address in addresses:
        if len(net.peers) >= net.max_peers:
            return
        if address.node_id == net.local.node_id or address.node_id in net.peers \
                or (address.host, address.port) in net._dialing_discovered:
            continue
        refusal = dial_refusal(address.host, address.port, policy)
        if refusal is None and not net._discovered_dials.take(now):
            refusal = "over the rate of discovered dials"
        if refusal is not None:
            log.info("not dialing discovered peer %r port %d: %s", address.host[:64],
                     address.port, refusal)
            continue
        net._spawn(functools.partial(dial_discovered, net, address), "a dial")
