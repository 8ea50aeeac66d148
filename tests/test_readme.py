"""Every Python example in the README runs, and the commands it names exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from poqw.cli.main import app

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_has_python_examples() -> None:
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_example_runs(index: int) -> None:
    exec(compile(BLOCKS[index], f"README.md example {index}", "exec"), {})


def test_readme_commands_exist() -> None:
    shell = "".join(re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S))
    commands = set(re.findall(r"^poqw (\w+)", shell, re.M))
    assert {"solve", "bench", "node", "chain", "keys", "netsim"} <= commands
    runner = CliRunner()
    for name in commands:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
