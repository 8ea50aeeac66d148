"""What every command shares: the console, error reporting and problem loading."""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from poqw.errors import ConfigError, PoqwError
from poqw.problems import IsingModel, maxcut_to_ising, random_regular_graph, read_gset
from poqw.problems.io import read_ising_json

__all__ = ["LoadedProblem", "ProblemFileArgument", "RandomRegularOption", "connect_scheduler",
           "console", "dask_client", "ensure_folder", "err_console", "fail_cleanly",
           "load_problem", "print_error", "print_json", "with_flags"]

console = Console()
err_console = Console(stderr=True)


# The problem inputs of `poqw solve` and `poqw expect` (read by :func:`load_problem`).
ProblemFileArgument = Annotated[Path | None, typer.Argument(
    help="A Gset MaxCut file ('n m' then 'i j w', 1-based) or a poqw-ising JSON file.",
    exists=True, dir_okay=False)]
RandomRegularOption = Annotated[tuple[int, int] | None, typer.Option(
    "--random-regular", metavar="D N", help="MaxCut on a random D-regular graph.")]


@dataclass(frozen=True)
class LoadedProblem:
    """A model, where it came from, and whether its energy is minus a cut."""

    model: IsingModel
    source: str
    is_maxcut: bool


def load_problem(path: Path | None, random_regular: tuple[int, int] | None,
                 seed: int) -> LoadedProblem:
    """A Gset file, a poqw JSON file, or a random regular graph (exactly one of them)."""
    if (path is None) == (random_regular is None):
        raise typer.BadParameter("give exactly one of a problem file or --random-regular D N")
    if random_regular is not None:
        d, n = random_regular
        graph = random_regular_graph(d, n, seed=seed)
        return LoadedProblem(maxcut_to_ising(graph), f"random {d}-regular graph, n={n}, "
                             f"seed={seed}", is_maxcut=True)
    assert path is not None
    if path.suffix.lower() == ".json":
        return LoadedProblem(read_ising_json(path), str(path), is_maxcut=False)
    return LoadedProblem(read_gset(path), str(path), is_maxcut=True)


def ensure_folder(path: Path, option: str) -> Path:
    """``path`` as an existing folder (created if missing) for the flag ``option``, or a
    :class:`ConfigError` saying plainly why it cannot be one."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot create the folder ({exc.strerror})") \
            from None
    return path


def print_json(doc: Any) -> None:
    """Machine-readable output on stdout, nothing else."""
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()


@contextmanager
def dask_client(scheduler: str | None, workers: int | None) -> Iterator[Any]:
    """A ``distributed.Client`` for the user's scheduler or ``workers`` local worker processes on
    127.0.0.1 (closed, and the local cluster shut down, on exit); None when neither is asked."""
    if scheduler is not None and workers is not None:
        raise ConfigError("give --dask-scheduler (your cluster) or --dask-workers (a local one), "
                          "not both")
    if scheduler is None and workers is None:
        yield None
        return
    if scheduler is not None:
        client = connect_scheduler(scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    from poqw.compute.slicing import local_cluster

    if workers is not None and workers < 1:
        raise ConfigError(f"--dask-workers must be at least 1, got {workers}")
    with local_cluster(n_workers=workers or 1, threads_per_worker=1, processes=True) as client:
        yield client


DASK_CONNECT_TIMEOUT = 10.0


async def _scheduler_identity(address: str) -> Any:
    """What the server at ``address`` says it is, asked in Dask's own protocol."""
    from distributed.comm.core import connect

    comm = await connect(address)
    try:
        await comm.write({"op": "identity"})
        return await comm.read()
    finally:
        comm.abort()


def connect_scheduler(address: str, timeout: float = DASK_CONNECT_TIMEOUT) -> Any:
    """A ``distributed.Client`` for the scheduler at ``address``, or a :class:`ConfigError`
    within ``timeout`` seconds when nothing there answers as a Dask scheduler.

    The server is asked who it is first, under a deadline: ``Client`` alone waits forever on a
    server that accepts the connection and says nothing, and takes a garbage answer's first
    bytes for a frame length (a MemoryError).
    """
    import asyncio

    from distributed import Client

    if not address.strip():
        raise ConfigError("a Dask scheduler address must be non-empty, like tcp://host:8786")
    try:
        identity = asyncio.run(asyncio.wait_for(_scheduler_identity(address), timeout))
    except TimeoutError:
        raise ConfigError(f"no Dask scheduler at {address}: no answer within {timeout:g} s") \
            from None
    except Exception as exc:  # distributed fails in its own way for each wrong answer
        detail = ("what answered does not speak Dask's protocol" if isinstance(exc, MemoryError)
                  else f"{type(exc).__name__}: {exc}")
        raise ConfigError(f"no Dask scheduler at {address}: {detail}") from None
    kind = identity.get("type") if isinstance(identity, dict) else None
    if kind != "Scheduler":
        raise ConfigError(f"no Dask scheduler at {address}: it answered as "
                          f"{kind or 'something that is not Dask'}")
    try:
        return Client(address, timeout=timeout)
    except Exception as exc:
        raise ConfigError(f"cannot connect to the Dask scheduler at {address}: "
                          f"{type(exc).__name__}: {exc}") from None


def print_error(message: str) -> None:
    """The one ``error:`` line a failed command prints (on stderr)."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


@contextmanager
def fail_cleanly() -> Iterator[None]:
    """Turn poqw's expected errors, and the operating system's refusals (a path that is not
    what it should be, a full disk), into one red line and exit status 2; Ctrl-C into one line
    and status 130."""
    try:
        yield
    except PoqwError as exc:
        print_error(str(exc))
        raise typer.Exit(2) from None
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        print_error(f"{exc.strerror or exc}{where}")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        err_console.print("interrupted", highlight=False)
        raise typer.Exit(130) from None


def with_flags(fn: Callable[..., None], flags: Sequence[inspect.Parameter],
               make: Callable[[dict[str, Any]], Any]) -> Callable[..., None]:
    """``fn(shared, **own)`` as a command taking its own flags and then ``flags``, a group that
    several commands share (Typer reads the signature given here): it is called with
    ``make({flag: value})`` as ``shared``."""
    own = list(inspect.signature(fn, eval_str=True).parameters.values())[1:]

    def run(**values: Any) -> None:
        fn(make({p.name: values.pop(p.name) for p in flags}), **values)

    run.__name__, run.__doc__ = fn.__name__, fn.__doc__
    run.__signature__ = inspect.Signature([*own, *flags])  # type: ignore[attr-defined]
    return run


def command(fn: Callable[..., None]) -> Callable[..., None]:
    """Decorator: run a command body inside :func:`fail_cleanly`."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        with fail_cleanly():
            fn(*args, **kwargs)

    return wrapper
