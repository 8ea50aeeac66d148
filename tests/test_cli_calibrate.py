"""``poqw chain calibrate``: a tiny calibration makes a genesis a node loads; ``--out`` never
clobbers a file unless told; and nothing on the consensus path imports the calibrator."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from poqw.chain import build_topology, load_genesis
from poqw.chain.calibrate import calibrate_topology
from poqw.cli.main import app
from poqw.errors import ConfigError

TINY = ["chain", "calibrate", "--family", "regular3", "--size", "12", "--k", "2", "--d-min", "2",
        "--budgets", "1,8,64", "--instances", "6", "--reads", "16", "--seed", "3",
        "--chain-id", "4242", "--name", "tiny-calibrated"]
SRC = Path(__file__).resolve().parent.parent / "src" / "poqw"


def test_calibrate_writes_a_genesis_a_node_loads(tmp_path: Path) -> None:
    out = tmp_path / "genesis.json"
    result = CliRunner().invoke(app, [*TINY, "--out", str(out)])
    assert result.exit_code == 0, result.output
    g = load_genesis(out)
    assert (g.name, g.chain_id) == ("tiny-calibrated", 4242)
    assert g.topology.hash == build_topology("regular3", 12).hash and (g.k, g.d_min) == (2, 2)
    d = g.difficulty
    assert d.hardest_bound <= d.initial_bound <= d.easiest_bound
    assert len(d.work) == d.easiest_bound - d.hardest_bound + 1
    assert all(a > b for a, b in zip(d.work, d.work[1:], strict=False))
    # the table shows every calibrated bound with its work
    for bound, work in zip(range(d.hardest_bound, d.easiest_bound + 1), d.work, strict=True):
        assert str(bound) in result.stdout and f"{work:,}" in result.stdout
    # --json prints the same (seeded) document, and only it
    again = CliRunner().invoke(app, [*TINY, "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == json.loads(out.read_text())


def test_out_refuses_an_existing_file_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "genesis.json"
    out.write_text("precious\n")
    result = CliRunner().invoke(app, [*TINY, "--out", str(out)])
    assert result.exit_code == 2
    assert "already exists" in result.stderr and "--force" in result.stderr
    assert out.read_text() == "precious\n"
    forced = CliRunner().invoke(app, [*TINY, "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert load_genesis(out).name == "tiny-calibrated"
    assert [p.name for p in tmp_path.iterdir()] == ["genesis.json"]  # no temporary left


def test_bad_parameters_are_named() -> None:
    bad_budgets = CliRunner().invoke(app, [*TINY, "--budgets", "8,1"])
    assert bad_budgets.exit_code == 2 and "budgets" in bad_budgets.stderr
    topo = build_topology("regular3", 12)
    with pytest.raises(ConfigError, match="reads = 1 cannot give k = 2"):
        calibrate_topology(topo, 2, 2, num_reads=1)
    with pytest.raises(ConfigError, match="d_min = 7"):
        calibrate_topology(topo, 2, 7)


def test_progress_is_reported_for_each_instance_and_budget() -> None:
    calls: list[tuple[int, int]] = []
    calibrate_topology(build_topology("regular3", 12), 2, 2, budgets=(1, 8), num_instances=3,
                       num_reads=16, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 6) for i in range(1, 7)]


def test_consensus_code_does_not_import_the_calibrator() -> None:
    """Running annealers is not consensus: only the CLI may import poqw.chain.calibrate."""
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.parent.name == "cli" or path.name == "calibrate.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if "poqw.chain.calibrate" in names:
                offenders.append(str(path.relative_to(SRC)))
    assert offenders == []
