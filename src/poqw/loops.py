"""Which asyncio event loop a long-running command runs on: uvloop where installed, else asyncio's.

uvloop (libuv under the asyncio API) cuts the loop's own CPU per request and per datagram, which
is most of a JSON-RPC request's cost once the handler is fast. ``POQW_EVENT_LOOP`` chooses:
``auto`` (the default: uvloop if importable), ``uvloop`` (required: an error if missing) or
``asyncio`` (the standard library's loop, e.g. to rule the loop out when chasing a bug).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from poqw.errors import ConfigError

__all__ = ["EVENT_LOOP_ENV", "LOOP_CHOICES", "choose_loop", "loop_factory", "run"]

EVENT_LOOP_ENV = "POQW_EVENT_LOOP"
LOOP_CHOICES = ("auto", "uvloop", "asyncio")

log = logging.getLogger("poqw.loops")

T = TypeVar("T")


def _uvloop_version() -> str | None:
    """uvloop's version when it can be imported (it is not built for Windows), else None."""
    try:
        module = importlib.import_module("uvloop")
    except ImportError:
        return None
    return str(getattr(module, "__version__", "?"))


def choose_loop(choice: str | None = None) -> str:
    """``uvloop`` or ``asyncio``: what ``choice`` (default: the environment variable, else
    ``auto``) resolves to on this machine; a ConfigError names a bad value or a missing uvloop."""
    if choice is None:
        choice = os.environ.get(EVENT_LOOP_ENV, "") or "auto"
    wanted = choice.strip().lower()
    if wanted not in LOOP_CHOICES:
        raise ConfigError(f"{EVENT_LOOP_ENV}={choice!r} is not an event loop: use one of "
                          f"{', '.join(LOOP_CHOICES)}")
    if wanted == "asyncio":
        return "asyncio"
    if _uvloop_version() is not None:
        return "uvloop"
    if wanted == "uvloop":
        raise ConfigError(f"{EVENT_LOOP_ENV}=uvloop but uvloop is not installed "
                          "(pip install uvloop; it does not exist for Windows)")
    return "asyncio"


def _stdlib_loop() -> asyncio.AbstractEventLoop:
    # the platform's own loop even where a program installed uvloop's policy globally
    return asyncio.DefaultEventLoopPolicy().new_event_loop()


def loop_factory(choice: str | None = None) -> Callable[[], asyncio.AbstractEventLoop]:
    """A function making a new loop of the chosen kind (see :func:`choose_loop`)."""
    if choose_loop(choice) == "uvloop":
        module = importlib.import_module("uvloop")
        factory: Callable[[], asyncio.AbstractEventLoop] = module.new_event_loop
        return factory
    return _stdlib_loop


def run(main: Coroutine[Any, Any, T], choice: str | None = None) -> T:
    """:func:`asyncio.run` on the chosen loop (logged once, with uvloop's version)."""
    try:
        kind = choose_loop(choice)
    except ConfigError:
        main.close()  # never started: no "coroutine was never awaited" warning
        raise
    log.info("event loop: %s", f"uvloop {_uvloop_version()}" if kind == "uvloop" else "asyncio")
    with asyncio.Runner(loop_factory=loop_factory(kind)) as runner:
        return runner.run(main)
