"""Ctrl-C stops a long simulated-annealing run at once, with one line and status 130, instead of
waiting minutes for dwave-samplers' native loop to finish; an interrupted run leaves the sampler
usable and its results unchanged (same seed, same samples).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from poqw.problems import random_maxcut
from poqw.samplers import get_sampler, sampleset_spins

_MAIN = "from poqw.cli.main import main; main()"

def sigint_default() -> None:
    """In the child: Ctrl-C's default action, which Python turns into KeyboardInterrupt. A shell
    that starts the test run in the background leaves SIGINT ignored, and children inherit it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)



def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_ctrl_c_stops_a_long_annealing_run(tmp_path: Path) -> None:
    # minutes of annealing: 4000 reads x 1000 sweeps on 20,000 spins, on two threads
    cmd = [sys.executable, "-c", _MAIN, "solve", "--random-regular", "3", "20000",
           "--sampler", "simulated-annealing", "--num-reads", "4000", "--json"]
    with open(tmp_path / "out", "w+") as out, open(tmp_path / "err", "w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                preexec_fn=sigint_default)
        try:
            # imports and building the graph cost under 2 CPU seconds; past 4 it is annealing
            while cpu_seconds(proc.pid) < 4:
                assert proc.poll() is None, "finished before it could be interrupted"
                time.sleep(0.2)
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)  # it would anneal for minutes if not interrupted
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stdout + stderr
    assert stderr.strip().splitlines() == ["interrupted"]


def test_worker_threads_keep_the_meaning_of_the_seed() -> None:
    # the reads run in abandonable worker threads now; the samples are still exactly those of
    # dwave-samplers run with the chunk seeds derived from ``seed``
    from dwave.samplers import SimulatedAnnealingSampler

    model = random_maxcut(3, 24, seed=5)
    sampler = get_sampler("simulated-annealing", num_threads=1)
    ours = sampleset_spins(sampler.sample(model, num_reads=7, num_sweeps=50, seed=11), 24)
    chunk_seed = int(np.random.default_rng(11).integers(0, 2**31 - 1, size=1)[0])
    theirs = SimulatedAnnealingSampler().sample(model.to_bqm(), num_reads=7, num_sweeps=50,
                                                seed=chunk_seed)
    np.testing.assert_array_equal(ours, sampleset_spins(theirs, 24))
