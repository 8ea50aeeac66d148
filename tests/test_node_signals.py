"""Stopping a real ``poqw node cpu`` process with signals, as systemd and a terminal do.

SIGTERM or SIGINT while it mines: it stops mining, closes its databases and exits 0; its chain
then opens, passes SQLite's integrity check and ``poqw chain info`` shows exactly the blocks it
reported. A second signal while it is still stopping (here: in the middle of a puzzle attempt
made to last minutes) exits at once with 128 + the signal's number, and the data directory is
still consistent: the node starts again and mines on. The node's log is JSON here
(``--log-format json``) and never holds the key passphrase.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import NoReturn

import pytest

from poqw.cli.stopsignals import StopSignals
from poqw.crypto import new_key
from poqw.node.info import chain_info
from poqw.node.service import resolve_genesis
from poqw.node.testing import genesis_document, make_chain

PASSPHRASE = "signal test passphrase 7f3a"
_MAIN = "from poqw.cli.main import main; main()"


class NodeProcess:
    """A node subprocess whose stdout and stderr lines are collected by threads."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _MAIN, *args], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True)
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(stream, lines), daemon=True)
                         for stream, lines in ((self.proc.stdout, self.out),
                                               (self.proc.stderr, self.err))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: object, lines: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            lines.append(line.rstrip("\n"))

    def blocks(self) -> list[tuple[int, str]]:
        return [(int(p[1]), p[2]) for p in (ln.split() for ln in list(self.out))
                if len(p) >= 3 and p[0] == "block"]

    def wait_for(self, what: str, predicate: object, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():  # type: ignore[operator]
            if self.proc.poll() is not None:
                raise AssertionError(f"node exited ({self.proc.returncode}) before {what}: "
                                     + "\n".join(self.err))
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.05)

    def finish(self, timeout: float) -> int:
        try:
            status = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        for reader in self._readers:
            reader.join(timeout=10)
        return status


def node_flags() -> set[str]:
    """Every flag ``poqw node cpu`` takes."""
    import typer.main

    from poqw.cli.main import app

    cpu = typer.main.get_command(app).commands["node"].commands["cpu"]  # type: ignore[attr-defined]
    return {opt for param in cpu.params for opt in (*param.opts, *param.secondary_opts)}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture
def node_args(tmp_path: Path) -> list[str]:
    key = tmp_path / "miner.key"
    new_key(key, PASSPHRASE, "ecdsa+xmss", height=6, scrypt_log2_n=10)
    genesis = tmp_path / "genesis.json"  # the devnet on a cheap difficulty anchor
    genesis.write_text(json.dumps(genesis_document()))
    args = ["node", "cpu", "--auto-mine", "--datadir", str(tmp_path / "data"), "--port", "0",
            "--key-file", str(key), "--genesis", str(genesis), "--log-format", "json"]
    return args + (["--no-rpc"] if "--no-rpc" in node_flags() else [])  # no port 8545 fights


def _env() -> dict[str, str]:
    return {**os.environ, "POQW_PASSPHRASE": PASSPHRASE}


def check_chain(tmp_path: Path, reported: list[tuple[int, str]], cli: bool = True) -> int:
    """The data directory opens, passes SQLite's integrity check, and ``poqw chain info`` (run
    as a command with ``cli``) shows every reported block on the best chain; returns the
    height."""
    datadir = tmp_path / "data"
    genesis, _ = resolve_genesis(str(tmp_path / "genesis.json"), datadir)
    chain, _ = make_chain(datadir, genesis)
    try:
        chain.store.integrity_check()
        assert chain.repair_state() == 0
        for number, block_hash in reported:
            assert chain.canonical_hash(number) == bytes.fromhex(block_hash[2:]), number
    finally:
        chain.store.close()
        chain.engine.close()
    if cli:
        done = subprocess.run([sys.executable, "-c", _MAIN, "chain", "info", "--datadir",
                               str(datadir), "--json"], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        info = json.loads(done.stdout)
    else:
        info = chain_info(datadir)
    if reported:
        assert (info["height"], info["tip"]) == max(reported)
    return int(info["height"])


def json_log(tmp_path: Path) -> list[dict[str, object]]:
    text = (tmp_path / "data" / "node.log").read_text()
    assert PASSPHRASE not in text
    records = [json.loads(line) for line in text.splitlines()]
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys(), record
    return records


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_mining_stops_the_node_cleanly(tmp_path: Path, node_args: list[str],
                                                      signum: int) -> None:
    node = NodeProcess(node_args, _env())
    try:
        node.wait_for("a block", lambda: len(node.blocks()) >= 1)
        node.proc.send_signal(signum)
    finally:
        status = node.finish(timeout=60)
    assert status == 0, node.err
    assert any(line.startswith("stopped: mined") for line in node.out)
    assert PASSPHRASE not in "\n".join(node.out + node.err)
    assert "Traceback" not in "\n".join(node.err)
    assert check_chain(tmp_path, node.blocks()) >= 1
    messages = [str(r["message"]) for r in json_log(tmp_path)]
    name = signal.Signals(signum).name
    assert any(m.startswith(f"{name}: stopping") for m in messages), messages
    assert messages[-1].startswith("node poqw-node stopped")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_second_signal_exits_at_once_and_corrupts_nothing(tmp_path: Path,
                                                            node_args: list[str]) -> None:
    # a first run leaves blocks behind, so the restart below has a chain to keep
    first = NodeProcess([*node_args, "--blocks", "1"], _env())
    assert first.finish(timeout=120) == 0, first.err
    height = check_chain(tmp_path, first.blocks(), cli=False)
    # one puzzle attempt now takes minutes: the first signal waits for it, the second does not
    config = tmp_path / "slow.toml"
    config.write_text("[cpu]\nnum_reads = 100000\nnum_sweeps = 100000\n")
    node = NodeProcess([*node_args, "--config", str(config)], _env())
    try:
        node.wait_for("the node to serve", lambda: any(ln.startswith("node ")
                                                       for ln in node.out))
        busy = cpu_seconds(node.proc.pid) + 2.0
        node.wait_for("a long puzzle attempt", lambda: cpu_seconds(node.proc.pid) > busy)
        node.proc.send_signal(signal.SIGTERM)
        node.wait_for("the stop to be logged", lambda: "SIGTERM: stopping" in
                      (tmp_path / "data" / "node.log").read_text())
        node.proc.send_signal(signal.SIGINT)
    finally:
        status = node.finish(timeout=60)  # the attempt alone would take minutes
    assert status == 128 + signal.SIGINT, node.err
    assert node.err[-1] == "SIGINT again: exiting at once (status 130)"
    assert node.blocks() == []
    assert check_chain(tmp_path, first.blocks()) == height
    json_log(tmp_path)
    # the data directory is fine: the node starts on it again and mines on
    again = NodeProcess([*node_args, "--blocks", "1"], _env())
    assert again.finish(timeout=120) == 0, again.err
    assert check_chain(tmp_path, first.blocks() + again.blocks(), cli=False) == height + 1


def _raise_exit(status: int) -> NoReturn:
    raise SystemExit(status)


def test_a_signal_before_the_node_is_ready_is_kept_for_it() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with StopSignals(exit_now=_raise_exit) as signals:
        os.kill(os.getpid(), signal.SIGTERM)  # e.g. while the databases open
        assert signals.name == "SIGTERM"
        stopped: list[str] = []
        signals.on_stop(lambda: stopped.append("now"))  # the node is ready: it stops at once
        assert stopped == ["now"]
        with pytest.raises(SystemExit) as exited:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # the handler runs in this thread before the sleep ends
        assert exited.value.code == 128 + signal.SIGINT
    assert signal.getsignal(signal.SIGTERM) is before
