"""``poqw peers``: list the pins and bans of trust.db, forget a pin, lift a ban; the TOFU
refusal message names the command that fixes it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from poqw.cli.main import app
from poqw.errors import UntrustedPeer
from poqw.p2p.policing import BanEntry
from poqw.p2p.trust import TrustStore

NODE = bytes.fromhex("ab" * 32)


def make_trust(datadir: Path) -> None:
    with TrustStore(datadir / "trust.db", wall_offset=1_000.0) as store:
        store.check_and_pin(NODE, b"\x01" * 32, now=time.time() - 1_000.0)
        wall = time.time()
        store.save_bans([BanEntry("host:10.0.0.7", wall + 600, "oversize frame"),
                         BanEntry("node:" + "cd" * 32, wall - 1, "expired")], [], wall - 5)


def test_list_shows_pins_on_the_wall_clock_and_live_bans(tmp_path: Path) -> None:
    make_trust(tmp_path)
    result = CliRunner().invoke(app, ["peers", "list", "--datadir", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert [p["node_id"] for p in doc["pins"]] == [NODE.hex()]
    assert abs(doc["pins"][0]["first_seen"] - time.time()) < 60  # protocol clock + offset
    assert [b["key"] for b in doc["bans"]] == ["host:10.0.0.7"]
    assert 0 < doc["bans"][0]["seconds_left"] <= 600
    table = CliRunner().invoke(app, ["peers", "list", "--datadir", str(tmp_path)])
    assert table.exit_code == 0 and "oversize frame" in table.output


def test_forget_lets_a_new_certificate_be_pinned(tmp_path: Path) -> None:
    make_trust(tmp_path)
    with TrustStore(tmp_path / "trust.db") as store, \
            pytest.raises(UntrustedPeer, match=f"poqw peers forget {NODE.hex()}"):
        store.check_and_pin(NODE, b"\x02" * 32, now=0.0)
    result = CliRunner().invoke(app, ["peers", "forget", NODE.hex(), "--datadir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    with TrustStore(tmp_path / "trust.db") as store:
        assert store.check_and_pin(NODE, b"\x02" * 32, now=0.0) is True
    again = CliRunner().invoke(app, ["peers", "forget", "ef" * 32, "--datadir", str(tmp_path)])
    assert again.exit_code == 2 and "no certificate is pinned" in again.output
    bad = CliRunner().invoke(app, ["peers", "forget", "xyz", "--datadir", str(tmp_path)])
    assert bad.exit_code == 2 and "not hexadecimal" in bad.output


def test_unban_lifts_a_ban_and_keeps_the_rest(tmp_path: Path) -> None:
    make_trust(tmp_path)
    result = CliRunner().invoke(app, ["peers", "unban", "host:10.0.0.7", "--datadir",
                                      str(tmp_path)])
    assert result.exit_code == 0, result.output
    with TrustStore(tmp_path / "trust.db") as store:
        assert store.load_bans(time.time()) == []
        assert [p[0] for p in store.pins()] == [NODE]
    missing = CliRunner().invoke(app, ["peers", "unban", "host:10.0.0.7", "--datadir",
                                       str(tmp_path)])
    assert missing.exit_code == 2 and "no ban in force" in missing.output


def test_a_datadir_without_trust_db_is_named(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["peers", "list", "--datadir", str(tmp_path)])
    assert result.exit_code == 2 and "has not met any peer" in result.output
    assert not (tmp_path / "trust.db").exists()
