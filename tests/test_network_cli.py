"""``poqw simulate --print-only`` plans the right node commands, ``poqw devnet --blocks B
--json`` runs real node processes until all agree on one tip at height B, then stops them all
("ok" only then), and the live view says what happens in the first minute."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
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
    # "ok" means one common tip, and the JSON says which
    tips = {node["tip"] for node in doc["nodes"]}
    assert len(tips) == 1 and doc["converged"] is True
    assert doc["tips"] == {tips.pop(): [node["name"] for node in doc["nodes"]]}
    # every process was stopped: each wrote its final status and released its data directory
    for node in doc["nodes"]:
        status = json.loads((tmp_path / node["name"] / "network.json").read_text())
        assert status["running"] is False
        assert "stopped" in (tmp_path / node["name"] / "node.log").read_text()


def test_devnet_view_explains_the_first_minute() -> None:
    from rich.console import Console

    from poqw.cli.devnet import _view

    def render(rows: list[dict[str, object]]) -> str:
        console = Console(record=True, width=200)
        console.print(_view(rows, 0.0, "12:00:00", 3))
        return console.export_text()

    row = {"name": "node0-cpu", "kind": "cpu", "port": 1, "height": None, "tip": None,
           "peers": None, "mined": 0, "won": 0, "next_energy_bound": None}
    text = render([row, {**row, "name": "node1-cpu"}])
    assert "…" not in text and "genesis stamped 12:00:00" in text
    assert "starting the node processes" in text
    started = {**row, "height": 0, "tip": "0x" + "ab" * 32, "peers": 0}
    assert "connecting" in render([started, {**started, "name": "node1-cpu"}])
    alone = {**started, "height": 2}
    assert "mines alone" in render([alone, {**started, "name": "node1-cpu"}])
    joined = {**started, "peers": 1}
    assert "mining the first block" in render([joined, {**joined, "name": "node1-cpu"}])
    split = [{**joined, "height": 3}, {**joined, "name": "node1-cpu", "height": 3,
                                        "tip": "0x" + "cd" * 32}]
    assert "waiting for every node to settle on one tip" in render(split)


@pytest.mark.slow
def test_devnet_stopped_before_its_goal_is_not_ok(tmp_path: Path) -> None:
    # SIGTERM (as Ctrl-C) before every node reached --blocks: exit 130, "ok" false, nodes stopped
    # (sent once the node mines: before its key exists a node finishes making it first)
    cmd = [sys.executable, "-c", "from poqw.cli.main import main; main()", "devnet", "--nodes",
           "1", "--blocks", "100000", "--json", "--run-dir", str(tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        status = tmp_path / "node0-cpu" / "network.json"
        out = tmp_path / "node0-cpu.out"
        deadline = time.monotonic() + 120
        while not (status.exists() and out.exists() and "\nblock 1 " in out.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, "the node never mined"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stdout + stderr and "interrupted before" in stderr
    doc = json.loads(stdout)
    assert doc["ok"] is False
    assert json.loads(status.read_text())["running"] is False


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
