"""The Foundry suite of contracts/ (unit, fuzz and invariant tests) passes.

forge comes from npm (`make install` runs `npm ci`) and compiles with solc-js through
contracts/solc-wrapper, offline. The suite is sized to finish in about a minute on two cores.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = ROOT / "contracts"
FORGE = ROOT / "node_modules" / ".bin" / "forge"

pytestmark = pytest.mark.slow


@pytest.mark.skipif(
    not FORGE.exists() or shutil.which("node") is None,
    reason="forge and node come from `npm ci` (make install)",
)
def test_forge_suite_passes() -> None:
    env = {**os.environ, "NO_COLOR": "1", "FOUNDRY_DISABLE_NIGHTLY_WARNING": "1"}
    result = subprocess.run(
        [str(FORGE), "test", "--offline"],
        cwd=CONTRACTS,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    totals = re.findall(r"(\d+) tests passed, (\d+) failed", output)
    assert totals, output[-3000:]
    passed, failed = (int(x) for x in totals[-1])
    assert failed == 0 and passed >= 40, output[-3000:]
    for kind in ("invariant_", "testFuzz_"):
        assert kind in output, f"no {kind} tests ran"
