"""Iceberg sink rows/s against writing the same records to one Parquet file with pyarrow.

Both sides start from the same 20,000 OrderLineStatus records on one fresh 3-partition topic
and end with the rows on disk: each reads the topic from the start to its end with its own
consumer, decodes with the same compiled Avro reader (the baseline without the sink's guards:
framing, schema id registered for the topic, trailing bytes) and builds Arrow rows with the same
columns (the record's fields plus the Kafka coordinates). The baseline then writes one Parquet
file with ``pyarrow.parquet.write_table``; the sink (``IcebergSink.run(once=True)``, one commit)
writes partitioned data files, manifests, a snapshot with the offsets, and commits to a SQLite
catalog in a fresh folder. Three interleaved rounds, medians.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import NewTopic

from backbone import schemas
from backbone.avro_codec import Codec
from backbone.clients import KafkaClients
from backbone.kafka import admin_client
from backbone.samples import sample_order_line_status
from backbone.serde import AvroSerde
from backbone.settings import load_settings
from backbone.topics import topic
from bench.common import endpoints, report, result
from producers import EventPublisher
from sinks.iceberg.schema import arrow_schema, decoding_schema, sink_topics
from sinks.iceberg.sink import IcebergSink, SinkOptions
from sinks.iceberg.tables import open_catalog

RECORDS = 20_000
ROUNDS = 3
ORDERS = "procurement.order-line-status.v1"


def _baseline(kafka: KafkaClients, name: str, folder: Path) -> float:
    entry = replace(topic(ORDERS), name=name)
    avro = schemas.load(entry.record or "")
    columns, codec = arrow_schema(avro), Codec(decoding_schema(avro))
    started = time.perf_counter()
    consumer = Consumer(kafka.consumer(f"bench-{uuid.uuid4().hex[:8]}",
                                       **{"enable.partition.eof": True}))
    partitions = consumer.list_topics(name, timeout=10).topics[name].partitions
    consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in partitions])
    rows: list[dict[str, Any]] = []
    done: set[int] = set()
    while len(done) < len(partitions):
        # consume() waits for 5,000 records or the timeout: the end of the topic comes in a
        # short batch, and the baseline must not time a wait for records that never come
        for message in consumer.consume(5_000, timeout=0.01):
            if message.error() is not None:
                if message.error().code() == KafkaError._PARTITION_EOF:
                    done.add(message.partition())
                continue
            row, _ = codec.decode(message.value(), 5)  # no guards: the baseline's favour
            row["kafka_topic"] = message.topic()
            row["kafka_partition"] = message.partition()
            row["kafka_offset"] = message.offset()
            row["kafka_timestamp"] = datetime.fromtimestamp(message.timestamp()[1] / 1000, UTC)
            row["kafka_key"] = (message.key() or b"").decode()
            rows.append(row)
    consumer.close()
    pq.write_table(pa.Table.from_pylist(rows, schema=columns), folder / "orders.parquet",
                   compression="zstd")
    assert len(rows) == RECORDS
    return RECORDS / (time.perf_counter() - started)


def _sink(kafka: KafkaClients, serde: AvroSerde, prefix: str, folder: Path) -> float:
    catalog = open_catalog(load_settings(state_dir=folder))
    sink = IcebergSink(catalog, sink_topics([ORDERS], prefix), serde, kafka,
                       SinkOptions(commit_interval_s=3600, max_batch_rows=RECORDS + 1,
                                   dead_letter_topic=f"{prefix}.iceberg-sink.dlq.v1"))
    started = time.perf_counter()
    summary = sink.run(once=True)
    elapsed = time.perf_counter() - started
    assert summary.rows == RECORDS and summary.commits == 1, summary
    return RECORDS / elapsed


def run() -> list[dict[str, Any]]:
    where = endpoints()
    kafka = KafkaClients(where.bootstrap_servers)
    serde = AvroSerde(where.registry())
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    name = f"{prefix}.{ORDERS}"
    admin = admin_client(kafka)  # held: the future needs its client alive
    admin.create_topics([NewTopic(name, 3, 1)])[name].result(timeout=30)
    entry = replace(topic(ORDERS), name=name)
    with EventPublisher(kafka, serde) as publisher:
        for n in range(RECORDS):
            publisher.publish(sample_order_line_status(n, event_id=str(uuid.uuid4())),
                              topic=entry)
        publisher.flush()
    ours, theirs = [], []
    for _ in range(ROUNDS):
        with tempfile.TemporaryDirectory(prefix="bench-sink-") as folder:
            theirs.append(_baseline(kafka, name, Path(folder)))
        with tempfile.TemporaryDirectory(prefix="bench-sink-") as folder:
            ours.append(_sink(kafka, serde, prefix, Path(folder)))
    return [result("sink: Iceberg (exactly once) vs pyarrow Parquet", statistics.median(ours),
                   statistics.median(theirs), 0.5, "rows/s", "pyarrow Parquet file")]


if __name__ == "__main__":
    report(run())
