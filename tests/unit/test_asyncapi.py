"""`backbone asyncapi` documents exactly the catalog: every topic, key, payload and party."""

from __future__ import annotations

import subprocess
import sys

import yaml

from backbone import schemas
from backbone.asyncapi import document
from backbone.topics import CATALOG


def _resolve(doc: dict[str, object], ref: str) -> object:
    node: object = doc
    for part in ref.removeprefix("#/").split("/"):
        assert isinstance(node, dict), ref
        node = node[part]
    return node


def test_every_catalog_topic_is_a_channel_with_its_kafka_settings() -> None:
    doc = document()
    channels = {c["address"]: c for c in doc["channels"].values()}
    assert set(channels) == {t.name for t in CATALOG}
    for entry in CATALOG:
        kafka = channels[entry.name]["bindings"]["kafka"]
        assert kafka["partitions"] == entry.partitions
        assert kafka["topicConfiguration"]["retention.ms"] == entry.retention_ms


def test_avro_payloads_are_the_contracts_and_keys_are_described() -> None:
    doc = document()
    for entry in CATALOG:
        [ref] = [m["$ref"] for m in next(
            c for c in doc["channels"].values() if c["address"] == entry.name
        )["messages"].values()]
        message = _resolve(doc, ref)
        assert isinstance(message, dict)
        assert entry.key_description in message["bindings"]["kafka"]["key"]["description"]
        if entry.record:
            assert message["payload"]["schema"] == schemas.load(entry.record)
            assert message["bindings"]["kafka"]["schemaIdPayloadEncoding"] == "confluent"


def test_every_producer_and_consumer_is_an_operation_on_its_channel() -> None:
    doc = document()
    operations = [(op["action"], _resolve(doc, op["channel"]["$ref"]), op["title"])
                  for op in doc["operations"].values()]
    expected = {(action, entry.name, party) for entry in CATALOG
                for action, parties in (("send", entry.producers),
                                        ("receive", entry.consumers))
                for party in parties}
    found = {(action, channel["address"], title.split(f" {action}s ")[0])  # type: ignore[index]
             for action, channel, title in operations}
    assert found == expected
    for op in doc["operations"].values():
        for message in op["messages"]:
            assert _resolve(doc, message["$ref"])  # every reference resolves


def test_cli_prints_valid_yaml() -> None:
    result = subprocess.run([sys.executable, "-m", "backbone", "asyncapi"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    parsed = yaml.safe_load(result.stdout)
    assert parsed["asyncapi"] == "3.0.0"
    assert len(parsed["channels"]) == len(CATALOG)
