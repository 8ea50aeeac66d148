"""Token buckets, misbehaviour scores, ban expiry and the trust store, against closed forms."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.crypto.hashing import hash32
from poqw.errors import UntrustedPeer
from poqw.p2p import BanList, MisbehaviourScore, TokenBucket, TrustStore
from poqw.p2p.identity import Role, handshake_digest, sign_handshake, verify_handshake


@settings(max_examples=50, deadline=None)
@given(st.floats(0.5, 50), st.integers(1, 50),
       st.lists(st.floats(0, 2), min_size=1, max_size=60))
def test_token_bucket_admits_exactly_burst_plus_refill(rate: float, burst: int,
                                                        gaps: list[float]) -> None:
    bucket = TokenBucket(rate, burst, now=0.0)
    now, admitted, tokens = 0.0, 0, float(burst)
    for gap in gaps:
        previous, now = now, now + gap
        tokens = min(burst, tokens + (now - previous) * rate)  # closed form, tracked here
        expect = tokens >= 1.0
        assert bucket.take(now) is expect
        if expect:
            tokens -= 1.0
            admitted += 1
    assert admitted <= burst + rate * now + 1e-9


def test_token_bucket_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="rate > 0"):
        TokenBucket(0.0, 5, 0.0)


def test_score_decays_linearly_and_trips_at_threshold() -> None:
    score = MisbehaviourScore(threshold=100, decay_per_second=0.5)
    assert not score.add(60, now=0.0)
    assert score.value(20.0) == pytest.approx(50.0)
    assert not score.add(49, now=20.0)  # 99 < 100
    assert score.add(1, now=20.0)
    assert score.value(1000.0) == 0.0


def test_ban_expires_and_longer_ban_wins() -> None:
    bans = BanList()
    bans.ban("node:aa", now=0.0, duration=10.0, reason="spam")
    bans.ban("node:aa", now=1.0, duration=5.0, reason="shorter")  # does not shorten it
    assert bans.is_banned("node:aa", 9.9) and bans.reason("node:aa", 9.9) == "spam"
    assert not bans.is_banned("node:aa", 10.0)
    assert not bans.is_banned("node:bb", 0.0)
    bans.ban("host:1.2.3.4", 0.0, 1.0, "x")
    bans.expire(2.0)
    assert len(bans) == 0


def test_trust_store_pins_refuses_and_forgets(tmp_path: Path) -> None:
    node, fp1, fp2 = b"\x02" * 33, b"\x01" * 32, b"\x02" * 32
    with TrustStore(tmp_path / "trust.db") as store:
        assert store.check_and_pin(node, fp1, 1.0)
        assert not store.check_and_pin(node, fp1, 2.0)
        with pytest.raises(UntrustedPeer, match=node.hex()):
            store.check_and_pin(node, fp2, 3.0)
        assert store.pinned(node) == fp1  # the refused certificate did not replace the pin
        store.forget(node)
        assert store.check_and_pin(node, fp2, 4.0)
        assert len(store) == 1


def test_handshake_signature_binds_every_field() -> None:
    key = EcdsaPrivateKey(hash32(b"test/key", b"k"))
    node_id = key.public_key().compressed
    fp, nonce, genesis = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32
    sig = sign_handshake(key, Role.RESPONDER, fp, nonce, 5, genesis)
    verify_handshake(node_id, sig, Role.RESPONDER, fp, nonce, 5, genesis)
    changed = [
        (Role.INITIATOR, fp, nonce, 5, genesis),  # reflected to the other role
        (Role.RESPONDER, b"\x09" * 32, nonce, 5, genesis),  # another certificate
        (Role.RESPONDER, fp, b"\x09" * 32, 5, genesis),  # a replayed nonce
        (Role.RESPONDER, fp, nonce, 6, genesis),  # another chain
        (Role.RESPONDER, fp, nonce, 5, b"\x09" * 32),  # another genesis
    ]
    for role, f, n, chain, g in changed:
        assert handshake_digest(role, node_id, f, n, chain, g) != \
            handshake_digest(Role.RESPONDER, node_id, fp, nonce, 5, genesis)
        with pytest.raises(UntrustedPeer, match="did not sign"):
            verify_handshake(node_id, sig, role, f, n, chain, g)
    with pytest.raises(UntrustedPeer):
        verify_handshake(b"\x05" * 33, sig, Role.RESPONDER, fp, nonce, 5, genesis)  # not a key
