"""`backbone asyncapi` documents exactly the catalog: every topic, key, payload and party."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import fastavro
import pytest
import yaml

from backbone import schemas
from backbone.asyncapi import document, namespaced
from backbone.topics import CATALOG

CHECKER = Path(__file__).resolve().parents[1] / "asyncapi"


def canonical(schema: Any) -> str:
    return str(fastavro.schema.to_parsing_canonical_form(fastavro.parse_schema(schema)))


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
            # the same Avro as the contract, named with name + namespace
            contract = schemas.load(entry.record)
            assert canonical(message["payload"]["schema"]) == canonical(contract)
            assert message["payload"]["schema"] == namespaced(contract)
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


def test_the_asyncapi_parser_accepts_the_document_with_its_avro_payloads() -> None:
    """@asyncapi/parser 3 with @asyncapi/avro-schema-parser (tests/asyncapi; `npm ci` there,
    which .ci/run does) parses the document without one error."""
    if shutil.which("node") is None or not (CHECKER / "node_modules").is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail("node or tests/asyncapi/node_modules missing: run npm ci --prefix "
                        "tests/asyncapi")
        pytest.skip("node or tests/asyncapi/node_modules missing (npm ci --prefix tests/asyncapi)")
    result = subprocess.run(["node", str(CHECKER / "validate.mjs")], input=json.dumps(document()),
                            capture_output=True, text=True, timeout=120)
    errors = [json.loads(line) for line in result.stdout.splitlines()
              if json.loads(line)["severity"] == 0]
    assert errors == [] and result.returncode == 0, (result.stderr, errors[:5])
