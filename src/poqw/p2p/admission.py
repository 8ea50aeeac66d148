"""Who may open a connection and bring a new node key: per-address budgets, decided sans-I/O.

An address is not an identity (peers behind one NAT, or every devnet node on 127.0.0.1, share
it), so nothing is ever banned by address. Instead each address spends in-memory budgets
(:class:`~poqw.p2p.policing.AddressLimits`): one token per incoming connection, one per node key
never seen before; garbage before a key is proven, and a ban of a proven key, drain them further.
A peer whose certificate is already pinned is a known peer and is never held back by what others
on its address do.
"""

from __future__ import annotations

from poqw.p2p.identity import Role
from poqw.p2p.peer import PeerConnection
from poqw.p2p.policing import AddressLimits, BanList
from poqw.p2p.trust import TrustStore

__all__ = ["Admission"]


class Admission:
    """The transport asks this before letting a connection or a new identity in (``now`` in)."""

    def __init__(self, limits: AddressLimits, trust: TrustStore | None = None,
                 bans: BanList | None = None) -> None:
        self.limits = limits
        self.trust = trust
        self.bans = bans

    def connection_refusal(self, host: str | None, fingerprint: bytes, now: float) -> str | None:
        """Why an incoming connection from ``host`` showing this certificate is refused, if it
        is: its address has spent its connection budget and the certificate is not pinned."""
        if host is None:
            return None
        if self.trust is not None and self.trust.knows_fingerprint(fingerprint):
            return None
        if not self.limits.allow_connection(host, now):
            return f"address {host} is over its connection budget, try again later"
        return None

    def identity_refusal(self, host: str | None, node_id: bytes, now: float) -> str | None:
        """Why a node key just pinned for the first time is refused, if it is: its address has
        brought too many new keys lately. The pin is forgotten again."""
        if host is None or self.limits.allow_new_identity(host, now):
            return None
        if self.trust is not None:
            self.trust.forget(node_id)
        return f"address {host} brought too many new node keys lately, try again later"

    def closed(self, peer: PeerConnection, now: float) -> None:
        """An incoming connection ended on our side: charge its address for what it did."""
        host = peer.peer_host
        if host is None or peer.role is not Role.RESPONDER:
            return
        node_id = peer.node_id
        if node_id is None:
            if peer.score(now) > 0:
                self.limits.strike(host, now)
        elif self.bans is not None and self.bans.is_banned(f"node:{node_id.hex()}", now):
            self.limits.identity_banned(host, now)
