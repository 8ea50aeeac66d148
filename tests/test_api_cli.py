"""``poqw node cpu`` with its JSON-RPC port already taken stops with one clear error naming the
address and the way out, before it tells anyone it runs (no traceback, no network.json)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from typer.testing import CliRunner

from poqw.cli.main import app
from poqw.node.testing import genesis_document

runner = CliRunner()


def test_a_taken_rpc_port_is_a_clear_error(tmp_path: Path) -> None:
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(genesis_document()))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["node", "cpu", "--no-mine", "--datadir",
                                     str(tmp_path / "d"), "--port", "0", "--genesis",
                                     str(genesis), "--rpc-port", str(port)])
    assert result.exit_code != 0
    assert f"cannot listen for JSON-RPC on 127.0.0.1:{port}" in result.output
    assert "--rpc-port 0 picks a free port" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "d" / "network.json").exists()  # never said it was running
