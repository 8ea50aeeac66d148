"""The miner's one-time key: the node warns (log, console, ``key_status``) long before the key is
used up, refuses to mine with a clear error once it is (without solving a puzzle it could not
sign), and ``poqw node cpu`` refuses to start mining, with a non-zero exit, when the key is used
up or its state file was restored from a backup that is behind the chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from poqw.cli.main import app
from poqw.crypto.keystore import load_key, new_key, state_path
from poqw.errors import KeyExhausted
from poqw.node import Node, Secret, load_config
from poqw.node.config import NodeConfig
from poqw.node.onetime import exhaustion_warning, low_key_threshold
from poqw.node.testing import genesis_document

runner = CliRunner()
PASSPHRASE = "mining key test passphrase"


def config(tmp_path: Path, key_file: Path) -> NodeConfig:
    genesis = tmp_path / "genesis.json"
    if not genesis.exists():  # far in the past: every block gets the easiest bound
        genesis.write_text(json.dumps(genesis_document(timestamp=1_000_000_000)))
    return load_config(None, {"global.datadir": str(tmp_path / "data"),
                              "global.auto_mine": True, "global.genesis": str(genesis),
                              "global.key_file": str(key_file),
                              "global.key_passphrase": Secret(PASSPHRASE)})


def small_key(tmp_path: Path, height: int = 2) -> Path:
    key_file = tmp_path / "miner.key"
    new_key(key_file, PASSPHRASE, "ecdsa+xmss", height=height, scrypt_log2_n=10)
    (tmp_path / "pass.txt").write_text(PASSPHRASE + "\n")
    return key_file


def test_warning_schedule() -> None:
    assert low_key_threshold(16384) == 1638 and low_key_threshold(4) == 4
    assert exhaustion_warning(1638, 16384, "k") is None
    assert exhaustion_warning(1637, 16384, "k") is not None      # crossing the threshold
    assert exhaustion_warning(1000, 16384, "k") is None           # not every block
    assert exhaustion_warning(1000, 16384, "k", starting=True) is not None
    assert exhaustion_warning(512, 16384, "k") is not None        # powers of two
    assert all(exhaustion_warning(r, 16384, "k") for r in range(11))
    assert "5 of 16384 one-time signatures left" in (exhaustion_warning(5, 16384, "k") or "")


def test_node_warns_then_refuses_to_mine_with_a_used_up_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key_file = small_key(tmp_path)
    with Node(config(tmp_path, key_file)) as node:
        with pytest.raises(KeyExhausted, match=r"used all 4 of its one-time signatures"):
            node.run(max_blocks=10)
        assert node.tip().number == 4
        assert node.miner is not None and node.miner.stats.salts_tried >= 4
        tried = node.miner.stats.salts_tried
        assert node.key_status() == {"key_remaining": 0, "key_capacity": 4, "key_low": True}
        with pytest.raises(KeyExhausted):  # before solving anything
            node.miner.mine_block()
        assert node.miner.stats.salts_tried == tried
        text = node.config.log_path.read_text()
    assert "1 of 4 one-time signatures left" in text
    assert "warning: miner key" in capsys.readouterr().err


def test_cli_refuses_to_mine_with_a_used_up_key(tmp_path: Path) -> None:
    key_file = small_key(tmp_path)
    counter = load_key(key_file, PASSPHRASE).counter
    assert counter is not None
    for _ in range(4):
        counter.reserve()
    result = runner.invoke(app, ["node", "cpu", "--auto-mine", "--datadir", str(tmp_path / "d"),
                                 "--port", "0", "--blocks", "1", "--key-file", str(key_file),
                                 "--rpc-port", "0",
                                 "--passphrase-file", str(tmp_path / "pass.txt")])
    assert result.exit_code != 0, result.output
    assert "refusing to mine" in result.output and "used all 4" in result.output


def test_cli_refuses_to_mine_when_the_key_state_was_restored(tmp_path: Path) -> None:
    key_file = small_key(tmp_path, height=4)
    backup = state_path(key_file).read_bytes()
    with Node(config(tmp_path, key_file)) as node:
        assert node.run(max_blocks=2) == 2
    state_path(key_file).write_bytes(backup)
    result = runner.invoke(app, ["node", "cpu", "--auto-mine", "--datadir",
                                 str(tmp_path / "data"), "--port", "0", "--blocks", "1",
                                 "--rpc-port", "0",
                                 "--key-file", str(key_file),
                                 "--passphrase-file", str(tmp_path / "pass.txt")])
    assert result.exit_code != 0, result.output
    output = " ".join(result.output.split())
    assert "refusing to mine" in output and "restored from a backup" in output
    assert "signed with index 1" in output
    with Node(config(tmp_path, key_file)) as node:
        assert node.tip().number == 2


def test_devnet_default_key_outlasts_a_long_demo() -> None:
    """10,000 blocks at one a second, with the low-key warning still far off at the end."""
    height = load_config(None, {}).global_.key_height
    capacity = 1 << height
    assert capacity - 10_000 > low_key_threshold(capacity)
