"""Structured JSON logs that carry the trace of the event being handled.

``log_context(correlation_id=..., traceparent=..., event_id=...)`` binds the ids of the record
in hand (contextvars, so threads and asyncio tasks keep their own); every log line written
inside it carries them, which is how an operator follows one source document through every
stage and into the dead-letter topic.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from backbone.clients import redact

_CONTEXT: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar(
    "backbone_log_context", default={}  # noqa: B039 - never mutated, only replaced
)


@contextlib.contextmanager
def log_context(**ids: str | None) -> Iterator[None]:
    """Bind ``ids`` (None values are dropped) to every log line written inside the block."""
    merged = {**_CONTEXT.get(), **{k: v for k, v in ids.items() if v}}
    token = _CONTEXT.set(merged)
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def current_context() -> dict[str, str]:
    return dict(_CONTEXT.get())


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the bound ids, extras."""

    _STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message"}

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            **_CONTEXT.get(),
        }
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                line[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(line, ensure_ascii=False))


class RedactingFormatter(logging.Formatter):
    """Plain text lines with every configured secret hidden."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure(level: str = "INFO", json_lines: bool = True) -> None:
    """Send backbone's logs to stderr, as JSON lines or plain text (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else RedactingFormatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every registry request at INFO: noise next to what backbone reports
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
