"""What the connector runner does with a dead letter Kafka would refuse, and with an event the
serde refuses before produce (issue 14): both become dead letters within Kafka's limits."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from backbone.errors import Category, EventTooLargeError
from backbone.samples import sample_inventory_movement
from connectors.api import DeadLetter, SourceRecord
from connectors.runner import (
    DEAD_LETTER_REASON_LIMIT,
    DEAD_LETTER_VALUE_LIMIT,
    bounded,
    dead_letter_headers,
    refused_event,
)


def test_a_dead_letter_within_the_limits_is_left_as_it_is() -> None:
    letter = DeadLetter("f.csv row 2: bad", Category.SCHEMA_VALIDATION, "k", b"x" * 100)
    assert bounded(letter) is letter


def test_a_dead_letter_over_the_limits_is_cut_and_says_what_it_was() -> None:
    value = bytes(range(256)) * 5_000  # 1.28 MB
    letter = DeadLetter("r" * 5_000, Category.DESERIALIZATION, "k", value, {"file": "f.csv"})
    cut = bounded(letter)
    assert cut.value == value[:DEAD_LETTER_VALUE_LIMIT]
    assert cut.reason == "r" * DEAD_LETTER_REASON_LIMIT + " [cut]"
    assert cut.where == {"file": "f.csv", "value_truncated": "true",
                         "value_bytes": str(len(value)),
                         "value_sha256": hashlib.sha256(value).hexdigest()}


def test_an_event_the_serde_refuses_becomes_a_dead_letter_of_its_json() -> None:
    event = sample_inventory_movement()
    record = SourceRecord({"file": "f"}, {"row": 7}, event=event)
    letter = refused_event(record, EventTooLargeError("encodes to 2000000 bytes"))
    assert letter.source_offset == {"row": 7} and letter.dead_letter is not None
    assert letter.dead_letter.category is Category.SCHEMA_VALIDATION
    assert json.loads(letter.dead_letter.value) == event.to_json_dict()
    assert letter.dead_letter.reason.startswith(
        f"InventoryMovement {event.idempotency_key} cannot be written: EventTooLargeError: "
        "encodes to 2000000 bytes")
    surrogate = refused_event(record, UnicodeEncodeError("utf-8", "\ud800", 0, 1, "no"))
    assert surrogate.dead_letter is not None
    assert surrogate.dead_letter.category is Category.SCHEMA_VALIDATION


def test_headers_encode_whatever_text_a_reason_quotes() -> None:
    letter = DeadLetter("d-\udcff.csv: not UTF-8", Category.DESERIALIZATION, None, b"")
    record = SourceRecord({"file": "f"}, {"row": 0}, dead_letter=letter)
    headers = dict(dead_letter_headers("wms-feed", record))
    assert headers["backbone.dlq.exception.message"] == b"d-\\udcff.csv: not UTF-8"
    assert datetime.fromisoformat(headers["backbone.dlq.first.failure"].decode()) <= \
        datetime.now(UTC)
