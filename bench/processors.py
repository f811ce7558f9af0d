"""The processors with exactly-once on: events/s and end-to-end p99 latency vs a plain loop.

Throughput: EVENTS pre-produced ShipmentMilestone events (one sample per seed, so every event is
a different shipment and yields one ShipmentStatus) on a fresh one-partition input topic, drained
in this process by (a) the shipment_status processor (Quix Streams, exactly-once, RocksDB state
with changelog, the production commit interval) and (b) the baseline: a plain confluent-kafka
loop that consumes, decodes with fastavro, re-encodes and produces -- no state, no transactions.
Rate = events / (first record handled -> last record handled, for the baseline -> flushed);
start-up (group join, state recovery) is left out of both. Rounds are interleaved; medians.

Latency, for each of the three processors: each side (the processor, or the plain loop on the
same input record type) runs in its own process while this one offers LATENCY_RATE events/s
for LATENCY_SECONDS, every event a new key, and a read_committed consumer notes when each
key's output appears; latency = visible - handed to the producer, both read on this process's
monotonic clock. Target: p99 <= LATENCY_TARGET_MS.
"""

from __future__ import annotations

import dataclasses
import gc
import io
import multiprocessing
import os
import statistics
import struct
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from backbone import schemas
from backbone.clients import KafkaClients
from backbone.events import Event, ShipmentMilestone
from backbone.kafka import admin_client
from backbone.registry import SchemaRegistry
from backbone.samples import (
    sample_inventory_snapshot,
    sample_purchase_order_changed,
    sample_shipment_milestone,
)
from backbone.serde import AvroSerde
from backbone.settings import load_settings
from bench.common import endpoints, latency_result, report, result
from processors.api import ProcessorTopics, processor
from processors.cli import logic_for
from processors.engine import IDLE_POLL_S, EngineOptions, build_application
from processors.shipment_status import processor as shipment_status
from processors.step import ProcessorLogic

EVENTS = 20_000
ROUNDS = int(os.environ.get("BENCH_PROCESSORS_ROUNDS", "5"))  # single rounds swing on 2 cores
LATENCY_RATE = int(os.environ.get("BENCH_PROCESSORS_LATENCY_RATE", "1000"))  # the figure
LATENCY_SECONDS = 10.0
LATENCY_TARGET_MS = 250.0
# as in the catalog: with more than one partition the routed processors re-key through a
# repartition topic, which costs them a second transaction before an output is visible
LATENCY_PARTITIONS = 3
LATENCY_COUNT = int(LATENCY_RATE * LATENCY_SECONDS) + 1  # the first one warms up
LATENCY_EVENTS = 2 * LATENCY_COUNT  # per case: the processor's, then the loop's
RAW = "logistics.shipment-milestone.raw.v1"
STATUS = "logistics.shipment-status.v1"
HEADER = struct.Struct(">bI")


# commit policies whose cost in throughput the bench measures (EngineOptions overrides);
# DEFAULT_POLICY is the settings' own, the one the throughput row reports
DEFAULT_POLICY = "settings (interval + idle commit)"
COMMIT_POLICIES: dict[str, dict[str, Any]] = {
    DEFAULT_POLICY: {},
    "interval 1 s only": {"commit_interval_s": 1.0, "idle_commit_s": 1.0},
    "interval 0.1 s only": {"commit_interval_s": 0.1, "idle_commit_s": 0.1},
    "interval 0.25 s + idle commit": {"commit_interval_s": 0.25},
    "linger 1 ms": {"linger_ms": 1.0},
}
if os.environ.get("BENCH_PROCESSORS_POLICIES") == "default":  # a quicker run
    COMMIT_POLICIES = {DEFAULT_POLICY: {}}


@dataclass(frozen=True)
class LatencyCase:
    """One processor's latency run: the input it is fed and the output whose keys are watched.

    Every event gets a key of its own, and the processor's output for it carries the same key.
    """

    processor: str
    input_topic: str
    output_topic: str
    event: Callable[[int], Event]


LATENCY_CASES = (
    LatencyCase("shipment-status", RAW, STATUS, lambda n: sample_shipment_milestone(seed=n)),
    LatencyCase("order-fulfillment", "procurement.purchase-order.v1",
                "procurement.order-line-status.v1",
                lambda n: sample_purchase_order_changed(seed=n)),
    # the sample snapshots repeat a few SKUs: a location per event keeps every key new
    LatencyCase("stock-reconciliation", "inventory.snapshot.v1", "inventory.position.v1",
                lambda n: sample_inventory_snapshot(seed=n, location=f"DC-B{n:07d}")),
)


# --- topics and input ------------------------------------------------------------------------


def processor_topics(bootstrap: str, name: str = "shipment-status",
                     partitions: int = 1) -> ProcessorTopics:
    """Every topic of processor ``name`` under a fresh short prefix."""
    spec = processor(name)
    topics = ProcessorTopics.prefixed(spec, f"b{uuid.uuid4().hex[:6]}")
    names = [topics.name(name) for name in spec.all_topics]
    admin = admin_client(bootstrap)  # kept alive until the futures resolve
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in names])
    for future in futures.values():
        future.result(timeout=30)
    return topics


def fresh_topic(bootstrap: str, partitions: int = 1) -> str:
    name = f"bench.plain.{uuid.uuid4().hex[:10]}"
    admin = admin_client(bootstrap)
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[
        name].result(timeout=30)
    return name


def encoded(serde: AvroSerde, topics: ProcessorTopics, events: Sequence[Event],
            catalog_name: str = RAW) -> list[tuple[str, bytes]]:
    entry = topics.topic(catalog_name)
    return [(entry.key_for(event) or "", serde.serialize(entry, event)) for event in events]


def produce_all(producer: Producer, topic: str, rows: list[tuple[str, bytes]]) -> None:
    for key, value in rows:
        _produce(producer, topic, key.encode(), value)
    if producer.flush(60):
        raise RuntimeError(f"records to {topic} not acknowledged within 60 s")


def _produce(producer: Producer, topic: str, key: bytes | None, value: bytes | None) -> None:
    while True:
        try:
            producer.produce(topic, key=key, value=value)
            producer.poll(0)
            return
        except BufferError:  # local queue full: let deliveries drain
            producer.poll(0.05)


def high_watermark(bootstrap: str, topic: str) -> int:
    consumer = Consumer({
        **KafkaClients.of(bootstrap).common(), "group.id": "bench-watermarks"})
    try:
        return int(consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1])
    finally:
        consumer.close()


# --- the two sides ---------------------------------------------------------------------------


class HandleClock:
    """Wraps the processor's reducer to note when the first and the last record were handled."""

    def __init__(self, logic: ProcessorLogic) -> None:
        self.first: float | None = None
        self.last = 0.0
        self._handle = logic.handle
        self.logic = dataclasses.replace(logic, handle=self.handle)

    def handle(self, key: str, topic: str, event: Event, stored: Any) -> Any:
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        self.last = now
        return self._handle(key, topic, event, stored)


def engine_options(bootstrap: str, topics: ProcessorTopics, state_dir: Path,
                   **commit_policy: Any) -> EngineOptions:
    """The settings' engine options (commit policy included, unless overridden) on fresh
    topics and a fresh group."""
    return EngineOptions.from_settings(
        load_settings(), shipment_status.SPEC, bootstrap,
        consumer_group=f"bench-{uuid.uuid4().hex[:8]}", state_dir=state_dir, topics=topics,
        loglevel="ERROR", **commit_policy)


def processor_rate(bootstrap: str, registry_url: str, topics: ProcessorTopics,
                   count: int, commit_policy: dict[str, Any]) -> float:
    """Events/s of shipment_status draining ``count`` waiting events (exactly-once)."""
    with tempfile.TemporaryDirectory(prefix="bench-processor-") as state_dir, \
            SchemaRegistry(registry_url) as registry:
        clock = HandleClock(shipment_status.logic(load_settings()))
        app, _ = build_application(
            clock.logic, AvroSerde(registry),
            engine_options(bootstrap, topics, Path(state_dir), **commit_policy))
        app.run(count=count, timeout=30.0, collect=False)
        if clock.first is None:
            raise RuntimeError("shipment_status handled no record within 30 s")
        return count / (clock.last - clock.first)


def plain_loop(bootstrap: str, source: str, target: str, output_id: int,
               count: int | None, idle_s: float = 30.0,
               record_name: str = ShipmentMilestone.RECORD_NAME) -> float:
    """Consume, fastavro decode, re-encode, produce; events/s from first record to flushed.

    Stops after ``count`` records, or (``count`` None) after ``idle_s`` without a record.
    """
    parsed = schemas.parsed(record_name)
    header = HEADER.pack(0, output_id)
    consumer = Consumer({
        **KafkaClients.of(bootstrap).common(), "group.id": f"plain-{uuid.uuid4().hex}",
        "auto.offset.reset": "earliest"})
    producer = Producer(KafkaClients.of(bootstrap).common())
    consumer.subscribe([source])
    handled = 0
    first: float | None = None
    last_seen = time.monotonic()
    try:
        while count is None or handled < count:
            # consume() waits for a full batch or its timeout: at a live rate a long timeout
            # would hold every record; the processor's own poll waits IDLE_POLL_S
            batch = consumer.consume(500, IDLE_POLL_S)
            if not batch:
                if count is None and time.monotonic() - last_seen > idle_s:
                    break
                continue
            last_seen = time.monotonic()
            for message in batch:
                if message.error() is not None:
                    continue
                if first is None:
                    first = time.perf_counter()
                record = fastavro.schemaless_reader(
                    io.BytesIO(message.value()[HEADER.size:]), parsed)
                buffer = io.BytesIO()
                buffer.write(header)
                fastavro.schemaless_writer(buffer, parsed, record)
                _produce(producer, target, message.key(), buffer.getvalue())
                handled += 1
        producer.flush(60)
    finally:
        consumer.close()
    if first is None:
        raise RuntimeError(f"the plain loop read nothing from {source}")
    return handled / (time.perf_counter() - first)


# --- latency ---------------------------------------------------------------------------------


def _serve_processor(bootstrap: str, registry_url: str, name: str, renamed: dict[str, str],
                     idle_s: float) -> None:
    """Child process: processor ``name`` with the settings' commit policy until idle."""
    settings = load_settings()
    with tempfile.TemporaryDirectory(prefix="bench-processor-") as state_dir, \
            SchemaRegistry(registry_url) as registry:
        app, _ = build_application(
            logic_for(name, settings), AvroSerde(registry),
            engine_options(bootstrap, ProcessorTopics(renamed), Path(state_dir)))
        app.run(timeout=idle_s, collect=False)


def _serve_plain(bootstrap: str, source: str, target: str, output_id: int,
                 idle_s: float, record_name: str) -> None:
    plain_loop(bootstrap, source, target, output_id, None, idle_s, record_name)


class Observer(threading.Thread):
    """Reads ``topic`` read_committed and notes when each key first became visible."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        super().__init__(daemon=True)
        self.seen: dict[bytes, float] = {}
        self.stop = threading.Event()
        self.consumer = Consumer({
            **KafkaClients.of(bootstrap).common(), "group.id": f"observer-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest", "isolation.level": "read_committed",
            "enable.auto.commit": False, "fetch.wait.max.ms": 10,
        })
        self.consumer.assign([TopicPartition(topic, n, 0) for n in range(partitions)])

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                # poll, not consume(n, timeout): consume returns only when it has n records or
                # the timeout passed, so at 1,000/s every record would be noted up to 50 ms late
                message = self.consumer.poll(0.05)
                if message is not None and message.error() is None and message.key() is not None:
                    self.seen.setdefault(message.key(), time.monotonic())
        finally:
            self.consumer.close()

    def wait_for(self, keys: list[bytes], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(key in self.seen for key in keys):
                return True
            time.sleep(0.05)
        return False


def p99_latency_ms(bootstrap: str, source: str, output: str, rows: list[tuple[str, bytes]],
                   rate: int, serve: Callable[..., None],
                   args: tuple[Any, ...]) -> tuple[float, float]:
    """(p99, p50) ms from handing each row to the producer to its output being visible.

    ``rows[0]`` is a warm-up record: load starts once its output is visible (the child process
    has joined its group and recovered its state).
    """
    warmup, load = rows[0], rows[1:]
    producer = Producer(KafkaClients.of(bootstrap).common())
    produce_all(producer, source, [warmup])
    observer = Observer(bootstrap, output, LATENCY_PARTITIONS)
    observer.start()
    child = multiprocessing.get_context("spawn").Process(target=serve, args=args, daemon=True)
    child.start()
    try:
        if not observer.wait_for([warmup[0].encode()], 90):
            raise RuntimeError(f"no output for the warm-up record on {output} within 90 s")
        sent: dict[bytes, float] = {}
        started = time.monotonic()
        for index, (key, value) in enumerate(load):
            due = started + index / rate
            while (now := time.monotonic()) < due:
                producer.poll(min(due - now, 0.002))
            sent[key.encode()] = time.monotonic()
            _produce(producer, source, key.encode(), value)
        producer.flush(30)
        if not observer.wait_for(list(sent), 60):
            missing = sum(1 for key in sent if key not in observer.seen)
            raise RuntimeError(f"{missing} of {len(sent)} outputs never became visible")
    finally:
        observer.stop.set()
        observer.join(10)
        child.join(60)
        if child.is_alive():
            child.terminate()
    latencies = sorted((observer.seen[key] - at) * 1000 for key, at in sent.items())
    return latencies[int(len(latencies) * 0.99) - 1], statistics.median(latencies)


def latency_row(case: LatencyCase, bootstrap: str, registry_url: str, serde: AvroSerde,
                first_seed: int) -> dict[str, Any]:
    """p99 of ``case``'s processor at LATENCY_RATE against the plain loop on the same input."""
    seeds = iter(range(first_seed, first_seed + LATENCY_EVENTS))
    live = processor_topics(bootstrap, case.processor, LATENCY_PARTITIONS)
    entry = live.topic(case.input_topic)
    record_name = entry.record
    ours_p99, ours_p50 = p99_latency_ms(
        bootstrap, live.name(case.input_topic), live.name(case.output_topic),
        encoded(serde, live, [case.event(next(seeds)) for _ in range(LATENCY_COUNT)],
                case.input_topic), LATENCY_RATE,
        _serve_processor, (bootstrap, registry_url, case.processor, dict(live.renamed), 5.0))
    source = fresh_topic(bootstrap, LATENCY_PARTITIONS)
    target = fresh_topic(bootstrap, LATENCY_PARTITIONS)
    plain_p99, plain_p50 = p99_latency_ms(
        bootstrap, source, target,
        encoded(serde, live, [case.event(next(seeds)) for _ in range(LATENCY_COUNT)],
                case.input_topic), LATENCY_RATE,
        _serve_plain, (bootstrap, source, target, serde.schema_id(entry), 5.0, record_name))
    return {
        **latency_result(f"processors: {case.processor} e2e p99 at {LATENCY_RATE}/s",
                         ours_p99, plain_p99, LATENCY_TARGET_MS, "plain loop p99"),
        "p50": round(ours_p50, 1), "baseline_p50": round(plain_p50, 1),
        "commit_interval_s": load_settings().processor_commit_interval_s,
        "idle_commit_s": load_settings().processor_idle_commit_s,
        "fetch_wait_ms": load_settings().processor_fetch_wait_ms,
        "linger_ms": load_settings().processor_linger_ms,
        "load_average": os.getloadavg()[0],
    }


# --- run -------------------------------------------------------------------------------------


def run() -> list[dict[str, Any]]:
    where = endpoints()
    bootstrap = where.bootstrap_servers
    events = [sample_shipment_milestone(seed=n) for n in range(EVENTS)]
    # the bench's own 40,000 sample events would otherwise be scanned by every full collection,
    # which only the side that allocates enough to trigger one (ours: ~0.5 s a round) pays for;
    # `backbone process` freezes its start-up objects the same way
    gc.freeze()
    with where.registry() as registry:
        serde = AvroSerde(registry)
        topics = processor_topics(bootstrap)
        rows = encoded(serde, topics, events[:EVENTS])
        produce_all(Producer(KafkaClients.of(bootstrap).common()), topics.name(RAW), rows)
        output_id = serde.schema_id(topics.topic(RAW))  # the loop re-encodes the same schema
        rates: dict[str, list[float]] = {name: [] for name in COMMIT_POLICIES}
        plain = []
        for _ in range(ROUNDS):  # interleaved so machine drift hits every side alike
            for name, policy in COMMIT_POLICIES.items():
                rates[name].append(
                    processor_rate(bootstrap, where.registry_url, topics, EVENTS, policy))
            plain.append(plain_loop(bootstrap, topics.name(RAW), fresh_topic(bootstrap),
                                    output_id, EVENTS))
        ours = rates[DEFAULT_POLICY]
        # this machine's speed drifts by up to 1.7x within a minute (a fixed pure-Python loop
        # does too): the ratio of each round's neighbours is the steadier second view
        paired = sorted(x / y for x, y in zip(ours, plain, strict=True))
        print(f"bench.processors: {EVENTS} events, {ROUNDS} rounds; events/s: plain loop "
              f"{[round(x) for x in plain]}")
        for name, values in rates.items():
            ratios = sorted(x / y for x, y in zip(values, plain, strict=True))
            print(f"  shipment_status, {name}: {[round(x) for x in values]}; ratio per round "
                  f"(sorted) {[round(x, 2) for x in ratios]}, median "
                  f"{statistics.median(ratios):.2f}")
        dead = high_watermark(bootstrap, topics.name("shipment-status.dlq.v1"))
        if dead:
            raise RuntimeError(f"{dead} dead letters: the bench events must all succeed")

        latency = [latency_row(case, bootstrap, where.registry_url, serde,
                               EVENTS + index * LATENCY_EVENTS)
                   for index, case in enumerate(LATENCY_CASES)]
    return [
        {**result("processors: shipment_status exactly-once vs plain loop",
                  statistics.median(ours), statistics.median(plain), 0.5, "events/s",
                  "consume+fastavro+produce"),
         "rounds": {"ours": [round(x) for x in ours], "plain": [round(x) for x in plain]},
         "median_round_ratio": round(statistics.median(paired), 3),
         "commit_policies": {name: {"rounds": [round(x) for x in values],
                                    "ratio_of_medians": round(statistics.median(values)
                                                              / statistics.median(plain), 3)}
                             for name, values in rates.items()}},
        *latency,
    ]


if __name__ == "__main__":
    report(run())
