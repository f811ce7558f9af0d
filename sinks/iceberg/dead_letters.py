"""The sink's dead letters: a record it cannot turn into a row, with where it came from and why.

Written in the ``backbone.dlq.*`` header scheme every other stage uses (ARCHITECTURE.md, error
policy), so ``backbone dlq list | show | stats`` read them: the original key and value bytes
untouched, the record's own headers kept. This is the only place the sink builds one; when the
kernel's shared dead-letter record lands, :func:`dead_letter` becomes a call to it.
"""

from __future__ import annotations

import time
import traceback

from confluent_kafka import Message

from backbone.clients import redact
from backbone.errors import categorize
from backbone.headers import CORRELATION_ID

STAGE = "sink"
COMPONENT = "iceberg-sink"
_PREFIX = "backbone.dlq."


def dead_letter(message: Message, error: BaseException) -> tuple[bytes | None, bytes | None,
                                                                 list[tuple[str, bytes]]]:
    """Key, value and headers of the dead letter for ``message``, which failed with ``error``."""
    now = str(int(time.time() * 1000))
    own = [(name, value or b"") for name, value in message.headers() or []
           if not name.startswith(_PREFIX)]
    correlation = next((value.decode("utf-8", "replace") for name, value in own
                        if name == CORRELATION_ID), None)
    key = message.key()
    stamp_type, stamp = message.timestamp()
    added = {
        "original.topic": message.topic(),
        "original.partition": str(message.partition()),
        "original.offset": str(message.offset()),
        "original.timestamp": str(stamp) if stamp_type else None,
        "processor": COMPONENT,
        "stage": STAGE,
        "category": categorize(error).value,
        "exception.class": f"{type(error).__module__}.{type(error).__qualname__}",
        "exception.message": redact(str(error))[:2_000],
        "exception.stacktrace": redact("".join(traceback.format_exception(error)[-6:]))[:4_000],
        "attempt": "1",
        "first.failure": now,
        "last.failure": now,
        "business.key": key.decode("utf-8", "replace") if key is not None else None,
        "correlation.id": correlation,
    }
    headers = own + [(_PREFIX + name, text.encode()) for name, text in added.items()
                     if text is not None]
    return key, message.value(), headers
