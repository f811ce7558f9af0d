"""The property every parser's output must keep: an event that gets published is a valid
canonical event (it decodes back to itself), and one that cannot be written is refused
before produce with an error the connector runner dead-letters."""

from __future__ import annotations

from functools import cache

from backbone.events import Event
from backbone.serde import AvroSerde
from backbone.topics import for_record
from connectors.runner import REFUSED_BEFORE_PRODUCE
from tests.unit.test_serde_guards import RegistryDouble


@cache
def serde() -> AvroSerde:
    """One serde over an in-memory registry (schemas compiled once for the whole session)."""
    return AvroSerde(RegistryDouble())  # type: ignore[arg-type]


def assert_published_intact(event: Event) -> None:
    """``event`` encodes and decodes to itself, or the serde refuses it before produce."""
    topic = for_record(event.RECORD_NAME)
    try:
        data = serde().serialize(topic, event)
    except REFUSED_BEFORE_PRODUCE:
        return
    assert serde().deserialize(topic, data) == event
