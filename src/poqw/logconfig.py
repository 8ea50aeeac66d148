"""Logging for every long-running poqw command: one setup, two formats, secrets masked.

``text`` is one readable line per record (time, level, logger, message, then the record's extra
fields as ``key=value``); ``json`` is one JSON object per line with ``time`` (UTC, ISO 8601),
``level``, ``logger``, ``message``, the extra fields and, for a failure, ``exception``, for log
collectors such as journald, Loki or Elasticsearch. Every handler made here masks the secrets
registered with :func:`register_secret` (key passphrases, API tokens) wherever they appear, so a
secret that slips into a message, an argument or a traceback is still never written.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from poqw.errors import ConfigError

__all__ = ["DEFAULT_CLI_LEVEL", "FORMATS", "LEVELS", "MASK", "ROOT_LOGGER", "JsonFormatter",
           "TextFormatter", "attach", "configure_cli", "detach", "forget_secrets", "make_handler",
           "mask_secrets", "parse_level", "register_secret"]

LEVELS = ("debug", "info", "warning", "error", "critical")
FORMATS = ("text", "json")
MASK = "***"
DEFAULT_CLI_LEVEL = "warning"
"""Commands other than the node only log what needs attention unless asked for more."""

ROOT_LOGGER = "poqw"

# every attribute a plain LogRecord has; anything else on a record came from ``extra=``
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName"}

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str) -> None:
    """From now on, write ``***`` wherever ``value`` would appear in a log record."""
    if value:
        with _secrets_lock:
            _secrets.add(value)


def forget_secrets() -> None:
    """Drop every registered secret (for tests)."""
    with _secrets_lock:
        _secrets.clear()


def mask_secrets(text: str) -> str:
    """``text`` with each registered secret replaced by ``***`` (longest first, so a secret
    that contains another is masked whole)."""
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def parse_level(name: str) -> int:
    """The logging level called ``name`` (debug, info, warning, error, critical)."""
    if name.lower() not in LEVELS:
        raise ConfigError(f"unknown log level {name!r}; known: {', '.join(LEVELS)}")
    return int(logging.getLevelName(name.upper()))


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def _json_value(value: Any) -> Any:
    """``value`` as JSON can hold it, secrets masked (a Secret's ``str`` is already ``***``)."""
    if isinstance(value, str):
        return mask_secrets(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, dict):
        return {mask_secrets(str(k)): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_value(v) for v in value]
    return mask_secrets(str(value))


class TextFormatter(logging.Formatter):
    """``2026-12-06 05:00:00,123 INFO poqw.node message key=value ...``, secrets masked."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = _extras(record)
        if extras:
            line += "".join(f" {k}={_json_value(v)}" for k, v in extras.items())
        return mask_secrets(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: time, level, logger, message, extra fields,
    and ``exception`` (the traceback) when there is one; secrets masked in every string."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": mask_secrets(record.getMessage()),
        }
        for key, value in _extras(record).items():
            doc.setdefault(key, _json_value(value))
        if record.exc_info:
            doc["exception"] = mask_secrets(self.formatException(record.exc_info))
        elif record.exc_text:
            doc["exception"] = mask_secrets(record.exc_text)
        if record.stack_info:
            doc["stack"] = mask_secrets(record.stack_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


def make_handler(level: str = "info", fmt: str = "text", *, file: Path | None = None,
                 stream: TextIO | None = None) -> logging.Handler:
    """A handler writing ``fmt`` records of ``level`` and above to ``file`` (appended) or
    ``stream`` (default stderr). :func:`attach` it; :func:`detach` closes it."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown log format {fmt!r}; known: {', '.join(FORMATS)}")
    handler: logging.Handler
    if file is not None:
        try:
            handler = logging.FileHandler(file, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot open the log file {file}: {exc.strerror}") from None
    else:
        handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setLevel(parse_level(level))
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    return handler


def attach(handler: logging.Handler) -> None:
    """Send poqw's records to ``handler`` (the ``poqw`` logger lets through at least the
    handler's level)."""
    root = logging.getLogger(ROOT_LOGGER)
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > handler.level:
        root.setLevel(handler.level)


def detach(handler: logging.Handler) -> None:
    """Stop sending records to ``handler`` and close it."""
    logging.getLogger(ROOT_LOGGER).removeHandler(handler)
    handler.close()


_cli_handler: logging.Handler | None = None


def configure_cli(level: str | None, fmt: str | None,
                  secrets: Iterable[str] = ()) -> logging.Handler:
    """The logging of a command run from the shell: poqw's records of ``level`` (default
    warning) and above to stderr in ``fmt`` (default text). Calling it again replaces the
    previous setup."""
    global _cli_handler
    for secret in secrets:
        register_secret(secret)
    handler = make_handler(level or DEFAULT_CLI_LEVEL, fmt or "text")
    if _cli_handler is not None:
        detach(_cli_handler)
        logging.getLogger(ROOT_LOGGER).setLevel(logging.NOTSET)
    attach(handler)
    _cli_handler = handler
    return handler
