"""The Iceberg sink on the real broker and registry: Avro evolution becomes a new column without
rewriting data, bad records become dead letters, and DuckDB reads what `backbone tail` shows."""

from __future__ import annotations

import io
import json
import signal
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

import fastavro
import pytest
from confluent_kafka.admin import AdminClient

from backbone import schemas
from backbone.clients import KafkaClients
from backbone.kafka import admin_client, apply_topics
from backbone.samples import sample_order_line_status
from backbone.settings import load_settings
from backbone.topics import topic
from sinks.iceberg.metrics import SinkMetrics
from sinks.iceberg.schema import sink_topics
from sinks.iceberg.sink import IcebergSink, SinkOptions
from sinks.iceberg.tables import committed_offsets, open_catalog
from tests.reliability.iceberg_harness import (
    DLQ,
    backbone,
    fresh_prefix,
    fresh_topics,
    produce_raw,
    publish,
    sink_env,
    tables,
)
from tests.reliability.processor_harness import read_committed, serde_for

pytestmark = pytest.mark.integration

ORDERS = "procurement.order-line-status.v1"


def _sink(bootstrap: str, registry_url: str, state: Path, prefix: str,
          metrics: SinkMetrics | None = None) -> IcebergSink:
    return IcebergSink(open_catalog(load_settings(state_dir=state)),
                       sink_topics([ORDERS], prefix), serde_for(registry_url),
                       KafkaClients(bootstrap),
                       SinkOptions(commit_interval_s=1.0, dead_letter_topic=f"{prefix}.{DLQ}"),
                       metrics)


def test_a_new_optional_avro_field_becomes_a_column_without_rewriting_data(
        bootstrap_servers: str, registry_url: str, admin: AdminClient, tmp_path: Path) -> None:
    serde = serde_for(registry_url)
    prefix = fresh_prefix()
    fresh_topics(admin, prefix, [ORDERS], partitions=1)
    old = [sample_order_line_status(i, event_id=str(uuid.uuid4())) for i in range(5)]
    publish(bootstrap_servers, serde, prefix, ORDERS, old)
    assert _sink(bootstrap_servers, registry_url, tmp_path, prefix).run(once=True).rows == 5
    lake = tables(tmp_path)
    before = lake.load_table(("backbone", "order_line_status"))
    files_before = set(before.inspect.files().column("file_path").to_pylist())

    # v2 of the writer schema: one more optional field (FULL_TRANSITIVE-compatible)
    evolved = schemas.load(topic(ORDERS).record or "")
    evolved["fields"].append({"name": "carrier_note", "type": ["null", "string"],
                              "default": None})
    subject = f"{prefix}.{ORDERS}-value"
    schema_id = serde.registry.register(subject, json.dumps(evolved))
    new = sample_order_line_status(99, event_id=str(uuid.uuid4()))
    buffer = io.BytesIO()
    buffer.write(struct.pack(">bI", 0, schema_id))
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(evolved),
                               {**new.to_avro(), "carrier_note": "left at dock 4"})
    produce_raw(bootstrap_servers, f"{prefix}.{ORDERS}", b"ACME|1", buffer.getvalue())

    assert _sink(bootstrap_servers, registry_url, tmp_path, prefix).run(once=True).rows == 1
    after = lake.load_table(("backbone", "order_line_status"))
    assert "carrier_note" in after.schema().column_names
    assert files_before <= set(after.inspect.files().column("file_path").to_pylist())
    notes = dict(zip(*(after.scan().to_arrow().column(name).to_pylist()
                       for name in ("event_id", "carrier_note")), strict=True))
    assert notes == {**{str(event.event_id): None for event in old},
                     str(new.event_id): "left at dock 4"}


def test_a_writer_schema_the_table_cannot_evolve_to_is_refused_record_by_record(
        bootstrap_servers: str, registry_url: str, admin: AdminClient, tmp_path: Path) -> None:
    serde = serde_for(registry_url)
    prefix = fresh_prefix()
    fresh_topics(admin, prefix, [ORDERS], partitions=1)
    good = sample_order_line_status(1, event_id=str(uuid.uuid4()))
    publish(bootstrap_servers, serde, prefix, ORDERS, [good])
    # a producer that ignored compatibility: po_number becomes a number, and a field is added
    broken = schemas.load(topic(ORDERS).record or "")
    for field in broken["fields"]:
        if field["name"] == "po_number":
            field["type"] = "long"
    broken["fields"].append({"name": "note", "type": ["null", "string"], "default": None})
    subject = f"{prefix}.{ORDERS}-value"
    serde.registry.set_compatibility(subject, "NONE")
    schema_id = serde.registry.register(subject, json.dumps(broken))
    buffer = io.BytesIO()
    buffer.write(struct.pack(">bI", 0, schema_id))
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(broken),
                               {**sample_order_line_status(2).to_avro(), "po_number": 7})
    produce_raw(bootstrap_servers, f"{prefix}.{ORDERS}", b"ACME|7", buffer.getvalue())
    publish(bootstrap_servers, serde, prefix, ORDERS, [sample_order_line_status(3)])

    summary = _sink(bootstrap_servers, registry_url, tmp_path, prefix).run(once=True)
    assert (summary.rows, summary.dead_letters) == (2, 1)
    letters = read_committed(bootstrap_servers, f"{prefix}.{DLQ}", expect=1)
    assert letters[0].headers["backbone.dlq.category"] == b"SCHEMA_VALIDATION"
    assert b"po_number" in letters[0].headers["backbone.dlq.exception.message"]
    table = tables(tmp_path).load_table(("backbone", "order_line_status"))
    assert "note" not in table.schema().column_names


def test_records_that_cannot_become_rows_are_dead_letters_and_the_rest_is_written(
        bootstrap_servers: str, registry_url: str, admin: AdminClient, tmp_path: Path) -> None:
    serde = serde_for(registry_url)
    prefix = fresh_prefix()
    fresh_topics(admin, prefix, [ORDERS], partitions=1)
    name = f"{prefix}.{ORDERS}"
    good = [sample_order_line_status(i, event_id=str(uuid.uuid4())) for i in range(3)]
    publish(bootstrap_servers, serde, prefix, ORDERS, good[:1])
    produce_raw(bootstrap_servers, name, b"ACME|BAD", b"\x00garbage")  # offset 1
    produce_raw(bootstrap_servers, name, b"ACME|TOMB", None)  # offset 2: a tombstone
    publish(bootstrap_servers, serde, prefix, ORDERS, good[1:])

    metrics = SinkMetrics()
    summary = _sink(bootstrap_servers, registry_url, tmp_path, prefix, metrics).run(once=True)
    assert (summary.rows, summary.dead_letters) == (3, 2)
    sample = metrics.registry.get_sample_value
    assert sample("backbone_sink_rows_written_total", {"table": "order_line_status"}) == 3
    assert sample("backbone_sink_dead_letters_total",
                  {"topic": name, "category": "DESERIALIZATION"}) == 2
    assert sample("backbone_sink_commit_seconds_count", {"table": "order_line_status"}) == 1
    assert sample("backbone_sink_consumer_lag", {"topic": name, "partition": "0"}) == 0
    table = tables(tmp_path).load_table(("backbone", "order_line_status")).scan().to_arrow()
    assert sorted(table.column("event_id").to_pylist()) == sorted(str(e.event_id) for e in good)

    letters = read_committed(bootstrap_servers, f"{prefix}.{DLQ}", expect=2)
    assert [(r.key, r.headers["backbone.dlq.original.offset"]) for r in letters] == \
        [("ACME|BAD", b"1"), ("ACME|TOMB", b"2")]
    assert {r.headers["backbone.dlq.category"] for r in letters} == {b"DESERIALIZATION"}
    assert letters[0].value == b"\x00garbage"
    assert b"iceberg-sink" in letters[0].headers.values()  # who wrote it (owner)

    # the offsets moved past them: a restart neither writes nor dead-letters them again
    again = _sink(bootstrap_servers, registry_url, tmp_path, prefix).run(once=True)
    assert (again.rows, again.dead_letters) == (0, 0)


def test_duckdb_reads_the_values_backbone_tail_prints(
        bootstrap_servers: str, registry_url: str, tmp_path: Path) -> None:
    # the catalog topic itself, as an analyst runs it (other tests' records are filtered out)
    apply_topics(admin_client(bootstrap_servers), [topic(ORDERS), topic(DLQ)])
    serde = serde_for(registry_url)
    mine = [sample_order_line_status(i, event_id=str(uuid.uuid4())) for i in range(3)]
    publish(bootstrap_servers, serde, None, ORDERS, mine)
    env = sink_env(bootstrap_servers, registry_url, tmp_path / "state", None)

    tail = backbone(env, "tail", ORDERS, "--from-beginning", "--timeout", "3")
    assert tail.returncode == 0, tail.stderr
    ids = {str(event.event_id) for event in mine}
    shown = {line["event_id"]: line for line in map(json.loads, tail.stdout.splitlines())
             if line["event_id"] in ids}
    assert len(shown) == 3

    sunk = backbone(env, "sink", "iceberg", "--topics", ORDERS, "--once")
    assert sunk.returncode == 0, sunk.stderr
    listed = ", ".join(f"'{event_id}'" for event_id in sorted(ids))
    queried = backbone(env, "query", "--json",
                       "SELECT * EXCLUDE (kafka_topic, kafka_partition, kafka_offset, "
                       "kafka_timestamp, kafka_key, correlation_id, traceparent) "
                       f"FROM order_line_status WHERE event_id IN ({listed})")
    assert queried.returncode == 0, queried.stderr
    read = {line["event_id"]: line for line in map(json.loads, queried.stdout.splitlines())}
    assert read == shown


def test_sigterm_commits_what_was_read_and_stops(
        bootstrap_servers: str, registry_url: str, admin: AdminClient, tmp_path: Path) -> None:
    serde = serde_for(registry_url)
    prefix = fresh_prefix()
    fresh_topics(admin, prefix, [ORDERS], partitions=1)
    events = [sample_order_line_status(i, event_id=str(uuid.uuid4())) for i in range(20)]
    publish(bootstrap_servers, serde, prefix, ORDERS, events)
    env = sink_env(bootstrap_servers, registry_url, tmp_path / "state", prefix,
                   BACKBONE_ICEBERG_COMMIT_INTERVAL_S="3600")  # only the SIGTERM commits
    log = tmp_path / "sink.log"
    with log.open("wb") as out:
        child = subprocess.Popen([sys.executable, "-m", "backbone", "sink", "iceberg",
                                  "--topics", ORDERS], env=env, stdout=out, stderr=out)
        deadline = time.monotonic() + 90
        while b"reading" not in log.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3)  # 20 small records: read long before this
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=60) == 0, log.read_text()
    table = tables(tmp_path / "state").load_table(("backbone", "order_line_status"))
    assert table.scan().to_arrow().num_rows == 20
    assert committed_offsets(table, f"{prefix}.{ORDERS}") == {0: 20}
