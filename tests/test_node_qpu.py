"""The QPU miner with dwave-system's MockDWaveSampler (the library's own fake QPU): the embedding
is computed once and cached (a damaged cache is recomputed), chain strength and chain breaks are
reported, a mined block validates, and the API token never reaches a log, a file or a block.

What no test here can cover: a real QPU (its noise, timing, auto-scaling and solver selection);
``DWaveSampler`` itself is only reached through the same composite the mock runs under.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from poqw.chain import verify_proof
from poqw.chain.instance import derive_instance, derive_seed, instance_energies
from poqw.cli.main import app
from poqw.errors import BackendUnavailable, ConfigError
from poqw.node import Miner, load_config
from poqw.node.qpu import find_token, qpu_solver, read_token_file
from poqw.node.testing import (
    funded_genesis,
    genesis_document,
    make_chain,
    mldsa_signer,
    salt_stream,
)

GENESIS = funded_genesis({})
T0 = GENESIS.timestamp + 10**6
TOKEN = "DEV-0123456789abcdef-secret-token"


def test_token_file_is_read_like_a_dotenv_file(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(f"# D-Wave\nOTHER=1\nexport DWAVE_API_TOKEN=\"{TOKEN}\"\n")
    assert read_token_file(env).reveal() == TOKEN  # type: ignore[union-attr]
    (tmp_path / "none.env").write_text("OTHER=2\n")
    assert read_token_file(tmp_path / "none.env") is None
    bad = tmp_path / "bad.env"
    bad.write_text(f"{TOKEN}\n")
    with pytest.raises(ConfigError, match="line 1: expected KEY=VALUE") as caught:
        read_token_file(bad)
    assert TOKEN not in str(caught.value)


def test_token_sources_in_order(tmp_path: Path) -> None:
    (tmp_path / "t.env").write_text(f"DWAVE_API_TOKEN={TOKEN}-file\n")
    cfg = load_config(None, {"global.datadir": str(tmp_path), "qpu.token_file": "t.env",
                             "qpu.api_token": TOKEN + "-config"})
    token, source = find_token(cfg.qpu, {"DWAVE_API_TOKEN": TOKEN + "-env"}, tmp_path)
    assert (token.reveal(), source) == (TOKEN + "-env",  # type: ignore[union-attr]
                                        "the environment variable DWAVE_API_TOKEN")
    token, source = find_token(cfg.qpu, {}, tmp_path)
    assert token.reveal() == TOKEN + "-file" and "t.env" in source  # type: ignore[union-attr]
    assert TOKEN not in f"{token} {token!r} {cfg.qpu!r} {cfg.public_dict()}"
    bare = load_config(None, {"global.datadir": str(tmp_path)})
    assert find_token(bare.qpu, {}, tmp_path) == (None, "")
    with pytest.raises(BackendUnavailable, match="no D-Wave API token"):
        qpu_solver(bare, GENESIS.topology, environ={})


def test_mock_qpu_embeds_once_reports_and_mines_a_valid_block(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = load_config(None, {"global.datadir": str(tmp_path / "data"), "qpu.solver": "mock",
                             "qpu.num_reads": 50})
    caplog.set_level(logging.DEBUG)
    solver = qpu_solver(cfg, GENESIS.topology, environ={"DWAVE_API_TOKEN": TOKEN})
    cached = list((tmp_path / "data" / "qpu").glob("embedding-*.json"))
    assert len(cached) == 1 and "computed" in caplog.text
    assert "MockDWaveSampler" in solver.label and "not a QPU" in solver.label
    assert TOKEN not in cached[0].read_text()
    caplog.clear()
    again = qpu_solver(cfg, GENESIS.topology, environ={"DWAVE_API_TOKEN": TOKEN})
    assert "embedding of the genesis graph cached" in caplog.text
    assert again.embedding == solver.embedding
    cached[0].write_text('{"format": "poqw-embedding/v1", "chains": {"0": [0]}}')
    caplog.clear()
    repaired = qpu_solver(cfg, GENESIS.topology, environ={"DWAVE_API_TOKEN": TOKEN})
    assert "ignoring the cached embedding" in caplog.text and "computed" in caplog.text
    assert set(repaired.embedding) == set(range(GENESIS.topology.num_nodes))

    chain, pool = make_chain(tmp_path / "chain", GENESIS)
    miner = Miner(chain, pool, mldsa_signer("qpu"), solver, clock=lambda: T0,
                  salt_source=salt_stream("qpu"))
    block = miner.mine_block()
    assert block is not None and chain.tip().block_hash == block.hash()
    instance = derive_instance(GENESIS.topology, derive_seed(block.header.parent_hash,
                                                             block.header.miner, block.header.salt))
    verify_proof(instance, block.proof, GENESIS.k, GENESIS.d_min, int(block.header.energy_bound),
                 int(block.header.ticket_target))
    assert TOKEN.encode() not in block.encode()
    report = solver.report
    assert report.puzzles >= 1 and report.last_chain_strength > 1.0
    assert 0.0 <= report.mean_chain_break_fraction <= 1.0
    assert "chain strength" in caplog.text and "chain-break fraction" in caplog.text
    spins = solver(instance, 0)
    assert spins.shape == (50, GENESIS.topology.num_nodes)
    assert instance_energies(instance, spins).min() < 0
    # Ocean's client logs at debug level; a record carrying the token comes out masked
    logging.getLogger("dwave.cloud.client").debug("request with token %s", TOKEN)
    assert TOKEN not in caplog.text and "request with token ***" in caplog.text


@pytest.mark.slow
def test_node_qpu_command_mines_on_the_mock_and_never_writes_the_token(tmp_path: Path) -> None:
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(genesis_document()))
    datadir = tmp_path / "node"
    config = tmp_path / "node.toml"
    config.write_text("[global]\nkey_height = 5\n")  # a small one-time key: quick to make
    env = {**os.environ, "DWAVE_API_TOKEN": TOKEN}
    done = subprocess.run(
        [sys.executable, "-c", "from poqw.cli.main import main; main()", "node", "qpu",
         "--datadir", str(datadir), "--config", str(config), "--genesis", str(genesis),
         "--solver", "mock",
         "--auto-mine", "--blocks", "1", "--port", "0"],
        env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "MockDWaveSampler" in done.stderr and "no QPU is used" in done.stderr
    assert "stopped: mined 1 blocks" in done.stdout
    assert TOKEN not in done.stdout + done.stderr
    assert any(datadir.joinpath("qpu").glob("embedding-*.json"))
    log = (datadir / "node.log").read_text()
    assert "miner: mining on MockDWaveSampler" in log and "chain strength" in log
    for path in datadir.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    # without a token or the mock, the node says it falls back, or fails with --require-qpu
    refused = CliRunner().invoke(app, [
        "node", "qpu", "--datadir", str(tmp_path / "other"), "--genesis", str(genesis),
        "--auto-mine", "--blocks", "1", "--port", "0", "--require-qpu"],
        env={"DWAVE_API_TOKEN": None})
    assert refused.exit_code != 0
    assert "no D-Wave API token" in refused.output and "--require-qpu" in refused.output


def test_a_zephyr_genesis_embeds_natively_on_a_zephyr_qpu(tmp_path: Path) -> None:
    """minorminer finds no embedding of the dense zephyr-testnet graph into a QPU of the same
    size; as a sublattice of the QPU's own family it maps one node to one qubit."""
    from importlib import resources

    from poqw.chain import load_genesis

    genesis = load_genesis((resources.files("poqw") / "data" / "genesis" /
                            "zephyr-testnet.json").read_bytes())
    cfg = load_config(None, {"global.datadir": str(tmp_path), "qpu.solver": "mock"})
    solver = qpu_solver(cfg, genesis.topology, environ={})
    assert solver.max_chain_length == 1
    assert len({q for chain in solver.embedding.values() for q in chain}) == 160
    instance = derive_instance(genesis.topology, bytes(32))
    spins = solver(instance, 0)
    assert solver.report.mean_chain_break_fraction == 0.0
    assert instance_energies(instance, spins).min() < -400  # steepest descent on the mock
