"""Two in-memory PeerConnections driven against each other with explicit time."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.crypto.hashing import hash32
from poqw.errors import LocalProtocolError
from poqw.p2p import (
    BanList,
    BlocksReceived,
    BlocksRequested,
    ChainTip,
    ConnectionClosed,
    ConnectionState,
    DisconnectReason,
    Event,
    GossipReceived,
    HandshakeCompleted,
    HeadersReceived,
    HeadersRequested,
    LocalNode,
    PeerAddress,
    PeerConnection,
    PeerMisbehaved,
    PeersReceived,
    RequestFailed,
    RequestTimedOut,
    Role,
    SeenHashes,
    StatsReceived,
    StatusReceived,
    StatusRequested,
    TipAnnounced,
    TransactionsReceived,
    TransactionsRequested,
    TrustStore,
    encode_frame,
)
from poqw.p2p.framing import HEADER_SIZE, MAGIC
from poqw.p2p.messages import (
    MAX_PAYLOAD,
    Gossip,
    Hello,
    JoinRequest,
    MessageType,
    StatusResponse,
)

CHAIN_ID = 7
GENESIS = hash32(b"test/genesis", b"poqw")
TIP = ChainTip(10, hash32(b"test/tip", b"10"), 1000)

E = TypeVar("E", bound=Event)


def key(name: str) -> EcdsaPrivateKey:
    return EcdsaPrivateKey(hash32(b"test/node-key", name.encode()))


def fingerprint(name: str) -> bytes:
    return hash32(b"test/cert", name.encode())


def local(name: str, chain_id: int = CHAIN_ID, genesis: bytes = GENESIS) -> LocalNode:
    return LocalNode(key(name), chain_id, genesis, "127.0.0.1", 20049)


def of_type(events: Sequence[Event], kind: type[E]) -> list[E]:
    return [e for e in events if isinstance(e, kind)]


class Link:
    """Two connections joined by an in-memory pipe; ``pump`` moves bytes until both are quiet."""

    def __init__(self, a: PeerConnection, b: PeerConnection, fp_a: bytes, fp_b: bytes,
                 now: float = 0.0) -> None:
        self.a, self.b = a, b
        self.events_a: list[Event] = []
        self.events_b: list[Event] = []
        a.connection_made(fp_b, now)
        b.connection_made(fp_a, now)

    def pump(self, now: float, chunk: int | None = None) -> tuple[list[Event], list[Event]]:
        got_a: list[Event] = []
        got_b: list[Event] = []
        while True:
            to_b, to_a = self.a.data_to_send(), self.b.data_to_send()
            if not to_a and not to_b:
                break
            for data, peer, got in ((to_b, self.b, got_b), (to_a, self.a, got_a)):
                step = chunk or max(1, len(data))
                for i in range(0, len(data), step):
                    got += peer.receive_data(data[i:i + step], now)
        self.events_a += got_a
        self.events_b += got_b
        return got_a, got_b

    def tick(self, now: float) -> tuple[list[Event], list[Event]]:
        ea = self.a.handle_timer(now)
        eb = self.b.handle_timer(now)
        pa, pb = self.pump(now)
        return ea + pa, eb + pb


def make_link(name_a: str = "alice", name_b: str = "bob", *, fp_b_seen: bytes | None = None,
              local_b: LocalNode | None = None, trust_a: TrustStore | None = None,
              bans_a: BanList | None = None, bans_b: BanList | None = None,
              seen_a: SeenHashes | None = None, now: float = 0.0) -> Link:
    fp_a, fp_b = fingerprint(name_a), fingerprint(name_b)
    a = PeerConnection(local(name_a), TIP, Role.INITIATOR,
                       nonce=hash32(b"n", b"a" + name_b.encode()), local_fingerprint=fp_a,
                       now=now, trust=trust_a, bans=bans_a, seen=seen_a)
    b = PeerConnection(local_b or local(name_b), TIP, Role.RESPONDER,
                       nonce=hash32(b"n", b"b" + name_a.encode()), local_fingerprint=fp_b,
                       now=now, bans=bans_b)
    return Link(a, b, fp_a, fp_b_seen or fp_b, now)


def joined(**kwargs: object) -> Link:
    link = make_link(**kwargs)  # type: ignore[arg-type]
    link.pump(kwargs.get("now", 0.0))  # type: ignore[arg-type]
    assert link.a.state is ConnectionState.READY, link.events_a
    assert link.b.state is ConnectionState.READY, link.events_b
    return link


# ---------------------------------------------------------------- handshake


def test_handshake_binds_keys_and_reports_peer() -> None:
    link = make_link()
    assert link.a.state is ConnectionState.HANDSHAKING
    ea, eb = link.pump(0.0, chunk=1)  # byte at a time through the whole handshake
    done_a = of_type(ea, HandshakeCompleted)
    done_b = of_type(eb, HandshakeCompleted)
    assert len(done_a) == 1 and len(done_b) == 1
    assert done_a[0].peer.node_id == key("bob").public_key().compressed
    assert done_b[0].peer.node_id == key("alice").public_key().compressed
    assert done_a[0].fingerprint == fingerprint("bob")
    assert of_type(ea, TipAnnounced) == [TipAnnounced(TIP.height, TIP.tip, TIP.work)]
    assert link.a.peer_tip == TIP


@pytest.mark.parametrize("field", ["chain_id", "genesis"])
def test_wrong_chain_is_refused_with_reason(field: str) -> None:
    other = local("bob", chain_id=8) if field == "chain_id" else \
        local("bob", genesis=hash32(b"test/genesis", b"other"))
    link = make_link(local_b=other)
    ea, eb = link.pump(0.0)
    closed = of_type(eb, ConnectionClosed)[0]  # bob refuses alice's hello
    assert closed.code == DisconnectReason.WRONG_CHAIN
    assert ("chain id 7" in closed.reason) if field == "chain_id" else ("genesis" in closed.reason)
    told = of_type(ea, ConnectionClosed)[0]
    assert told.by_peer and told.code == DisconnectReason.WRONG_CHAIN
    assert link.a.state is link.b.state is ConnectionState.CLOSED


def test_certificate_not_signed_by_peer_key_is_refused() -> None:
    # Alice's TLS shows a certificate that Bob's key did not sign for (a relay in the middle).
    link = make_link(fp_b_seen=fingerprint("mallory"))
    ea, _ = link.pump(0.0)
    closed = of_type(ea, ConnectionClosed)[0]
    assert closed.code == DisconnectReason.UNTRUSTED
    assert "did not sign the handshake" in closed.reason
    assert not of_type(ea, HandshakeCompleted)


def test_connecting_to_ourselves_is_refused() -> None:
    link = make_link("alice", "alice")
    _, eb = link.pump(0.0)
    assert of_type(eb, ConnectionClosed)[0].code == DisconnectReason.DUPLICATE


def test_trust_on_first_use_pins_then_refuses_changed_certificate(tmp_path: Path) -> None:
    path = tmp_path / "trust.db"
    with TrustStore(path) as trust:
        link = joined(trust_a=trust)
        assert of_type(link.events_a, HandshakeCompleted)[0].first_seen
        assert trust.pinned(key("bob").public_key().compressed) == fingerprint("bob")
    with TrustStore(path) as trust:  # reopened from disk
        again = joined(trust_a=trust, now=5.0)
        assert not of_type(again.events_a, HandshakeCompleted)[0].first_seen
        # Bob comes back with a new certificate, correctly signed: refused because it is pinned.
        fp_new = fingerprint("bob-new-cert")
        a = PeerConnection(local("alice"), TIP, Role.INITIATOR, nonce=hash32(b"n", b"x"),
                           local_fingerprint=fingerprint("alice"), now=9.0, trust=trust)
        b = PeerConnection(local("bob"), TIP, Role.RESPONDER, nonce=hash32(b"n", b"y"),
                           local_fingerprint=fp_new, now=9.0)
        changed = Link(a, b, fingerprint("alice"), fp_new, 9.0)
        ea, eb = changed.pump(9.0)
        closed = of_type(ea, ConnectionClosed)[0]
        assert closed.code == DisconnectReason.UNTRUSTED
        assert key("bob").public_key().compressed.hex() in closed.reason
        assert "pinned" in closed.reason
        assert of_type(eb, ConnectionClosed)[0].by_peer
        assert not of_type(ea, PeerMisbehaved)  # a changed certificate may be honest: no score


# ---------------------------------------------------------------- timers


def test_heartbeats_keep_an_idle_connection_alive_and_carry_the_tip() -> None:
    link = joined()
    assert link.a.next_timer() == pytest.approx(15.0)
    new_tip = ChainTip(11, hash32(b"test/tip", b"11"), 1100)
    link.b.set_tip(new_tip)
    seen_tips = []
    for t in range(15, 301, 15):
        ea, eb = link.tick(float(t))
        seen_tips += of_type(ea, TipAnnounced)
        assert not of_type(ea + eb, ConnectionClosed)
    assert seen_tips == [TipAnnounced(11, new_tip.tip, 1100)]  # announced once, when it changed
    assert link.a.state is link.b.state is ConnectionState.READY


def test_silent_peer_is_dropped_after_60_seconds() -> None:
    link = joined()
    for t in (15.0, 30.0, 45.0):
        assert not link.a.handle_timer(t)
        link.a.data_to_send()  # Bob never hears Alice's heartbeats ...
        link.b.data_to_send()  # ... and never answers: Alice hears nothing after t=0
    assert link.a.next_timer() == pytest.approx(60.0)
    assert not of_type(link.a.handle_timer(59.9), ConnectionClosed)
    closed = of_type(link.a.handle_timer(60.0), ConnectionClosed)
    assert closed and closed[0].code == DisconnectReason.TIMEOUT
    assert "silent for 60 s" in closed[0].reason


def test_handshake_must_finish_in_time() -> None:
    link = make_link()
    link.a.data_to_send()  # Alice's JOIN_REQUEST is lost
    assert link.b.next_timer() == pytest.approx(10.0)
    closed = of_type(link.b.handle_timer(10.0), ConnectionClosed)
    assert closed[0].code == DisconnectReason.TIMEOUT


def test_request_times_out_and_late_answer_is_unsolicited() -> None:
    link = joined()
    rid = link.a.request_status(1.0)
    _, eb = link.pump(1.0)
    asked = of_type(eb, StatusRequested)
    assert asked == [StatusRequested(rid)]
    assert link.a.next_timer() == pytest.approx(15.0)  # heartbeat first
    link.tick(15.0)
    assert not of_type(link.a.handle_timer(20.9), RequestTimedOut)
    timed_out = of_type(link.a.handle_timer(21.0), RequestTimedOut)
    assert [(e.request_id, e.message_type.name) for e in timed_out] == [(rid, "STATUS_REQUEST")]
    link.b.respond_status(rid, peer_count=3)  # too late
    ea, _ = link.pump(22.0)
    assert not of_type(ea, StatusReceived)
    assert "not outstanding" in of_type(ea, PeerMisbehaved)[0].reason


# ---------------------------------------------------------------- requests and responses


def test_every_request_kind_is_matched_to_its_answer() -> None:
    link = joined()
    now = 2.0
    r_status = link.a.request_status(now)
    r_stats = link.a.request_stats(now)
    r_peers = link.a.request_peers(now)
    r_headers = link.a.request_headers((TIP.tip,), 100, now)
    r_blocks = link.a.request_blocks(now, start=11, count=2)
    r_missing = link.a.request_blocks(now, hashes=(b"\x01" * 32,))
    assert len({r_status, r_stats, r_peers, r_headers, r_blocks, r_missing}) == 6
    _, eb = link.pump(now)
    assert of_type(eb, StatusRequested) == [StatusRequested(r_status)]
    assert of_type(eb, HeadersRequested) == [HeadersRequested(r_headers, (TIP.tip,), 100)]
    assert of_type(eb, BlocksRequested) == [BlocksRequested(r_blocks, (), 11, 2),
                                            BlocksRequested(r_missing, (b"\x01" * 32,), 0, 0)]
    # Answer in a different order from the asking: ids do the matching.
    link.b.respond_blocks(r_blocks, (b"block-11", b"block-12"))
    link.b.respond_error(r_missing, "unknown block")
    link.b.respond_headers(r_headers, (b"h11", b"h12", b"h13"), (b"p11", b"p12", b"p13"))
    link.b.respond_peers(r_peers, (PeerAddress(key("carol").public_key().compressed,
                                               "127.0.0.1", 20050),))
    link.b.respond_stats(r_stats, {"strikes": 12, "sampler": "qaoa"})
    link.b.respond_status(r_status, peer_count=4)
    ea, _ = link.pump(now)
    assert of_type(ea, BlocksReceived) == [BlocksReceived(r_blocks, (b"block-11", b"block-12"))]
    assert of_type(ea, RequestFailed) == [RequestFailed(r_missing, DisconnectReason.INVALID_DATA,
                                                        "unknown block")]
    assert of_type(ea, HeadersReceived)[0].headers == (b"h11", b"h12", b"h13")
    assert of_type(ea, HeadersReceived)[0].proofs == (b"p11", b"p12", b"p13")
    assert of_type(ea, PeersReceived)[0].peers[0].port == 20050
    assert of_type(ea, StatsReceived)[0].stats == {"strikes": 12, "sampler": "qaoa"}
    assert of_type(ea, StatusReceived) == [
        StatusReceived(r_status, TIP.height, TIP.tip, TIP.work, 4)]
    assert link.a.outstanding_requests == 0
    assert not of_type(ea, PeerMisbehaved)


def test_local_misuse_is_a_local_protocol_error() -> None:
    link = joined()
    rid = link.a.request_status(1.0)
    link.pump(1.0)
    with pytest.raises(LocalProtocolError, match="answered by STATUS_RESPONSE"):
        link.b.respond_headers(rid, ())
    with pytest.raises(LocalProtocolError, match="no request 999"):
        link.b.respond_status(999, 0)
    fresh = make_link()
    with pytest.raises(LocalProtocolError, match="handshaking"):
        fresh.a.request_status(0.0)


def test_gossip_is_fetched_once_and_not_echoed() -> None:
    seen = SeenHashes()
    link1 = joined(seen_a=seen)
    link2 = joined(name_b="carol", seen_a=seen)
    h_block, h_tx = hash32(b"blk", b"1"), hash32(b"tx", b"1")
    assert link1.b.send_gossip((h_block,), (h_tx,))
    ea, _ = link1.pump(1.0)
    assert of_type(ea, GossipReceived) == [GossipReceived((h_block,), (h_tx,))]
    assert link2.b.send_gossip((h_block,), ())
    ea2, _ = link2.pump(1.0)
    assert not of_type(ea2, GossipReceived)  # already being fetched via Bob
    assert not link1.a.send_gossip((h_block,), (h_tx,))  # Bob told us: no echo to Bob
    assert link2.a.send_gossip((h_tx,), ())  # Carol has not heard of the transaction
    assert not link1.b.send_gossip((h_block,), ())  # announced once per peer


def test_pushed_block_arrives_unasked() -> None:
    link = joined()
    link.b.push_block(b"fresh block", hash32(b"blk", b"fresh"))
    ea, _ = link.pump(3.0)
    assert of_type(ea, BlocksReceived) == [BlocksReceived(0, (b"fresh block",))]


# ---------------------------------------------------------------- misbehaviour


def test_malformed_payload_scores_but_keeps_the_stream() -> None:
    link = joined()
    good = encode_frame(Gossip((hash32(b"blk", b"2"),), ()))
    bad = bytearray(good)
    bad[HEADER_SIZE + 2] = 0x00  # break the hash list inside a well-formed frame
    events = link.a.receive_data(bytes(bad) + good, 1.0)
    assert of_type(events, PeerMisbehaved)[0].points == 20
    assert of_type(events, GossipReceived) == [GossipReceived((hash32(b"blk", b"2"),), ())]
    assert link.a.state is ConnectionState.READY


def test_garbage_closes_with_a_protocol_error() -> None:
    link = joined()
    events = link.a.receive_data(b"GET / HTTP/1.1\r\n", 1.0)
    closed = of_type(events, ConnectionClosed)[0]
    assert closed.code in (DisconnectReason.PROTOCOL_ERROR, DisconnectReason.MISBEHAVIOUR)
    assert "bad magic" in closed.reason
    assert link.a.state is ConnectionState.CLOSED
    assert link.a.receive_data(b"more", 2.0) == []


def test_flooding_peer_is_banned_and_honest_peer_is_not() -> None:
    bans = BanList()
    flood = joined(name_b="mallory", bans_a=bans)
    honest = joined(name_b="carol", bans_a=bans)
    mallory_key = f"node:{key('mallory').public_key().compressed.hex()}"
    closed: list[ConnectionClosed] = []
    now = 1.0
    for i in range(400):  # far beyond the 100-message gossip burst, all within one second
        flood.b.send_gossip((hash32(b"spam", i.to_bytes(4, "big")),))
        ea, _ = flood.pump(now)
        closed += of_type(ea, ConnectionClosed)
        if i % 40 == 0:  # Carol gossips at an honest pace throughout
            honest.b.send_gossip((hash32(b"honest", i.to_bytes(4, "big")),))
            eh, _ = honest.pump(now)
            assert of_type(eh, GossipReceived) and not of_type(eh, PeerMisbehaved)
        now += 0.002
        if closed:
            break
    assert closed and closed[0].banned and closed[0].code == DisconnectReason.MISBEHAVIOUR
    assert "rate limit" in closed[0].reason
    assert bans.is_banned(mallory_key, now)
    assert honest.a.state is ConnectionState.READY
    # Mallory reconnects with the same key: refused while banned, welcome after the ban.
    again = make_link(name_b="mallory", bans_a=bans, now=now + 1)
    ea, _ = again.pump(now + 1)
    assert of_type(ea, ConnectionClosed)[0].code == DisconnectReason.BANNED
    later = now + 24 * 3600 + 1
    assert joined(name_b="mallory", bans_a=bans, now=later).a.state is ConnectionState.READY


def test_reported_invalid_blocks_lead_to_a_ban() -> None:
    bans = BanList()
    link = joined(bans_a=bans)
    for i in range(3):
        assert not of_type(link.a.report_invalid(f"invalid block {i}", 1.0), ConnectionClosed)
    events = link.a.report_invalid("invalid block 3", 1.0)
    assert of_type(events, ConnectionClosed)[0].banned
    _, eb = link.pump(1.0)
    told = of_type(eb, ConnectionClosed)[0]
    assert told.by_peer and "invalid block 3" in told.reason


def test_score_decays_so_rare_mistakes_are_forgiven() -> None:
    link = joined()
    for i in range(10):  # one bad report per hour, for ten hours
        events = link.a.report_invalid("invalid tx", 3600.0 * i)
        assert not of_type(events, ConnectionClosed)
        link.a._last_received = 3600.0 * i  # keep the silence timer out of this test
    assert link.a.score(36000.0) < 100


def test_response_with_status_for_unknown_request_is_unsolicited() -> None:
    link = joined()
    frame = encode_frame(StatusResponse(1, TIP.tip, 1, 0), request_id=77)
    events = link.a.receive_data(frame, 1.0)
    assert of_type(events, PeerMisbehaved)[0].points == 10
    assert not of_type(events, StatusReceived)


def test_other_protocol_version_is_closed_without_penalty() -> None:
    bans = BanList()
    link = joined(bans_a=bans)
    frame = bytearray(encode_frame(Gossip(), 0))
    frame[4] = 2  # the version byte
    events = link.a.receive_data(bytes(frame), 1.0)
    closed = of_type(events, ConnectionClosed)[0]
    assert "unsupported protocol version 2" in closed.reason and not closed.banned
    assert not of_type(events, PeerMisbehaved) and len(bans) == 0


def test_oversize_message_bans_at_once_without_reading_it() -> None:
    bans = BanList()
    link = joined(name_b="mallory", bans_a=bans)
    honest = joined(name_b="carol", bans_a=bans)
    limit = MAX_PAYLOAD[MessageType.BLOCK_SUBMIT]
    head = MAGIC + bytes([1, MessageType.BLOCK_SUBMIT]) + struct.pack(">II", 0, limit + 1)
    events = link.a.receive_data(head, 1.0)  # only the 14 header bytes were needed
    closed = of_type(events, ConnectionClosed)[0]
    assert closed.banned and "over the limit" in closed.reason
    assert bans.is_banned(f"node:{key('mallory').public_key().compressed.hex()}", 2.0)
    assert honest.b.send_gossip((hash32(b"blk", b"ok"),))
    assert of_type(honest.pump(2.0)[0], GossipReceived)


def test_impostor_cannot_get_its_victim_or_its_address_banned() -> None:
    # Mallory claims Bob's node id in her hello, then sends garbage before proving anything:
    # she is disconnected, but neither Bob's key nor the address (shared, maybe) is banned.
    bans = BanList()
    victim = local("bob")
    a = PeerConnection(local("alice"), TIP, Role.RESPONDER, nonce=hash32(b"n", b"a"),
                       local_fingerprint=fingerprint("alice"), now=0.0, bans=bans,
                       peer_host="10.0.0.66")
    a.connection_made(fingerprint("mallory"), 0.0)
    hello = Hello(victim.node_id, CHAIN_ID, GENESIS, 1, TIP.tip, 1, "10.0.0.66", 1,
                  hash32(b"n", b"m"))
    events = a.receive_data(encode_frame(JoinRequest(hello)) + b"garbage!" * 4, 0.0)
    closed = of_type(events, ConnectionClosed)[0]
    assert not closed.banned and "before proving its key" in closed.reason
    assert not a.is_open and a.score(0.0) >= 100
    assert not bans.is_banned(f"node:{victim.node_id.hex()}", 1.0)
    assert not bans.is_banned("host:10.0.0.66", 1.0) and len(bans) == 0


def test_announced_transactions_are_fetched_by_hash_or_pushed() -> None:
    link = joined()
    raw = (b"raw tx one", b"raw tx two")
    hashes = tuple(hash32(b"tx", t) for t in raw)
    link.b.send_gossip((), hashes)
    ea, _ = link.pump(1.0)
    (announced,) = of_type(ea, GossipReceived)
    rid = link.a.request_transactions(announced.transactions, 1.0)
    _, eb = link.pump(1.0)
    assert of_type(eb, TransactionsRequested) == [TransactionsRequested(rid, hashes)]
    link.b.respond_transactions(rid, raw)
    ea, _ = link.pump(1.0)
    assert of_type(ea, TransactionsReceived) == [TransactionsReceived(rid, raw)]
    link.a.push_transactions((b"raw tx three",), (hash32(b"tx", b"raw tx three"),))
    _, eb = link.pump(2.0)
    assert of_type(eb, TransactionsReceived) == [TransactionsReceived(0, (b"raw tx three",))]
    assert not link.a.send_gossip((), (hash32(b"tx", b"raw tx three"),))  # Bob has it already


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["gossip", "status", "headers", "push", "wait"]),
                          st.booleans(), st.integers(1, 64), st.floats(0.0, 14.0)),
                min_size=1, max_size=40))
def test_honest_peers_never_score_each_other(
        steps: list[tuple[str, bool, int, float]]) -> None:
    """Random honest traffic, random chunking and random waits: no penalty, no drop, and every
    request is answered."""
    link = joined()
    now, answered, asked = 0.0, 0, 0
    for i, (op, from_a, chunk, wait) in enumerate(steps):
        me = link.a if from_a else link.b
        if op == "gossip":
            me.send_gossip((hash32(b"g", i.to_bytes(4, "big")),), ())
        elif op == "status":
            me.request_status(now)
            asked += 1
        elif op == "headers":
            me.request_headers((TIP.tip,), 10, now)
            asked += 1
        elif op == "push":
            me.push_block(b"block %d" % i, hash32(b"b", i.to_bytes(4, "big")))
        else:
            now += wait
            for conn in (link.a, link.b):
                assert not of_type(conn.handle_timer(now), ConnectionClosed)
        for _ in range(2):  # deliver, then deliver the answers
            ea, eb = link.pump(now, chunk=chunk)
            for conn, events in ((link.a, ea), (link.b, eb)):
                assert not of_type(events, PeerMisbehaved), events
                assert not of_type(events, ConnectionClosed), events
                for status in of_type(events, StatusRequested):
                    conn.respond_status(status.request_id, 2)
                for headers in of_type(events, HeadersRequested):
                    conn.respond_headers(headers.request_id, (b"h",), (b"p",))
                answered += len(of_type(events, StatusReceived))
                answered += len(of_type(events, HeadersReceived))
    assert answered == asked
    assert link.a.state is link.b.state is ConnectionState.READY


def test_only_small_join_messages_before_the_join() -> None:
    link = make_link()
    link.a.data_to_send()  # Alice's JOIN_REQUEST is replaced by a 16 MB BLOCK_SUBMIT header
    header = struct.pack(">4sBBII", b"PoQW", 1, MessageType.BLOCK_SUBMIT, 0, 16_000_000)
    events = link.b.receive_data(header + bytes(1000), 0.0)
    closed = of_type(events, ConnectionClosed)
    assert closed and "before the handshake finished" in closed[0].reason
    assert link.b.state is ConnectionState.CLOSED


def test_after_the_join_every_message_type_is_accepted() -> None:
    link = joined()
    link.a.push_block(b"\xc0" * 100, b"\x01" * 32)  # a big message right after the join
    _, got_b = link.pump(1.0)
    assert of_type(got_b, BlocksReceived) and link.b.state is ConnectionState.READY
