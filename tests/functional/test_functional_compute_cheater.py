"""A coordinator and three solver processes over QUIC: two honest, one faking 20% of its strikes.

The cheater's faked jobs are the draws of its seeded generator below 0.2, so the first faked job
is known in advance. Each solver runs at least one job a round (4 jobs, 3 solvers, round robin)
and every leaf of an epoch is checked (checks >= leaves), so a faked leaf is caught at the end
of the epoch it is in: the prediction is the last round of the epoch holding job number
``first_fake``. The cheater is banned (its connection closed saying so), its epoch re-run by the
honest solvers, and the answer equals the honest single-process one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from compute_framework import SETTINGS, Cluster, honest_answer
from framework import log, wait_until

CHEAT_FRACTION = 0.2
CHEAT_SEED = 0


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    made = Cluster(tmp_path)
    yield made
    made.stop_all()


def predicted_last_round() -> int:
    draws = np.random.default_rng(CHEAT_SEED).random(64)
    first_fake = int(np.argmax(draws < CHEAT_FRACTION))  # the job number it first fakes
    every = SETTINGS["verify_every"]
    return (first_fake // every + 1) * every - 1


def test_cheater_is_caught_banned_and_the_answer_is_the_honest_one(cluster: Cluster) -> None:
    expected = honest_answer()
    bound = predicted_last_round()
    log(f"honest answer {expected['energy']}; cheater predicted caught by round {bound}")
    cluster.start_coordinator(solvers=3)
    cluster.start_solver("honest1")
    cluster.start_solver("honest2")
    cluster.start_solver("cheater", "--cheat-fraction", str(CHEAT_FRACTION),
                         "--cheat-seed", str(CHEAT_SEED))
    doc = cluster.answer()
    cheater = cluster.node_id("cheater")
    log(f"banned {doc['banned']}, notes {doc['notes']}")
    assert doc["banned"] == [cheater]
    assert doc["fraud_evidence"] >= 1
    caught = [re.search(r"caught faking a strike in rounds (\d+)\.\.(\d+)", n)
              for n in doc["notes"] if n.startswith(cheater)]
    assert caught and caught[0] is not None and int(caught[0].group(2)) <= bound
    assert doc["energy"] == expected["energy"]
    assert doc["solution"] == expected["solution"]
    assert doc["strikes"] == SETTINGS["rounds"]
    # Its jobs went to the honest solvers: they ran every round after the ban.
    honest = {cluster.node_id("honest1"), cluster.node_id("honest2")}
    assert sum(doc["solvers"][s] for s in honest) >= 4 * SETTINGS["rounds"] - 2 * (bound + 1)
    assert all(doc["payments"].get(s, 0) > 0 for s in honest)
    wait_until(lambda: cluster.processes["cheater"].poll() is not None, 30, "the cheater to exit")
    assert cluster.processes["cheater"].returncode != 0
    assert "banned" in cluster.text("cheater")
    for name in ("honest1", "honest2"):
        process = cluster.processes[name]
        process.wait(30)
        assert cluster.processes[name].returncode == 0, cluster.text(name)
        assert "the solve is finished" in cluster.text(name)
