"""What security costs: produce throughput and connection set-up, SASL_SSL and mTLS vs PLAINTEXT.

The same 20,000 pre-encoded records (~300 bytes, the size of a ShipmentMilestone) are produced
with backbone's producer settings (idempotent, acks=all, linger 5 ms, lz4) to fresh 3-partition
topics, waiting for every delivery report: over the plain local stack's PLAINTEXT listener (the
baseline) and over the secured stack's SASL_SSL (SCRAM-SHA-512) and mTLS listeners, both brokers
being the same Kafka with the same JVM settings on this machine. Rounds interleave; medians.
Also the time from a new client to its first metadata answer (what every command pays once,
and what ``check_access`` adds), as connections per second.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from backbone import acls
from backbone.clients import KafkaClients
from backbone.settings import load_settings
from backbone.stack.secure import SecureStack
from bench.common import endpoints, report, result

RECORDS = 20_000
ROUNDS = 3
CONNECTS = 10


def _fresh_topic(kafka: KafkaClients) -> str:
    name = f"bench.secure.{uuid.uuid4().hex[:10]}"
    admin = AdminClient(kafka.admin())
    admin.create_topics([NewTopic(name, 3, 1)])[name].result(timeout=30)
    return name


def _produce(kafka: KafkaClients, value: bytes) -> float:
    """Records per second, from the first produce to the last delivery report."""
    name = _fresh_topic(kafka)
    producer = Producer(kafka.producer())
    producer.list_topics(name, timeout=10)  # connected and authenticated before the clock
    failures: list[Any] = []
    started = time.perf_counter()
    for number in range(RECORDS):
        while True:
            try:
                producer.produce(name, key=str(number % 500).encode(), value=value,
                                 on_delivery=lambda e, _m: failures.append(e) if e else None)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    producer.flush(120)
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} deliveries failed: {failures[0]}")
    return RECORDS / elapsed


def _connects(kafka: KafkaClients) -> float:
    """New admin clients per second, each until its first metadata answer."""
    started = time.perf_counter()
    for _ in range(CONNECTS):
        AdminClient(kafka.admin()).list_topics(timeout=20)
    return CONNECTS / (time.perf_counter() - started)


def run() -> list[dict[str, Any]]:
    plain = KafkaClients(endpoints().bootstrap_servers)
    settings = load_settings()
    if os.environ.get("BACKBONE_SECURE_PORT_BASE") is None:
        settings = load_settings(secure_port_base=settings.secure_port_base)
    secured = SecureStack(settings).up()
    sides = {"PLAINTEXT": plain, "SASL_SSL": secured.kafka(acls.ADMIN),
             "mTLS": secured.kafka(acls.ADMIN, mtls=True)}
    value = os.urandom(150) * 2  # lz4 halves it, as it does a JSON-ish Avro record
    rates: dict[str, list[float]] = {side: [] for side in sides}
    connects: dict[str, list[float]] = {side: [] for side in sides}
    order = list(sides)
    for round_number in range(ROUNDS):
        # each side goes first once: the machine's load drifts within a round
        for side in order[round_number % len(order):] + order[:round_number % len(order)]:
            rates[side].append(_produce(sides[side], value))
            connects[side].append(_connects(sides[side]))
    print("records/s per round: " + "; ".join(
        f"{side} {', '.join(f'{rate:,.0f}' for rate in values)}" for side, values in rates.items()))
    median = {side: statistics.median(values) for side, values in rates.items()}
    connect = {side: statistics.median(values) for side, values in connects.items()}
    rows = [
        result("secure: produce over SASL_SSL (SCRAM)", median["SASL_SSL"], median["PLAINTEXT"],
               0.7, "records/s", "PLAINTEXT"),
        result("secure: produce over mTLS", median["mTLS"], median["PLAINTEXT"], 0.7,
               "records/s", "PLAINTEXT"),
        result("secure: new client to metadata, SASL_SSL", connect["SASL_SSL"],
               connect["PLAINTEXT"], 0.1, "clients/s", "PLAINTEXT"),
        result("secure: new client to metadata, mTLS", connect["mTLS"], connect["PLAINTEXT"],
               0.1, "clients/s", "PLAINTEXT"),
    ]
    return rows


if __name__ == "__main__":
    report(run())
