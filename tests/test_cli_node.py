"""``poqw node cpu``, ``poqw chain info`` and ``poqw keys``, run in-process with Typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from poqw.cli.main import app
from poqw.crypto import load_key
from poqw.node.testing import genesis_document

runner = CliRunner()
PASSPHRASE = "cli test passphrase 42"


def invoke(*args: str, env: dict[str, str] | None = None) -> object:
    return runner.invoke(app, list(args), env=env)


@pytest.fixture()
def key(tmp_path: Path) -> tuple[Path, Path]:
    pass_file = tmp_path / "pass.txt"
    pass_file.write_text(PASSPHRASE + "\n")
    key_file = tmp_path / "miner.key"
    result = runner.invoke(app, ["keys", "new", str(key_file), "--height", "6",
                                 "--passphrase-file", str(pass_file), "--json"])
    assert result.exit_code == 0, result.output
    return key_file, pass_file


def test_keys_new_show_export(key: tuple[Path, Path], tmp_path: Path) -> None:
    key_file, _ = key
    shown = runner.invoke(app, ["keys", "show", str(key_file), "--json"])
    doc = json.loads(shown.stdout)
    assert (doc["scheme"], doc["capacity"], doc["used"], doc["remaining"]) == (
        "ecdsa+xmss", 64, 0, 64)
    exported = json.loads(runner.invoke(app, ["keys", "export-public", str(key_file)]).stdout)
    signer = load_key(key_file, PASSPHRASE)
    assert exported["address"].lower() == "0x" + signer.address().hex()
    assert PASSPHRASE not in shown.output
    # the passphrase may also come from the environment; never echoed
    other = tmp_path / "other.key"
    made = runner.invoke(app, ["keys", "new", str(other), "--scheme", "ecdsa+mldsa44"],
                         env={"POQW_PASSPHRASE": "from the env 9"})
    assert made.exit_code == 0, made.output
    assert "from the env 9" not in made.output
    assert load_key(other, "from the env 9").address().hex() in made.output.lower()
    again = runner.invoke(app, ["keys", "new", str(other)], env={"POQW_PASSPHRASE": "x" * 8})
    assert again.exit_code == 2 and "already exists" in again.output
    bad = runner.invoke(app, ["keys", "new", str(tmp_path / "b.key"), "--scheme", "rsa"],
                        env={"POQW_PASSPHRASE": "x" * 8})
    assert bad.exit_code != 0 and "unknown signature scheme" in bad.output


def test_node_cpu_mines_then_chain_info_reports(key: tuple[Path, Path], tmp_path: Path) -> None:
    key_file, pass_file = key
    datadir = tmp_path / "data"
    genesis = tmp_path / "genesis.json"  # the devnet on a cheap difficulty anchor
    genesis.write_text(json.dumps(genesis_document()))
    result = runner.invoke(app, ["node", "cpu", "--auto-mine", "--datadir", str(datadir),
                                 "--port", "0", "--blocks", "2", "--key-file", str(key_file),
                                 "--rpc-port", "0",
                                 "--passphrase-file", str(pass_file), "--genesis", str(genesis)])
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("block ")]
    assert [ln.split()[1] for ln in lines] == ["1", "2"]
    info = runner.invoke(app, ["chain", "info", "--datadir", str(datadir), "--json"])
    doc = json.loads(info.stdout)
    assert doc["height"] == 2 and doc["tip"] == lines[-1].split()[2]
    assert doc["miners"][0]["blocks_won"] == 2
    assert doc["miners"][0]["address"].lower() == "0x" + load_key(key_file, PASSPHRASE) \
        .address().hex()
    table = runner.invoke(app, ["chain", "info", "--datadir", str(datadir)])
    assert table.exit_code == 0 and "next energy bound" in table.output
    assert PASSPHRASE not in result.output + info.output + table.output


def test_bad_config_and_missing_chain_fail_cleanly(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[global]\nauto_mine = true\nbogus = 1\n")
    result = runner.invoke(app, ["node", "cpu", "--config", str(config), "--datadir",
                                 str(tmp_path / "d")])
    assert result.exit_code == 2
    assert "unknown key 'bogus'" in result.output and "bad.toml" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    info = runner.invoke(app, ["chain", "info", "--datadir", str(empty)])
    assert info.exit_code == 2 and "no chain database" in info.output
