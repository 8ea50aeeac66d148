"""Which addresses from a PEERS answer a node may dial: IP literals in an allowed scope and port
range, at a bounded rate.

A PEERS answer is hearsay from a peer; dialling whatever it lists would let any peer point the
node at private services, privileged ports or DNS names of its choosing. The scope is
``"loopback"`` (127.0.0.0/8 and ::1: a devnet on one machine), ``"private"`` (loopback and the
private ranges of RFC 1918 and RFC 4193) or ``"public"`` (globally routable addresses only).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from poqw.errors import ConfigError

__all__ = ["DIAL_SCOPES", "DialPolicy", "dial_refusal", "policy_for_listen_host"]

DIAL_SCOPES = ("loopback", "private", "public")


@dataclass(frozen=True)
class DialPolicy:
    """Where discovered peers may be dialled, and how many dials a second (``rate``, ``burst``)."""

    scope: str = "loopback"
    min_port: int = 1024
    max_port: int = 65535
    rate: float = 0.5
    burst: float = 8.0

    def __post_init__(self) -> None:
        if self.scope not in DIAL_SCOPES:
            raise ConfigError(f"dial policy {self.scope!r} is not one of {', '.join(DIAL_SCOPES)}")
        if not 1 <= self.min_port <= self.max_port <= 65535:
            raise ConfigError(f"dial port range {self.min_port}-{self.max_port} is not within "
                              "1-65535")
        if self.rate <= 0 or self.burst < 1:
            raise ConfigError(f"dial rate {self.rate}/s with burst {self.burst} allows no dial")


def policy_for_listen_host(scope: str, listen_host: str, min_port: int = 1024) -> DialPolicy:
    """``scope`` ``"auto"``: loopback for a node listening on loopback, else public."""
    if scope == "auto":
        try:
            scope = "loopback" if ipaddress.ip_address(listen_host).is_loopback else "public"
        except ValueError:
            scope = "loopback" if listen_host == "localhost" else "public"
    return DialPolicy(scope, min_port)


def dial_refusal(host: str, port: int, policy: DialPolicy) -> str | None:
    """Why ``host:port`` may not be dialled under ``policy``, or ``None`` if it may."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "not an IP address (names from peers are never resolved)"
    if not policy.min_port <= port <= policy.max_port:
        return f"port {port} is outside {policy.min_port}-{policy.max_port}"
    if address.is_unspecified or address.is_multicast:
        return "not a unicast address"
    if policy.scope == "loopback":
        allowed = address.is_loopback
    elif policy.scope == "private":
        allowed = address.is_loopback or (address.is_private and not address.is_link_local)
    else:
        allowed = address.is_global
    return None if allowed else f"outside the {policy.scope!r} dial policy"
