"""``poqw devnet --miners cpu,gpu,qpu,qvm`` and ``poqw simulate --num-*``: each kind runs its own
``poqw node`` command, and whatever falls back on this machine is said (CI has no GPU and no
D-Wave token: GPU nodes run the CPU annealer, QPU nodes the mock sampler)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from poqw.cli.main import app
from poqw.node.testing import genesis_document
from poqw.samplers.gpu_annealing import gpu_status

runner = CliRunner()
NO_GPU = not gpu_status().available


def _commands(output: str) -> list[list[str]]:
    return [shlex.split(line) for line in output.splitlines() if line.startswith("/")
            or "poqw.cli.main" in line]


def test_devnet_runs_each_kind_with_its_own_node_command(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DWAVE_API_TOKEN", raising=False)
    result = runner.invoke(app, ["devnet", "--nodes", "4", "--miners", "cpu,gpu,qpu,qvm",
                                 "--print-only", "--run-dir", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    commands = _commands(result.stdout)
    kinds = [cmd[cmd.index("node") + 1:cmd.index("--datadir")] for cmd in commands]
    assert kinds == [["cpu", "--sampler", "simulated-annealing"], ["gpu"],
                     ["qpu", "--solver", "mock"], ["cpu", "--sampler", "qaoa"]]
    assert "DWAVE_API_TOKEN is not set" in result.output and "MockDWaveSampler" in result.output
    if NO_GPU:
        assert "no GPU usable here" in result.output and "CPU annealer" in result.output
    # with a token, the QPU node is a real D-Wave node and nothing about it falls back
    monkeypatch.setenv("DWAVE_API_TOKEN", "not-a-real-token-1234")
    result = runner.invoke(app, ["devnet", "--nodes", "1", "--miners", "qpu", "--print-only",
                                 "--run-dir", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    (command,) = _commands(result.stdout)
    assert command[command.index("node") + 1] == "qpu" and "mock" not in command
    assert "note" not in result.output and "not-a-real-token" not in result.output


def test_simulate_mixed_counts(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", "--num-cpu", "1", "--num-gpu", "2", "--num-qpu",
                                 "0", "--print-only", "--run-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    names = [cmd[cmd.index("--node-name") + 1] for cmd in _commands(result.stdout)]
    assert names == ["node0-cpu", "node1-gpu", "node2-gpu"]
    bad = runner.invoke(app, ["simulate", "--scenario", "cpu", "--num-gpu", "1",
                              "--print-only"])
    assert bad.exit_code != 0 and "mixed" in bad.output
    bad = runner.invoke(app, ["simulate", "--num-cpu", "0", "--num-gpu", "0", "--num-qpu", "0",
                              "--print-only"])
    assert bad.exit_code != 0 and "no node" in bad.output


@pytest.mark.slow
def test_devnet_of_gpu_and_qpu_nodes_agrees_on_one_chain(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DWAVE_API_TOKEN", raising=False)
    cheap = tmp_path / "cheap.json"
    cheap.write_text(json.dumps(genesis_document()))
    result = runner.invoke(app, ["devnet", "--nodes", "2", "--miners", "gpu,qpu", "--blocks",
                                 "2", "--json", "--run-dir", str(tmp_path), "--timeout", "240",
                                 "--genesis", str(cheap)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] and [n["kind"] for n in doc["nodes"]] == ["gpu", "qpu"]
    assert sum(n["mined"] for n in doc["nodes"]) >= 2
    gpu_out = (tmp_path / "node0-gpu.out").read_text()
    qpu_out = (tmp_path / "node1-qpu.out").read_text()
    if NO_GPU:
        assert "mining with the CPU annealer instead" in gpu_out
    assert "MockDWaveSampler" in qpu_out and "no QPU is used" in qpu_out
    assert any((tmp_path / "node1-qpu" / "qpu").glob("embedding-*.json"))
