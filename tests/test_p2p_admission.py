"""Per-address budgets, the admission decisions built on them, the bound on trust.db's pins and the
dial policy for PEERS answers, each against numbers worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.crypto.hashing import hash32
from poqw.errors import ConfigError
from poqw.node import load_config
from poqw.p2p import BanList, ChainTip, LocalNode, TrustStore
from poqw.p2p.admission import Admission
from poqw.p2p.dialpolicy import DialPolicy, dial_refusal, policy_for_listen_host
from poqw.p2p.identity import Role
from poqw.p2p.peer import PeerConnection
from poqw.p2p.policing import AddressLimits


def test_address_limits_charge_connections_strikes_identities_and_bans() -> None:
    limits = AddressLimits(connections=(1.0, 4.0), identities=(0.1, 3.0), strike_cost=3.0,
                           ban_cost=2.0)
    assert [limits.allow_connection("10.0.0.1", 0.0) for _ in range(5)] == [True] * 4 + [False]
    assert limits.allow_connection("10.0.0.2", 0.0)  # another address has its own budget
    assert limits.allow_connection("10.0.0.1", 1.0)  # one token refilled after 1 s
    limits.strike("10.0.0.2", 0.0)  # 3 left, minus 3
    assert not limits.allow_connection("10.0.0.2", 0.0)
    assert limits.allow_connection("10.0.0.2", 1.0)
    assert limits.allow_new_identity("10.0.0.3", 0.0)  # 2 left
    limits.identity_banned("10.0.0.3", 0.0)  # 0 left, never below
    assert not limits.allow_new_identity("10.0.0.3", 5.0)  # 0.5 refilled
    assert limits.allow_new_identity("10.0.0.3", 10.0)


def test_address_limits_track_a_bounded_number_of_addresses() -> None:
    limits = AddressLimits(connections=(1.0, 1.0), max_addresses=2)
    for host in ("a", "b", "c"):
        assert limits.allow_connection(host, 0.0)
    assert len(limits) == 2
    assert limits.allow_connection("a", 0.0)  # forgotten, so forgiven: a full bucket again
    assert not limits.allow_connection("c", 0.0)


def _peer(name: str, host: str, bans: BanList | None = None) -> PeerConnection:
    local = LocalNode(EcdsaPrivateKey(hash32(b"admission", name.encode())), 1, b"\x00" * 32)
    return PeerConnection(local, ChainTip(0, b"\x00" * 32, 0), Role.RESPONDER,
                          nonce=b"\x01" * 32, local_fingerprint=b"\x02" * 32, now=0.0,
                          bans=bans, peer_host=host)


def test_admission_lets_known_certificates_past_a_spent_budget_and_forgets_refused_keys() -> None:
    trust = TrustStore(":memory:")
    trust.check_and_pin(b"\x03" * 33, b"\x0a" * 32, 0.0)
    admission = Admission(AddressLimits(connections=(0.01, 1.0), identities=(0.01, 1.0)), trust)
    assert admission.connection_refusal("10.0.0.1", b"\x0b" * 32, 0.0) is None
    refusal = admission.connection_refusal("10.0.0.1", b"\x0b" * 32, 0.0)
    assert refusal is not None and "10.0.0.1 is over its connection budget" in refusal
    assert admission.connection_refusal("10.0.0.1", b"\x0a" * 32, 0.0) is None  # pinned
    trust.check_and_pin(b"\x04" * 33, b"\x0c" * 32, 0.0)
    assert admission.identity_refusal("10.0.0.1", b"\x04" * 33, 0.0) is None
    trust.check_and_pin(b"\x05" * 33, b"\x0d" * 32, 0.0)
    refusal = admission.identity_refusal("10.0.0.1", b"\x05" * 33, 0.0)
    assert refusal is not None and "too many new node keys" in refusal
    assert trust.pinned(b"\x05" * 33) is None and trust.pinned(b"\x04" * 33) is not None


def test_admission_charges_an_unproven_misbehaver_a_strike_not_a_ban() -> None:
    bans = BanList()
    limits = AddressLimits(connections=(0.01, 20.0), strike_cost=15.0)
    admission = Admission(limits, None, bans)
    peer = _peer("server", "10.0.0.9", bans)
    peer.connection_made(b"\x0e" * 32, 0.0)
    peer.receive_data(b"\xff" * 18, 0.0)  # garbage before the join
    peer.report_invalid("more", 0.0, 100)
    assert not peer.is_open and len(bans) == 0
    admission.closed(peer, 0.0)
    assert limits.allow_connection("10.0.0.9", 0.0)  # 20 - 15 = 5 left
    assert [limits.allow_connection("10.0.0.9", 0.0) for _ in range(5)] == [True] * 4 + [False]


def test_trust_store_keeps_at_most_max_pins_and_never_evicts_a_kept_one(tmp_path: Path) -> None:
    with TrustStore(tmp_path / "trust.db", max_pins=3) as store:
        store.check_and_pin(b"\x01" * 33, b"\x11" * 32, 1.0)
        assert store.keep(b"\x01" * 33) and not store.keep(b"\x09" * 33)
        for i in range(2, 9):  # throwaway keys, each seen once, later than the kept one
            store.check_and_pin(bytes([i]) * 33, bytes([0x10 + i]) * 32, float(i))
            assert len(store) <= 3
        assert [p[0][0] for p in store.pins()] == [1, 7, 8]  # kept, then the most recent
        assert store.knows_fingerprint(b"\x18" * 32) and not store.knows_fingerprint(b"\x12" * 32)
    with TrustStore(tmp_path / "trust.db", max_pins=3) as store:  # kept survives a reopen
        store.check_and_pin(b"\x0a" * 33, b"\x1a" * 32, 10.0)
        store.check_and_pin(b"\x0b" * 33, b"\x1b" * 32, 11.0)
        assert [p[0][0] for p in store.pins()] == [1, 10, 11]


@pytest.mark.parametrize(("host", "port", "scope", "why"), [
    ("127.0.0.1", 20049, "loopback", None),
    ("::1", 20049, "loopback", None),
    ("127.0.0.1", 22, "loopback", "port 22 is outside 1024-65535"),
    ("localhost", 20049, "loopback", "not an IP address"),
    ("node.example.org", 20049, "public", "not an IP address"),
    ("10.1.2.3", 20049, "loopback", "outside the 'loopback' dial policy"),
    ("10.1.2.3", 20049, "private", None),
    ("192.168.1.5", 20049, "public", "outside the 'public' dial policy"),
    ("8.8.8.8", 20049, "private", "outside the 'private' dial policy"),
    ("8.8.8.8", 20049, "public", None),
    ("0.0.0.0", 20049, "public", "not a unicast address"),
    ("224.0.0.1", 20049, "private", "not a unicast address"),
    ("169.254.1.1", 20049, "private", "outside the 'private' dial policy"),
])
def test_dial_policy(host: str, port: int, scope: str, why: str | None) -> None:
    refusal = dial_refusal(host, port, DialPolicy(scope))
    assert refusal == why if why is None else (refusal is not None and why in refusal)


def test_dial_policy_auto_follows_the_listen_address_and_bad_settings_are_named(
        tmp_path: Path) -> None:
    assert policy_for_listen_host("auto", "127.0.0.1").scope == "loopback"
    assert policy_for_listen_host("auto", "0.0.0.0").scope == "public"
    assert policy_for_listen_host("private", "127.0.0.1", 2000).min_port == 2000
    with pytest.raises(ConfigError, match="not one of"):
        DialPolicy("everywhere")
    with pytest.raises(ConfigError, match="port range"):
        DialPolicy("public", 0)
    path = tmp_path / "node.toml"
    path.write_text('[p2p]\ndial_policy = "private"\ndial_min_port = 2000\nmax_pins = 50\n'
                    'new_keys_per_address = 30\n')
    cfg = load_config(path)
    assert (cfg.p2p.dial_policy, cfg.p2p.dial_min_port, cfg.p2p.max_pins,
            cfg.p2p.new_keys_per_address) == ("private", 2000, 50, 30)
    path.write_text('[p2p]\ndial_policy = "anywhere"\n')
    with pytest.raises(ConfigError, match=r"\[p2p\] dial_policy .* must be one of"):
        load_config(path)
    path.write_text("[p2p]\nmax_pins = 0\n")
    with pytest.raises(ConfigError, match="max_pins"):
        load_config(path)
