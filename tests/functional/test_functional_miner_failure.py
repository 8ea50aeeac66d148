"""A node whose miner cannot go on fails loudly: real ``poqw node cpu`` processes, each stopped
by one mistake (unknown sampler, wrong passphrase, corrupt key, a key in a missing folder, a
data directory that is a file, a one-time key used up while mining). Each must exit non-zero
with exactly one ``error:`` line naming the problem, the reason in node.log, and no traceback.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from poqw.crypto import new_key

_NODE_MAIN = "from poqw.cli.main import main; main()"
PASSPHRASE = "miner failure passphrase"


def run_node(datadir: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", _NODE_MAIN, "node", "cpu", "--datadir", str(datadir),
           "--port", "0", "--no-discover", "--auto-mine", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


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
    assert sum(1 for out in result.stdout.splitlines() if out.startswith("block ")) == 4
    log = (datadir / "node.log").read_text()
    assert "mining stopped" in log and "Traceback" not in log
