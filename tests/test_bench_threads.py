"""The benchmark scripts pin one thread count for every engine and print it with their results.

Each check runs a real subprocess, as a user runs ``python bench/<script>.py``: thread pools are
sized when a library loads, so only a fresh interpreter shows what the scripts really get.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
SCRIPTS = sorted(path.name for path in BENCH.glob("bench_*.py"))
VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")

_PROBE = """
import json, os, sys
sys.path.insert(0, {bench!r})
import _common
import numpy, numba
from threadpoolctl import threadpool_info
_common.limit_threads()
print(json.dumps({{"env": {{v: os.environ[v] for v in {variables!r}}},
                  "numba_max": numba.config.NUMBA_NUM_THREADS,
                  "numba": numba.get_num_threads(),
                  "pools": [[lib["internal_api"], lib["num_threads"]]
                            for lib in threadpool_info()]}}))
"""


def run(args: list[str], env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=full_env,
                          cwd=ROOT, timeout=timeout)


def probe(*argv: str) -> dict[str, object]:
    code = _PROBE.format(bench=str(BENCH), variables=VARIABLES)
    # a user's own settings must not leak into one engine and not the others
    done = run(["-c", code, *argv], env={v: "7" for v in VARIABLES})
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_helper_pins_every_thread_pool_to_one_by_default() -> None:
    result = probe()
    assert result["env"] == dict.fromkeys(VARIABLES, "1")
    assert result["numba_max"] == 1 and result["numba"] == 1
    pools = result["pools"]
    assert isinstance(pools, list) and pools, "threadpoolctl found no BLAS/OpenMP library"
    assert all(threads == 1 for _, threads in pools), pools


def test_helper_takes_the_thread_count_from_the_command_line() -> None:
    result = probe("--threads=3")
    assert result["env"] == dict.fromkeys(VARIABLES, "3")
    assert result["numba_max"] == 3


def test_helper_refuses_to_load_after_numpy() -> None:
    code = f"import sys, numpy; sys.path.insert(0, {str(BENCH)!r}); import _common"
    done = run(["-c", code])
    assert done.returncode != 0
    assert "must be imported before numpy" in done.stderr


def test_a_bad_thread_count_is_refused_with_a_clear_message() -> None:
    done = run([str(BENCH / "bench_p2p.py"), "--threads", "0"])
    assert done.returncode != 0
    assert "--threads must be a positive integer, got '0'" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_offers_threads_and_quick(script: str) -> None:
    done = run([str(BENCH / script), "--help"])
    assert done.returncode == 0, done.stderr
    assert "--threads" in done.stdout and "--quick" in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("script", ["bench_p2p.py", "bench_netsim.py"])
def test_quick_run_prints_machine_threads_and_load(script: str) -> None:
    done = run([str(BENCH / script), "--quick"])
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "threads=1 for every engine" in out
    assert "OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1" in out and "NUMBA_NUM_THREADS=1" in out
    assert "load (1 min) before the script started:" in out and ", after " in out
    assert f"python {sys.version_info.major}.{sys.version_info.minor}" in out
    assert "WARNING: not at 1 thread" not in out
