"""``poqw demo``'s compute-network act: three solver processes, the cheater caught and banned,
a per-solver throughput table, the single-process answer reproduced; and Ctrl-C stops every
solver process the act started."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from poqw.cli.main import app

_MAIN = "from poqw.cli.main import main; main()"

def sigint_default() -> None:
    """In the child: Ctrl-C's default action, which Python turns into KeyboardInterrupt. A shell
    that starts the test run in the background leaves SIGINT ignored, and children inherit it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

ONLY_THE_ACT = ["demo", "--nodes", "10", "--strikes", "6", "--blocks", "0", "--no-market"]


def test_the_act_catches_the_cheater_and_shows_each_solvers_throughput() -> None:
    result = CliRunner().invoke(app, ONLY_THE_ACT)
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "3 solver processes, one faking 20% of its strikes" in flat
    assert "note: cheater caught faking a strike in rounds" in flat
    assert "cheater exited (2): error: this solver was banned" in flat
    assert flat.count("exited (0): coordinator closed: the solve is finished") == 2
    rows = {m.group(1): m.groups()[1:] for m in re.finditer(
        r"│ (honest-1|honest-2|cheater|1 process)\s*│\s*(\d+) │\s*([\d,.]+) │\s*([\d,.]+) │"
        r"\s*([\d-]+) │\s*([\d,-]+) │\s*(\w+)", result.output)}
    assert set(rows) == {"honest-1", "honest-2", "cheater", "1 process"}, result.output
    for name in ("honest-1", "honest-2"):
        jobs, strikes_s, samples_s, verified, paid, status = rows[name]
        assert status == "honest" and int(jobs) >= int(verified) > 0
        assert float(strikes_s.replace(",", "")) > 0 and int(paid.replace(",", "")) > 0
        # 64 samples a job (256 shots a strike, 4 jobs)
        assert float(samples_s.replace(",", "")) > 32 * float(strikes_s.replace(",", ""))
    assert rows["cheater"][3:] == ("0", "0", "banned")  # nothing verified, nothing paid
    assert "the same cut and assignment: the cheater changed nothing" in flat


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_ctrl_c_stops_every_solver_process(tmp_path: Path) -> None:
    out_path = tmp_path / "out"
    with open(out_path, "w") as out, open(tmp_path / "err", "w") as err:
        demo = subprocess.Popen([sys.executable, "-c", _MAIN, *ONLY_THE_ACT], stdout=out,
                                stderr=err, stdin=subprocess.DEVNULL,
                                preexec_fn=sigint_default)
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 180
        while len(pids) < 3:
            assert demo.poll() is None, (tmp_path / "err").read_text()[-2000:]
            assert time.monotonic() < deadline, "the act started no solver processes"
            time.sleep(0.1)
            text = out_path.read_text()
            if "solver processes:" in text:
                pids = [int(p) for p in re.findall(r"\(pid\s+(\d+)\)", text)]
        assert all(_alive(pid) for pid in pids)
        demo.send_signal(signal.SIGINT)
        assert demo.wait(60) == 130
        assert (tmp_path / "err").read_text().strip().splitlines()[-1] == "interrupted"
        # stopped and reaped before the demo exits (left alone, a solver still starting would
        # live on for its 10 s connect timeout)
        assert not [pid for pid in pids if _alive(pid)], "solver processes left running"
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        for pid in pids:  # what the demo failed to stop: the processes this test caused
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
