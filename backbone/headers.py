"""The Kafka headers every canonical event carries, and W3C trace context.

``event_id``, ``correlation_id``, ``traceparent`` (W3C Trace Context, version 00) and
``source_system``: downstream tools read them without decoding the value.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable

EVENT_ID = "event_id"
CORRELATION_ID = "correlation_id"
TRACEPARENT = "traceparent"
SOURCE_SYSTEM = "source_system"

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")

Headers = list[tuple[str, bytes]]


def new_traceparent(trace_id: str | None = None) -> str:
    """A sampled traceparent with a fresh span id, in ``trace_id``'s trace or a new one.

    Ids need to be unique, not secret: the module PRNG costs a tenth of os.urandom per event.
    """
    trace = trace_id or f"{random.getrandbits(128):032x}"
    return f"00-{trace}-{random.getrandbits(64):016x}-01"


def child_traceparent(parent: str | None) -> str:
    """A span under ``parent`` when it is a valid traceparent, else the start of a new trace."""
    match = _TRACEPARENT.match(parent or "")
    return new_traceparent(match.group(1) if match else None)


def as_dict(headers: Iterable[tuple[str, bytes | None]] | None) -> dict[str, str]:
    """Kafka headers as text, the last value winning; undecodable bytes are shown escaped."""
    result: dict[str, str] = {}
    for key, value in headers or ():
        result[key] = "" if value is None else value.decode("utf-8", errors="backslashreplace")
    return result


def event_headers(
    event_id: str, correlation_id: str | None, source_system: str, traceparent: str | None
) -> Headers:
    """The headers of a canonical event (ARCHITECTURE.md, Conventions)."""
    return [
        (EVENT_ID, event_id.encode()),
        (CORRELATION_ID, (correlation_id or event_id).encode()),
        (TRACEPARENT, (traceparent or new_traceparent()).encode()),
        (SOURCE_SYSTEM, source_system.encode()),
    ]
