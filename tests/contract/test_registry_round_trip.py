"""Every canonical event survives the real registry: register, encode, decode, compare."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest

from backbone import schemas
from backbone.registry import SchemaRegistry
from backbone.samples import sample
from backbone.serde import AvroSerde
from backbone.topics import CATALOG, Topic

pytestmark = pytest.mark.integration

AVRO_TOPICS = [topic for topic in CATALOG if topic.record is not None]


@pytest.fixture(scope="module")
def serde(registry_url: str) -> Iterator[AvroSerde]:
    registry = SchemaRegistry(registry_url)
    yield AvroSerde(registry)
    registry.close()


def test_every_event_record_has_a_catalog_topic() -> None:
    carried = {topic.record for topic in AVRO_TOPICS}
    assert set(schemas.event_records()) == carried


@pytest.mark.parametrize("catalog_topic", AVRO_TOPICS, ids=lambda t: t.name)
def test_event_round_trips_through_the_real_registry(
    serde: AvroSerde, catalog_topic: Topic
) -> None:
    # A private topic name: its own subject, so this test owns its compatibility history.
    private = replace(catalog_topic, name=f"test.{uuid.uuid4().hex[:10]}.{catalog_topic.name}")
    assert private.record is not None
    event = sample(private.record, seed=7)

    data = serde.serialize(private, event)

    assert data[0] == 0
    schema_id = int.from_bytes(data[1:5], "big")
    assert schema_id in serde.registry.subject_ids(private.value_subject, refresh=True)
    assert serde.deserialize(private, data) == event


def test_registered_schema_keeps_logical_types_and_defaults(serde: AvroSerde) -> None:
    private = replace(AVRO_TOPICS[0], name=f"test.{uuid.uuid4().hex[:10]}.po")
    schema_id = serde.schema_id(private)
    text = serde.registry.schema(schema_id)
    assert '"logicalType":"timestamp-millis"' in text.replace(" ", "")
    assert '"default"' in text
