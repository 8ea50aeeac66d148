"""The ``--log-level`` and ``--log-format`` options every long-running command takes.

They also come from the environment (``POQW_LOG_LEVEL``, ``POQW_LOG_FORMAT``), so a service
manager or a container can set them once; :mod:`poqw.logconfig` does the rest.
"""

from __future__ import annotations

from enum import Enum, StrEnum
from typing import Annotated

import typer

from poqw.logconfig import configure_cli

__all__ = ["LogFormat", "LogFormatOption", "LogLevel", "LogLevelOption", "log_args",
           "setup_cli_logging"]


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"
    critical = "critical"


class LogFormat(StrEnum):
    text = "text"
    json = "json"


LogLevelOption = Annotated[LogLevel | None, typer.Option(
    "--log-level", envvar="POQW_LOG_LEVEL", case_sensitive=False,
    help="Least severe log records written (node default info, else warning).")]
LogFormatOption = Annotated[LogFormat | None, typer.Option(
    "--log-format", envvar="POQW_LOG_FORMAT", case_sensitive=False,
    help="text (one line per record) or json (one JSON object per line).")]


def _value(option: Enum | None) -> str | None:
    return None if option is None else str(option.value)


def setup_cli_logging(level: LogLevel | None, fmt: LogFormat | None) -> None:
    """Send this command's log records to stderr as asked."""
    configure_cli(_value(level), _value(fmt))


def log_args(level: LogLevel | None, fmt: LogFormat | None) -> tuple[str, ...]:
    """The same options for a child ``poqw`` process (devnet's nodes)."""
    args: list[str] = []
    if level is not None:
        args += ["--log-level", level.value]
    if fmt is not None:
        args += ["--log-format", fmt.value]
    return tuple(args)
