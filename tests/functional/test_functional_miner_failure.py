"""A node whose miner cannot go on fails loudly: real ``poqw node cpu`` processes, each stopped
by one mistake (unknown sampler, wrong passphrase, corrupt key, a key in a missing folder, a
data directory that is a file, a one-time key used up while mining). Each must exit non-zero
with exactly one ``error:`` line naming the problem, the reason in node.log, and no traceback;
with ``--keep-serving`` (mining optional) the node says so, keeps serving and reports it in
network.json.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from framework import wait_until

from poqw.crypto import new_key

_NODE_MAIN = "from poqw.cli.main import main; main()"
PASSPHRASE = "miner failure passphrase"


def run_node(datadir: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", _NODE_MAIN, "node", "cpu", "--datadir", str(datadir),
           "--port", "0", "--rpc-port", "0", "--no-discover", "--auto-mine", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def status(datadir: Path) -> dict[str, Any]:
    try:
        doc: dict[str, Any] = json.loads((datadir / "network.json").read_text())
        return doc
    except (OSError, ValueError):
        return {}


def assert_loud_failure(result: subprocess.CompletedProcess[str], *words: str) -> str:
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode != 0, output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


@pytest.fixture()
def passphrase_file(tmp_path: Path) -> Path:
    path = tmp_path / "pass.txt"
    path.write_text(PASSPHRASE + "\n")
    return path


def test_unknown_sampler_stops_the_node(tmp_path: Path) -> None:
    datadir = tmp_path / "data"
    result = run_node(datadir, "--sampler", "no-such-sampler", "--blocks", "1")
    assert_loud_failure(result, "no-such-sampler")
    assert "no-such-sampler" in (datadir / "node.log").read_text()


def test_wrong_passphrase_and_corrupt_key_stop_the_node(tmp_path: Path,
                                                        passphrase_file: Path) -> None:
    key = tmp_path / "miner.key"
    new_key(key, PASSPHRASE, height=2)
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the passphrase\n")
    datadir = tmp_path / "data"
    result = run_node(datadir, "--key-file", str(key), "--passphrase-file", str(wrong),
                      "--blocks", "1")
    assert_loud_failure(result, "wrong passphrase")
    assert "wrong passphrase" in (datadir / "node.log").read_text()

    corrupt = tmp_path / "corrupt.key"
    corrupt.write_text("{ this is not a key")
    result = run_node(datadir, "--key-file", str(corrupt), "--passphrase-file",
                      str(passphrase_file), "--blocks", "1")
    assert_loud_failure(result, str(corrupt))


def test_paths_that_cannot_be_used(tmp_path: Path, passphrase_file: Path) -> None:
    missing_folder_key = tmp_path / "no-such-folder" / "miner.key"
    result = run_node(tmp_path / "data", "--key-file", str(missing_folder_key),
                      "--passphrase-file", str(passphrase_file), "--blocks", "1")
    assert_loud_failure(result, "no-such-folder", "does not exist")

    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder\n")
    result = run_node(a_file, "--blocks", "1")
    assert_loud_failure(result, str(a_file), "not a folder")

    result = run_node(tmp_path / "data", "--log-file", str(tmp_path / "no-such-folder" / "x.log"),
                      "--blocks", "1")
    assert_loud_failure(result, "log file", "no-such-folder")


@pytest.mark.slow
def test_used_up_key_while_mining_stops_the_node(tmp_path: Path,
                                                 passphrase_file: Path) -> None:
    # height 2: four one-time signatures, so the miner thread fails on its fifth block
    key = tmp_path / "small.key"
    new_key(key, PASSPHRASE, height=2)
    datadir = tmp_path / "data"
    result = run_node(datadir, "--key-file", str(key), "--passphrase-file",
                      str(passphrase_file), "--blocks", "8")
    line = assert_loud_failure(result, "mining stopped")
    assert "key" in line
    # it failed mid-run, in the miner thread (a key manager may keep a margin: at most 4)
    assert 0 < sum(1 for out in result.stdout.splitlines() if out.startswith("block ")) <= 4
    log = (datadir / "node.log").read_text()
    assert "mining stopped" in log and "Traceback" not in log


@pytest.mark.slow
def test_optional_mining_stops_and_says_so_while_the_node_serves(
        tmp_path: Path, passphrase_file: Path) -> None:
    # --keep-serving: a used-up key stops mining, not the node; console and network.json say so
    key = tmp_path / "small.key"
    new_key(key, PASSPHRASE, height=2)
    datadir = tmp_path / "data"
    cmd = [sys.executable, "-c", _NODE_MAIN, "node", "cpu", "--datadir", str(datadir),
           "--port", "0", "--rpc-port", "0", "--no-discover", "--auto-mine", "--keep-serving",
           "--key-file", str(key), "--passphrase-file", str(passphrase_file)]
    with open(tmp_path / "out", "w+") as out, open(tmp_path / "err", "w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        try:
            wait_until(lambda: "failed" in str(status(datadir).get("mining")), 120,
                       "network.json to report the failed miner")
            assert proc.poll() is None  # still serving
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    assert "Traceback" not in stdout + stderr
    assert proc.returncode == 0, stderr
    warnings = [line for line in stderr.splitlines()
                if line.startswith("warning:") and "mining stopped" in line]
    assert len(warnings) == 1 and "still serving peers" in warnings[0]
    assert 0 < sum(1 for line in stdout.splitlines() if line.startswith("block ")) <= 4
    final = status(datadir)
    assert final["running"] is False and str(final["mining"]).startswith("failed: mining stopped")
