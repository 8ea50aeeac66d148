"""Capability gossip: our signed capability record goes to every peer after the join and again
whenever it changes; each peer's record is checked and kept while the peer is connected.

Our record is the file ``DATADIR/capability.rlp`` that ``poqw node capability`` writes; the
network tick re-reads it when its modification time changes and pushes the new one. A peer's
record must decode within its size limit, be signed by that peer's own node key (a forged or
relayed record is refused) and name our chain; a refused record costs the peer misbehaviour
points (the rate limit on CAPABILITY messages stops a flood of valid ones). Storage is bounded:
one record per connected peer, forgotten when the peer leaves.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any

from poqw.errors import CryptoError, DecodeError, InvalidCapability
from poqw.node.capability import SignedCapability, decode_capability

__all__ = ["CAPABILITY_FILE", "CapabilityBook", "capability_json", "check_capability"]

CAPABILITY_FILE = "capability.rlp"
log = logging.getLogger(__name__)


def check_capability(record: bytes, peer_node_id: bytes, chain_id: int) -> SignedCapability:
    """``record`` decoded and verified as the capability of ``peer_node_id`` on ``chain_id``;
    raises :class:`InvalidCapability` naming what is wrong."""
    try:
        signed = decode_capability(record)
    except (DecodeError, CryptoError) as exc:
        raise InvalidCapability(f"capability record refused: {exc}", record) from None
    if signed.node_id != peer_node_id:
        raise InvalidCapability(f"capability record signed by node {signed.node_id.hex()[:16]}, "
                                f"not by the peer {peer_node_id.hex()[:16]}", record)
    if signed.capability.chain_id != chain_id:
        raise InvalidCapability(f"capability record for chain {signed.capability.chain_id}, "
                                f"not ours ({chain_id})", record)
    return signed


def capability_json(signed: SignedCapability) -> dict[str, Any]:
    """A record as JSON (the form of ``network.json`` and the RPC)."""
    c = signed.capability
    return {"node_id": signed.node_id.hex(), "chain_id": c.chain_id,
            "measured_at": c.measured_at, "cores": c.cores, "memory_bytes": c.memory_bytes,
            "gpus": [{"name": g.name, "memory_bytes": g.memory_bytes} for g in c.gpus],
            "qpu": c.qpu, "statevector_layer_ns": c.statevector_layer_ns,
            "anneal_flips_per_s": c.anneal_flips_per_s, "gpu_flips_per_s": c.gpu_flips_per_s}


class CapabilityBook:
    """Our own record (from the data directory) and at most ``max_entries`` peers' records."""

    def __init__(self, datadir: Path, node_id: bytes, chain_id: int, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError(f"a capability book needs room for one record, got {max_entries}")
        self.path = datadir / CAPABILITY_FILE
        self.node_id = node_id
        self.chain_id = chain_id
        self.max_entries = max_entries
        self.local: SignedCapability | None = None
        self.local_record: bytes | None = None
        self.refused = 0
        self._stamp: tuple[int, int] | None = None  # (mtime_ns, size) of the file last read
        self._peers: OrderedDict[bytes, SignedCapability] = OrderedDict()

    def reload(self) -> bool:
        """Re-read our record if the file changed; ``True`` if there is a new one to send.
        A file that is not our valid record is reported once and not sent."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return False
        except OSError as exc:
            log.warning("cannot read %s: %s", self.path, exc)
            return False
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            record = self.path.read_bytes()
            signed = check_capability(record, self.node_id, self.chain_id)
        except (OSError, InvalidCapability) as exc:
            log.warning("not sending the capability record in %s: %s (run `poqw node "
                        "capability` to make a new one)", self.path, exc)
            return False
        if record == self.local_record:
            return False
        self.local, self.local_record = signed, record
        log.info("capability record loaded (%d bytes): %d cores, %d GPU(s), QPU %s",
                 len(record), signed.capability.cores, len(signed.capability.gpus),
                 signed.capability.qpu)
        return True

    def receive(self, peer_node_id: bytes, record: bytes) -> SignedCapability:
        """Check and keep ``peer_node_id``'s record (raises :class:`InvalidCapability`)."""
        try:
            signed = check_capability(record, peer_node_id, self.chain_id)
        except InvalidCapability:
            self.refused += 1
            raise
        self._peers[peer_node_id] = signed
        self._peers.move_to_end(peer_node_id)
        while len(self._peers) > self.max_entries:
            self._peers.popitem(last=False)
        return signed

    def forget(self, peer_node_id: bytes) -> None:
        self._peers.pop(peer_node_id, None)

    def of(self, peer_node_id: bytes) -> SignedCapability | None:
        return self._peers.get(peer_node_id)

    def json_of(self, peer_node_id: bytes) -> dict[str, Any] | None:
        signed = self._peers.get(peer_node_id)
        return None if signed is None else capability_json(signed)

    def __len__(self) -> int:
        return len(self._peers)
