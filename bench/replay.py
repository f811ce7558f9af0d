"""`backbone dlq replay` records/s vs a raw consume -> produce copy loop, same broker, same run.

Each round writes LETTERS dead letters (``dead_letter_record`` of real ShipmentMilestone bytes,
an UNKNOWN_CODE failure, varied keys) to a fresh three-partition ``shipment-status.dlq.v1``
under a fresh topic prefix, then times:

- ours: ``processors.dlq.cli.replay_command`` called in-process as ``backbone dlq replay
  --processor shipment-status --topic-prefix P --audit-topic A --yes --rate 0 --json`` would:
  read the audit ledger and every dead letter, parse their headers, apply the loop guard and
  the already-replayed check, produce to the retry topic with replay headers, checkpoint, and
  publish the audit event;
- baseline: a plain consumer assigned to the same dead-letter topic from the beginning that
  copies key, value and headers of each record to a fresh topic and flushes.

A fresh prefix per round because replay is once-only by design (the checkpoint group and the
ledger would skip what an earlier round replayed). Rounds interleaved; medians.
"""

from __future__ import annotations

import contextlib
import io
import json
import statistics
import time
import uuid
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from backbone.clients import KafkaClients
from backbone.errors import UnknownCodeError
from backbone.kafka import admin_client
from backbone.samples import sample_shipment_milestone
from backbone.serde import AvroSerde
from bench.common import endpoints, report, result
from processors.api import ProcessorTopics
from processors.dead_letters import dead_letter_record, now_ms
from processors.dlq.cli import replay_command
from processors.shipment_status import processor as shipment_status

LETTERS = 10_000
ROUNDS = 3
PARTITIONS = 3
RAW = "logistics.shipment-milestone.raw.v1"


def create(bootstrap: str, names: list[str], partitions: int = PARTITIONS) -> None:
    admin = admin_client(bootstrap)  # kept alive until the futures resolve
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in names])
    for future in futures.values():
        future.result(timeout=30)


def _failure() -> UnknownCodeError:
    try:
        raise UnknownCodeError("UPS status I/ZZ is in no mapping table; add it to "
                               "BACKBONE_STATUS_MAPPINGS and replay")
    except UnknownCodeError as error:
        return error


def write_dead_letters(bootstrap: str, topic: str, raw_topic: str,
                       values: list[tuple[str, bytes]]) -> None:
    """One dead letter per (key, value), as the shipment_status processor writes them."""
    producer = Producer({**KafkaClients.of(bootstrap).common(), "enable.idempotence": True})
    error = _failure()
    failed_at = now_ms()
    for offset, (key, value) in enumerate(values):
        dl_key, dl_value, headers = dead_letter_record(
            key=key.encode(), value=value, original_topic=raw_topic, partition=0,
            offset=offset, timestamp_ms=failed_at - 60_000, processor="shipment-status",
            stage="reduce", error=error, attempt=1, first_failure_ms=failed_at,
            business_key=key, correlation_id=str(uuid.uuid4()),
            headers=[("correlation_id", key.encode())], last_failure_ms=failed_at,
        )
        while True:
            try:
                producer.produce(topic, key=dl_key, value=dl_value, headers=headers)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(60):
        raise RuntimeError(f"dead letters to {topic} not acknowledged within 60 s")


def replay_rate(prefix: str, audit_topic: str, expected: int) -> float:
    """Records/s of the replay command's own code path, no rate limit, no confirmation."""
    printed = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(io.StringIO()):
        replay_command(
            processor_name=shipment_status.SPEC.name, topic=None, category=None, since=None,
            until=None, key=None, offsets=None, prefix=prefix, audit_topic=audit_topic,
            json_output=True, dry_run=False, rate=0.0, force=False, yes=True,
            reason="bench", max_replays=None, owner=None, stage=None, error_contains=None,
            route=None,
        )
    elapsed = time.perf_counter() - started
    outcome = json.loads(printed.getvalue().strip().splitlines()[-1])
    if outcome["counts"]["replayed"] != expected:
        raise RuntimeError(f"replay did {outcome['counts']}, expected {expected} replayed")
    return expected / elapsed


def copy_rate(bootstrap: str, source: str, target: str) -> float:
    """Records/s of a raw copy: assign from the beginning, produce each record, flush."""
    consumer = Consumer({
        **KafkaClients.of(bootstrap).common(), "group.id": f"copy-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    producer = Producer(KafkaClients.of(bootstrap).common())
    started = time.perf_counter()
    partitions = consumer.list_topics(source, timeout=10).topics[source].partitions
    consumer.assign([TopicPartition(source, p, 0) for p in partitions])
    remaining = set(partitions)
    copied = 0
    try:
        while remaining:
            # consume() returns when it has 1,000 records or its timeout passed: the end of
            # the topic comes back in a short batch, so a long timeout would be timed as copying
            for message in consumer.consume(1000, 0.01):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        remaining.discard(message.partition())
                    continue
                while True:
                    try:
                        producer.produce(target, key=message.key(), value=message.value(),
                                         headers=message.headers())
                        break
                    except BufferError:
                        producer.poll(0.05)
                producer.poll(0)
                copied += 1
        if producer.flush(60):
            raise RuntimeError(f"copies to {target} not acknowledged within 60 s")
    finally:
        consumer.close()
    return copied / (time.perf_counter() - started)


def run() -> list[dict[str, Any]]:
    where = endpoints()
    bootstrap = where.bootstrap_servers
    events = [sample_shipment_milestone(seed=n) for n in range(LETTERS)]
    with where.registry() as registry:
        serde = AvroSerde(registry)
        raw = ProcessorTopics().topic(RAW)
        values = [(raw.key_for(e) or "", serde.serialize(raw, e)) for e in events]
    ours, copy = [], []
    for round_number in range(ROUNDS):  # interleaved, order alternating: drift hits both alike
        prefix = f"r{uuid.uuid4().hex[:6]}"
        topics = ProcessorTopics.prefixed(shipment_status.SPEC, prefix)
        dlq, retry = topics.name(shipment_status.SPEC.dlq_topic), topics.name(
            shipment_status.SPEC.retry_topic)
        audit_topic, copies = f"{prefix}.backbone.replay-audit.v1", f"{prefix}.copy"
        create(bootstrap, [dlq, retry, copies])
        create(bootstrap, [audit_topic], partitions=1)
        write_dead_letters(bootstrap, dlq, topics.name(RAW), values)
        if round_number % 2:
            ours.append(replay_rate(prefix, audit_topic, LETTERS))
            copy.append(copy_rate(bootstrap, dlq, copies))
        else:
            copy.append(copy_rate(bootstrap, dlq, copies))
            ours.append(replay_rate(prefix, audit_topic, LETTERS))
    return [result("replay: dlq replay vs raw copy loop", statistics.median(ours),
                   statistics.median(copy), 0.5, "records/s", "consume+produce copy")]


if __name__ == "__main__":
    report(run())
