"""What operators expect of the ``poqw`` command itself: ``--version`` says the installed
package's version (its metadata, not a second copy in the code), and shell completion works:
the completion script can be shown and installed, and it completes commands and options.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from typer.testing import CliRunner

from poqw.cli.main import app

_MAIN = "from poqw.cli.main import main; main()"


def test_version_is_the_package_metadata() -> None:
    result = CliRunner().invoke(app, ["--version"], prog_name="poqw")
    assert result.exit_code == 0
    assert result.output == f"poqw {metadata.version('poqw')}\n"


@pytest.mark.parametrize(("words", "cword", "expected"), [
    ("poqw no", 1, {"node"}),
    ("poqw node c", 2, {"cpu", "capability"}),
    ("poqw node g", 2, {"gpu"}),
    ("poqw node cpu --log-f", 3, {"--log-file", "--log-format"}),
    ("poqw solve --log-", 2, {"--log-level", "--log-format"}),
])
def test_completion_completes_commands_and_options(words: str, cword: int,
                                                    expected: set[str]) -> None:
    result = CliRunner().invoke(app, [], prog_name="poqw", env={
        "_POQW_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)})
    assert result.exit_code == 0
    assert set(result.output.split()) == expected


@pytest.mark.parametrize(("shell", "marker", "where"), [
    ("bash", "complete -o default -F _poqw_completion poqw", ".bash_completions/poqw.sh"),
    ("zsh", "compdef _poqw_completion poqw", ".zfunc/_poqw"),
    ("fish", "complete --command poqw", ".config/fish/completions/poqw.fish"),
])
def test_completion_script_is_shown_and_installed(tmp_path: Path, shell: str, marker: str,
                                                  where: str) -> None:
    # Typer detects the running shell; naming it explicitly is how its own tests do it
    env = {**os.environ, "HOME": str(tmp_path), "SHELL": f"/bin/{shell}",
           "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    shown = subprocess.run([sys.executable, "-c", _MAIN, "--show-completion", shell], env=env,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert marker in shown.stdout
    installed = subprocess.run([sys.executable, "-c", _MAIN, "--install-completion", shell],
                               env=env, capture_output=True, text=True, timeout=60)
    assert installed.returncode == 0, installed.stderr
    assert marker in (tmp_path / where).read_text()


@pytest.mark.parametrize("path", [("node", "cpu"), ("devnet",), ("simulate",), ("solve",),
                                  ("netsim",), ("bench",)])
def test_every_long_running_command_takes_the_log_options(path: tuple[str, ...]) -> None:
    import typer.main

    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    flags = {opt for param in command.params for opt in param.opts}
    assert {"--log-level", "--log-format"} <= flags
