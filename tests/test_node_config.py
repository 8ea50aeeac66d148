"""Node config: the TOML layout, overrides from flags, precise errors, and secrets that never
show themselves."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from poqw.errors import ConfigError
from poqw.node import Secret, load_config

FULL = """
[global]
host = "127.0.0.1"
port = 9000
peer = ["10.0.0.1:9000", "10.0.0.2:9000"]
auto_mine = true
node_name = "alpha"
log_file = "alpha.log"
datadir = "/tmp/alpha"
genesis = "devnet"
key_passphrase = "hunter2-passphrase"

[cpu]
num_cpus = 2

[gpu]
devices = [0, 1]

[qpu]
api_token = "DEV-abcdef-token"
solver = "Advantage_system4.1"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(text)
    return path


def test_full_layout_is_read(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, FULL))
    g = cfg.global_
    assert (g.host, g.port, g.peer, g.auto_mine, g.node_name) == (
        "127.0.0.1", 9000, ("10.0.0.1:9000", "10.0.0.2:9000"), True, "alpha")
    assert cfg.log_path == Path("/tmp/alpha/alpha.log")
    assert (cfg.cpu.num_cpus, cfg.gpu.devices, cfg.qpu.solver) == (2, (0, 1),
                                                                   "Advantage_system4.1")
    assert g.key_passphrase is not None and g.key_passphrase.reveal() == "hunter2-passphrase"
    assert cfg.qpu.api_token is not None and cfg.qpu.api_token.reveal() == "DEV-abcdef-token"


def test_flags_override_the_file_and_none_means_unset(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, FULL), {"global.port": 0, "global.node_name": None,
                                              "cpu.num_cpus": 1})
    assert (cfg.global_.port, cfg.global_.node_name, cfg.cpu.num_cpus) == (0, "alpha", 1)
    assert load_config(None).global_.host == "127.0.0.1"


@pytest.mark.parametrize("text, words", [
    ("[global]\nprot = 1\n", ["unknown key 'prot'", "[global]", "node.toml"]),
    ("[gpus]\n", ["unknown section [gpus]", "node.toml"]),
    ("[global]\nport = \"80\"\n", ["[global] port", "integer", "node.toml"]),
    ("[global]\nport = 70000\n", ["[global] port", "65535"]),
    ("[global]\nauto_mine = 1\n", ["[global] auto_mine", "true or false"]),
    ("[global]\npeer = [1]\n", ["[global] peer", "str"]),
    ("[cpu]\nnum_cpus = 0\n", ["[cpu] num_cpus", "at least 1"]),
    ("[qpu]\napi_token = 5\n", ["[qpu] api_token", "string"]),
    ("[global\n", ["not valid TOML", "node.toml"]),
])
def test_bad_config_names_key_and_file(tmp_path: Path, text: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    for word in words:
        assert word in str(info.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.toml")


def test_secrets_never_show_themselves(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, FULL))
    secret = cfg.qpu.api_token
    assert repr(secret) == "'***'" and str(secret) == "'***'" and f"{secret}" == "***"
    for text in (repr(cfg), str(cfg), json.dumps(cfg.public_dict())):
        assert "DEV-abcdef-token" not in text and "hunter2-passphrase" not in text
    assert cfg.public_dict()["qpu"]["api_token"] == "***"
    with pytest.raises(TypeError):
        pickle.dumps(Secret("x"))


def test_public_names_resolve_and_config_stays_light() -> None:
    import subprocess
    import sys

    import poqw.node

    for name in poqw.node.__all__:
        assert getattr(poqw.node, name) is not None
    probe = ("import sys, poqw.node.config; "
             "print(any(m == 'eth' or m.startswith('eth.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"  # reading a config does not load the EVM
