"""``backbone tail``: canonical events of a topic as JSON lines (``publish`` reads them back)."""

from __future__ import annotations

import base64
import json
import sys
import time
import uuid

import typer
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, Message, TopicPartition

from backbone.cli import context
from backbone.cli.exits import fail
from backbone.errors import BackboneError
from backbone.kafka import consumer_config
from backbone.serde import AvroSerde
from backbone.settings import load_settings
from backbone.topics import Topic, ValueFormat, topic


def _catalog_topic(name: str) -> Topic:
    try:
        return topic(name)
    except KeyError as error:
        fail(str(error.args[0]))


def tail(
    topic_name: str = typer.Argument(..., metavar="TOPIC"),
    from_beginning: bool = typer.Option(False, "--from-beginning", help="Start at the oldest."),
    max_events: int | None = typer.Option(None, "--max", help="Stop after N events."),
    timeout: float | None = typer.Option(
        None, "--timeout", help="Stop after S seconds without a new event."
    ),
) -> None:
    """Decoded events of TOPIC as JSON lines on stdout; undecodable records on stderr."""
    entry = _catalog_topic(topic_name)
    settings = load_settings()
    where = context.endpoints(settings)
    serde = context.serde(settings)
    consumer = Consumer(consumer_config(
        where.kafka, f"backbone-tail-{uuid.uuid4().hex[:8]}",
        **{"enable.partition.eof": False},
    ))
    try:
        metadata = consumer.list_topics(entry.name, timeout=10).topics.get(entry.name)
        if metadata is None or metadata.error is not None:
            fail(f"topic {entry.name} does not exist on {where.bootstrap_servers}; "
                 "create the catalog's topics with `backbone topics apply`")
        start = OFFSET_BEGINNING if from_beginning else OFFSET_END
        consumer.assign([TopicPartition(entry.name, p, start) for p in metadata.partitions])
        _print_until(consumer, entry, serde, max_events, timeout)
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


def _print_until(consumer: Consumer, entry: Topic, serde: AvroSerde, max_events: int | None,
                 timeout: float | None) -> None:
    printed = 0
    last_seen = time.monotonic()
    while max_events is None or printed < max_events:
        message = consumer.poll(0.5)
        if message is None:
            if timeout is not None and time.monotonic() - last_seen >= timeout:
                return
            continue
        last_seen = time.monotonic()
        if message.error():
            print(f"backbone: {entry.name}: {message.error()}", file=sys.stderr)
            continue
        line = _line(entry, serde, message)
        if line is not None:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
            printed += 1


def _line(entry: Topic, serde: AvroSerde, message: Message) -> str | None:
    if entry.value_format is ValueFormat.AVRO:
        try:
            return json.dumps(serde.deserialize(entry, message.value()).to_json_dict())
        except BackboneError as error:
            print(f"backbone: {entry.name}[{message.partition()}]@{message.offset()}: {error}",
                  file=sys.stderr)
            return None
    value = message.value() or b""
    key = message.key()
    return json.dumps({
        "key": key.decode("utf-8", "backslashreplace") if key is not None else None,
        "value": value.decode("utf-8") if _is_text(value)
        else base64.b64encode(value).decode(),
        "value_encoding": "utf-8" if _is_text(value) else "base64",
        "headers": {k: (v or b"").decode("utf-8", "backslashreplace")
                    for k, v in message.headers() or []},
    })


def _is_text(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
