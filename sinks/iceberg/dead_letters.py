"""The sink's dead letters: a record it cannot turn into a row, with where it came from and why.

The record is the kernel's (backbone/dead_letters.py, stage ``sink``, owner ``iceberg-sink``),
so ``backbone dlq list | show | stats`` and the console read them like every other stage's: the
original key and value bytes untouched, the record's own headers kept.
"""

from __future__ import annotations

from confluent_kafka import Message

from backbone.dead_letters import DeadLetter, Stage, own_headers
from backbone.headers import CORRELATION_ID, TRACEPARENT

STAGE = Stage.SINK.value
COMPONENT = "iceberg-sink"


def dead_letter(message: Message, error: BaseException) -> tuple[bytes | None, bytes | None,
                                                                 list[tuple[str, bytes]]]:
    """Key, value and headers of the dead letter for ``message``, which failed with ``error``."""
    own = own_headers(message.headers())
    text = {name: value.decode("utf-8", "replace") for name, value in own}
    key = message.key()
    stamp_type, stamp = message.timestamp()
    record = DeadLetter.from_error(
        error, stage=Stage.SINK, owner=COMPONENT, step="row",
        original_topic=message.topic(), original_partition=message.partition(),
        original_offset=message.offset(), original_timestamp_ms=stamp if stamp_type else None,
        business_key=key.decode("utf-8", "replace") if key is not None else None,
        correlation_id=text.get(CORRELATION_ID), traceparent=text.get(TRACEPARENT))
    return key, message.value(), own + record.to_headers()
