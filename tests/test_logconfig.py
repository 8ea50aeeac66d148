"""Logging for operators: ``--log-level`` and ``--log-format text|json`` on the long-running
commands, one JSON object per line with time, level, logger, message and extra fields, the same
keys in the node's TOML, and secrets (a key passphrase, a QPU token) never written in either
format, even when one slips into a message, an argument, an extra field or a traceback.
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from poqw.errors import ConfigError
from poqw.logconfig import (
    attach,
    detach,
    forget_secrets,
    make_handler,
    parse_level,
    register_secret,
)
from poqw.node import Node, Secret, load_config

SECRET = "correct horse battery staple 42"
_MAIN = "from poqw.cli.main import main; main()"


@pytest.fixture
def capture() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """Two handlers on the ``poqw`` logger, text and json, writing to strings."""
    text, js = io.StringIO(), io.StringIO()
    handlers = [make_handler("debug", "text", stream=text),
                make_handler("debug", "json", stream=js)]
    for handler in handlers:
        attach(handler)
    try:
        yield text, js
    finally:
        for handler in handlers:
            detach(handler)
        forget_secrets()


def test_json_is_one_object_per_line_with_the_extra_fields(
        capture: tuple[io.StringIO, io.StringIO]) -> None:
    text, js = capture
    log = logging.getLogger("poqw.test.logconfig")
    log.info("mined block %d", 7, extra={"height": 7, "tip": b"\x01\x02", "peers": ["a", "b"]})
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        log.exception("import failed")
    lines = js.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "info" and first["logger"] == "poqw.test.logconfig"
    assert first["message"] == "mined block 7"
    assert (first["height"], first["tip"], first["peers"]) == (7, "0x0102", ["a", "b"])
    assert first["time"].endswith("Z") and "T" in first["time"]
    assert second["level"] == "error" and "ValueError: boom" in second["exception"]
    shown = text.getvalue().splitlines()
    assert shown[0].endswith("INFO poqw.test.logconfig mined block 7 height=7 tip=0x0102 "
                             "peers=['a', 'b']")
    assert "Traceback" in text.getvalue()


def test_a_registered_secret_is_masked_everywhere(
        capture: tuple[io.StringIO, io.StringIO]) -> None:
    text, js = capture
    register_secret(SECRET)
    log = logging.getLogger("poqw.test.logconfig")
    log.warning("passphrase is %s", SECRET, extra={"token": SECRET, "nested": {"k": [SECRET]}})
    log.warning(f"in the message itself: {SECRET}!")
    log.info("a Secret object: %s", Secret(SECRET), extra={"held": Secret(SECRET)})
    try:
        raise RuntimeError(f"wrong passphrase {SECRET}")
    except RuntimeError:
        log.exception("unlock failed")
    for out in (text.getvalue(), js.getvalue()):
        assert SECRET not in out
        assert "correct horse" not in out
        assert out.count("***") >= 6
    for line in js.getvalue().splitlines():
        json.loads(line)


def test_levels_filter_and_bad_names_are_refused() -> None:
    out = io.StringIO()
    handler = make_handler("warning", "json", stream=out)
    attach(handler)
    try:
        log = logging.getLogger("poqw.test.levels")
        log.info("hidden")
        log.warning("shown")
    finally:
        detach(handler)
    assert [json.loads(line)["message"] for line in out.getvalue().splitlines()] == ["shown"]
    assert parse_level("DEBUG") == logging.DEBUG
    with pytest.raises(ConfigError, match="unknown log level 'loud'"):
        parse_level("loud")
    with pytest.raises(ConfigError, match="unknown log format 'xml'"):
        make_handler("info", "xml")


def test_the_node_config_takes_log_level_and_format(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text('[global]\nlog_level = "debug"\nlog_format = "json"\nlog_file = "-"\n')
    cfg = load_config(path)
    assert (cfg.global_.log_level, cfg.global_.log_format, cfg.log_to_stderr) == \
        ("debug", "json", True)
    path.write_text('[global]\nlog_format = "xml"\n')
    with pytest.raises(ConfigError, match=r"\[global\] log_format .* must be one of text, json"):
        load_config(path)
    path.write_text('[global]\nlog_colour = "red"\n')
    with pytest.raises(ConfigError, match="unknown key 'log_colour' in \\[global\\]"):
        load_config(path)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_node_never_writes_its_passphrase_or_token(tmp_path: Path, fmt: str) -> None:
    token = "qpu-token-0123456789abcdef"
    cfg = load_config(None, {"global.datadir": str(tmp_path / "d"), "global.log_level": "debug",
                             "global.log_format": fmt, "global.key_passphrase": Secret(SECRET),
                             "qpu.api_token": Secret(token)})
    try:
        with Node(cfg):
            logging.getLogger("poqw.node").info("oops, logged %s and %s", SECRET, token,
                                                extra={"token": token})
    finally:
        forget_secrets()
    text = (tmp_path / "d" / "node.log").read_text()
    assert SECRET not in text and token not in text
    assert "oops, logged *** and ***" in text
    lines = text.splitlines()
    if fmt == "json":
        records = [json.loads(line) for line in lines]
        assert records[0]["message"].startswith("node poqw-node started")
        assert records[-1]["message"] == "node poqw-node stopped"
        assert [r["token"] for r in records if "token" in r] == ["***"]
    else:
        assert " INFO poqw.node node poqw-node started on " in lines[0]


def test_devnet_hands_the_log_options_to_its_nodes(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", _MAIN, "devnet", "--nodes", "2", "--print-only",
                           "--run-dir", str(tmp_path), "--log-level", "debug", "--log-format",
                           "json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    commands = done.stdout.splitlines()
    assert len(commands) == 2
    for line in commands:
        assert "--log-level debug --log-format json" in line


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_solve_logs_to_stderr_as_asked(fmt: str) -> None:
    done = subprocess.run([sys.executable, "-c", _MAIN, "solve", "--random-regular", "3", "8",
                           "--sampler", "exact", "--json", "--log-level", "info",
                           "--log-format", fmt], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["cut"] == 10.0  # stdout stays machine-readable
    lines = done.stderr.splitlines()
    assert len(lines) == 2, done.stderr
    if fmt == "json":
        records = [json.loads(line) for line in lines]
        assert records[1]["logger"] == "poqw.cli.solve"
        assert records[1]["energy"] == -10.0
    else:
        assert " INFO poqw.cli.solve solved: energy -10.0" in lines[1]
