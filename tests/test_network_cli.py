"""``poqw simulate --print-only`` plans the right node commands, and ``poqw devnet --blocks B
--json`` runs real node processes until each reached height B, then stops them all."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from typer.testing import CliRunner

from poqw.cli.main import app
from poqw.node.testing import genesis_document

runner = CliRunner()


def test_simulate_prints_the_mixed_network(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", "--scenario", "mixed", "--print-only",
                                 "--base-port", "31000", "--run-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    commands = [shlex.split(line) for line in result.stdout.splitlines()]
    assert len(commands) == 6
    for i, cmd in enumerate(commands):
        assert cmd[cmd.index("--port") + 1] == str(31000 + i)
        peers = [cmd[j + 1] for j, arg in enumerate(cmd) if arg == "--peer"]
        assert peers == [f"127.0.0.1:{31000 + j}" for j in range(i)]
        assert cmd[cmd.index("--genesis") + 1] == str(tmp_path / "genesis.json")
    names = [cmd[cmd.index("--node-name") + 1] for cmd in commands]
    assert [n.split("-")[1] for n in names] == ["cpu"] * 3 + ["gpu"] * 2 + ["qpu"]
    assert "no GPU" in result.output and "no QPU" in result.output  # the fallback is said
    assert json.loads((tmp_path / "genesis.json").read_text())["name"] == "devnet"
    bad = runner.invoke(app, ["simulate", "--scenario", "moon", "--print-only"])
    assert bad.exit_code != 0 and "unknown scenario" in bad.output
    bad = runner.invoke(app, ["devnet", "--miners", "cpu,tpu", "--print-only"])
    assert bad.exit_code == 2 and "unknown miner kind" in bad.output


def test_devnet_runs_until_every_node_reaches_the_height(tmp_path: Path) -> None:
    cheap = tmp_path / "cheap.json"  # the devnet on a cheap difficulty anchor (--genesis)
    cheap.write_text(json.dumps(genesis_document()))
    result = runner.invoke(app, ["devnet", "--nodes", "2", "--miners", "cpu", "--blocks", "3",
                                 "--json", "--run-dir", str(tmp_path), "--timeout", "90",
                                 "--genesis", str(cheap)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] and len(doc["nodes"]) == 2
    for node in doc["nodes"]:
        assert node["height"] >= 3 and node["peers"] == 1
        assert node["tip"].startswith("0x") and len(node["tip"]) == 66
    # every process was stopped: each wrote its final status and released its data directory
    for node in doc["nodes"]:
        status = json.loads((tmp_path / node["name"] / "network.json").read_text())
        assert status["running"] is False
        assert "stopped" in (tmp_path / node["name"] / "node.log").read_text()


def test_devnet_runs_a_given_genesis_stamped_with_now(tmp_path: Path) -> None:
    doc = genesis_document(target_interval=3)
    source = tmp_path / "short.json"
    source.write_text(json.dumps(doc))
    run = tmp_path / "run"
    result = runner.invoke(app, ["devnet", "--nodes", "1", "--print-only", "--run-dir", str(run),
                                 "--genesis", str(source)])
    assert result.exit_code == 0, result.output
    written = json.loads((run / "genesis.json").read_text())
    assert written["target_interval"] == 3 and written["timestamp"] > doc["timestamp"]
    assert written["difficulty"] == doc["difficulty"]
    (tmp_path / "bad.json").write_text("{}")
    bad = runner.invoke(app, ["devnet", "--print-only", "--run-dir", str(run), "--genesis",
                              str(tmp_path / "bad.json")])
    assert bad.exit_code != 0 and "bad.json" in bad.output and "format" in bad.output
