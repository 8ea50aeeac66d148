"""The event loop a node runs on: ``POQW_EVENT_LOOP`` (auto, uvloop, asyncio) resolved, enforced
and logged; a node mines on uvloop, and a bad value stops ``poqw node`` before it opens its data.

Oracles: the running loop's own class, and the node's log file.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from poqw import loops
from poqw.cli.main import app
from poqw.errors import ConfigError
from poqw.node.testing import genesis_document

runner = CliRunner()
PASSPHRASE = "loop test passphrase 42"


async def loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_the_stdlib_loop_can_always_be_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(loops.EVENT_LOOP_ENV, "asyncio")
    assert loops.choose_loop() == "asyncio"
    assert loops.run(loop_module()).startswith("asyncio")


def test_asyncio_means_the_stdlib_loop_even_under_a_global_uvloop_policy() -> None:
    uvloop = pytest.importorskip("uvloop", reason="uvloop is not built for this platform")
    previous = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        assert loops.run(loop_module(), "asyncio").startswith("asyncio")
    finally:
        asyncio.set_event_loop_policy(previous)


@pytest.mark.parametrize("value", ["", "auto", "uvloop", " UVLoop "])
def test_uvloop_is_used_when_installed(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    pytest.importorskip("uvloop", reason="uvloop is not built for this platform")
    monkeypatch.setenv(loops.EVENT_LOOP_ENV, value)
    assert loops.choose_loop() == "uvloop"
    assert loops.run(loop_module()).startswith("uvloop")
    assert loops.run(loop_module(), "asyncio").startswith("asyncio")  # an explicit choice wins


def test_a_bad_choice_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(loops.EVENT_LOOP_ENV, "fast")
    with pytest.raises(ConfigError, match="POQW_EVENT_LOOP='fast' is not an event loop: use "
                                          "one of auto, uvloop, asyncio"):
        loops.choose_loop()
    coro = loop_module()
    with pytest.raises(ConfigError):
        loops.run(coro)
    assert coro.cr_frame is None  # closed, not left pending


def test_poqw_node_mines_on_uvloop_and_refuses_a_bad_choice(tmp_path: Path) -> None:
    pytest.importorskip("uvloop", reason="uvloop is not built for this platform")
    pass_file = tmp_path / "pass.txt"
    pass_file.write_text(PASSPHRASE + "\n")
    key_file = tmp_path / "miner.key"
    made = runner.invoke(app, ["keys", "new", str(key_file), "--height", "6",
                               "--passphrase-file", str(pass_file), "--json"])
    assert made.exit_code == 0, made.output
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(genesis_document()))
    args = ["node", "cpu", "--auto-mine", "--port", "0", "--blocks", "1", "--rpc-port", "0",
            "--key-file", str(key_file), "--passphrase-file", str(pass_file),
            "--genesis", str(genesis)]

    bad = runner.invoke(app, [*args, "--datadir", str(tmp_path / "bad")],
                        env={loops.EVENT_LOOP_ENV: "fast"})
    assert bad.exit_code == 2 and "POQW_EVENT_LOOP='fast' is not an event loop" in bad.output
    assert not (tmp_path / "bad").exists()

    datadir = tmp_path / "data"
    result = runner.invoke(app, [*args, "--datadir", str(datadir)],
                           env={loops.EVENT_LOOP_ENV: "uvloop"})
    assert result.exit_code == 0, result.output
    assert [ln.split()[1] for ln in result.stdout.splitlines() if ln.startswith("block ")] \
        == ["1"]
    assert "event loop: uvloop " in (datadir / "node.log").read_text()
