"""User mistakes get one ``error:`` line and a non-zero exit, never a Python traceback: paths that
are files where a folder is expected, a key in a missing folder, absurd graph sizes (refused
before anything is allocated), and a Dask address where something else answers.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from poqw.errors import ProblemTooLarge
from poqw.problems import random_regular_graph
from poqw.problems.generators import erdos_renyi_graph, sherrington_kirkpatrick

_MAIN = "from poqw.cli.main import main; main()"


def poqw(*args: str, env: dict[str, str] | None = None,
         timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _MAIN, *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL,
                          env=None if env is None else {**os.environ, **env})


def assert_one_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode != 0, output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    for word in words:
        assert word in errors[0], errors[0]


@pytest.fixture()
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("a file, not a folder\n")
    return path


@pytest.mark.parametrize("args", [
    ("devnet", "--run-dir", "{file}", "--blocks", "1", "--json"),
    ("bench", "--quick", "--out", "{file}"),
    ("bench", "--quick", "--out", "{file}/below"),
    ("netsim", "--blocks", "2", "--out", "{file}"),
])
def test_a_file_where_a_folder_is_expected(a_file: Path, args: tuple[str, ...]) -> None:
    result = poqw(*(arg.replace("{file}", str(a_file)) for arg in args))
    assert_one_error(result, str(a_file))


def test_a_key_in_a_missing_folder(tmp_path: Path) -> None:
    key = tmp_path / "no-such-folder" / "miner.key"
    result = poqw("keys", "new", str(key), env={"POQW_PASSPHRASE": "a long passphrase"})
    assert_one_error(result, "no-such-folder", "does not exist")
    assert not key.parent.exists()


def test_an_absurd_graph_size_is_refused_before_allocating() -> None:
    result = poqw("solve", "--random-regular", "3", "100000000000", "--sampler", "random")
    assert_one_error(result, "too large")
    with pytest.raises(ProblemTooLarge):
        random_regular_graph(4, 10**8)
    with pytest.raises(ProblemTooLarge):
        erdos_renyi_graph(10**7, 0.5)
    with pytest.raises(ProblemTooLarge):
        sherrington_kirkpatrick(10**5)


@pytest.fixture()
def not_dask() -> Iterator[str]:
    """A TCP server on 127.0.0.1 that answers every connection with text that is not Dask's."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)  # so that the thread sees ``stop``
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nhello, I am not a Dask scheduler\n" * 4)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(5)
    server.close()


def test_a_dask_address_that_is_not_dask(not_dask: str) -> None:
    # the connect timeout is short (not Dask's 30 s); the garbage frame length that made
    # distributed try to allocate exabytes is reported as what it is
    result = poqw("solve", "--random-regular", "3", "40", "--backend", "lightcone", "--p", "3",
                  "--strikes", "2", "--dask-scheduler", not_dask, timeout=60)
    assert_one_error(result, not_dask, "Dask")


def test_a_silent_server_is_not_waited_for_forever() -> None:
    # accepts the connection and never answers: distributed's Client alone would wait forever
    from poqw.cli.common import connect_scheduler
    from poqw.errors import ConfigError

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        with pytest.raises(ConfigError, match="no answer within 1 s"):
            connect_scheduler(address, timeout=1.0)


def test_a_real_scheduler_is_accepted() -> None:
    from distributed import LocalCluster

    from poqw.cli.common import connect_scheduler

    with LocalCluster(n_workers=1, processes=False, host="127.0.0.1", protocol="tcp",
                      dashboard_address=None) as cluster:
        client = connect_scheduler(cluster.scheduler_address)
        try:
            assert client.submit(sum, [40, 2]).result(timeout=30) == 42
        finally:
            client.close()
