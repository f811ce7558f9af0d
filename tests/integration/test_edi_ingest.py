"""`EdiInbox` on the real broker: corpus files in, events and dead letters out, 997/999s
written, files moved; a resent interchange under another name publishes nothing; garbage is
quarantined fast and the loop carries on.

Each run gives the corpus copies a fresh ISA13, so idempotency keys and event ids are unique
to the run and the shared catalog topics can be filtered by them.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient

from backbone.kafka import apply_topics, consumer_config
from backbone.registry import SchemaRegistry
from backbone.serde import AvroSerde
from backbone.topics import topic
from connectors.edi_x12 import read_file
from connectors.edi_x12.ingest import DeadLetters, EdiInbox
from connectors.edi_x12.mapping import map_transaction_set
from producers import EventPublisher
from tests.conftest import TopicFactory
from tests.unit.edi_x12.conftest import CORPUS_DIR

pytestmark = pytest.mark.integration

FILES = ["node-x12__855.edi", "staedi__ts214_ellipses_segterm.edi",
         "x12-types__test_214__parse_214_2.edi", "x12-types___850_test__parse_850_1.edi",
         "EdiEngine__NonEdi.edi"]
TOPICS = ["procurement.supplier-ack.v1", "logistics.shipment-milestone.raw.v1",
          "procurement.purchase-order.v1"]


def with_control_number(data: bytes, control: str) -> bytes:
    """The interchange with ISA13 and IEA02 replaced (ISA13 = 13th element of the ISA)."""
    start = data.index(b"ISA")
    separator = data[start + 3:start + 4]
    parts = data[start:].split(separator, 14)
    parts[13] = control.encode()
    rebuilt = data[:start] + separator.join(parts)
    return re.sub(rb"IEA" + re.escape(separator) + rb"(\d+)" + re.escape(separator) + rb"\w+",
                  b"IEA" + separator + rb"\1" + separator + control.encode(), rebuilt)


@pytest.fixture
def serde(registry_url: str) -> Iterator[AvroSerde]:
    registry = SchemaRegistry(registry_url)
    yield AvroSerde(registry)
    registry.close()


def _event_ids(bootstrap: str, names: list[str], group: str, wanted: set[str],
               timeout_s: float = 30.0) -> dict[str, int]:
    """How many times each wanted event id (header) was seen on `names`."""
    consumer = Consumer(consumer_config(bootstrap, group, **{"auto.offset.reset": "earliest"}))
    consumer.subscribe(names)
    seen: dict[str, int] = {}
    deadline = time.monotonic() + timeout_s
    idle_since = None
    try:
        while time.monotonic() < deadline:
            batch = consumer.consume(1000, timeout=0.5)
            if not batch:
                # All found and the topics drained for a moment: duplicates would be there.
                if wanted <= set(seen):
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since > 2:
                        break
                continue
            idle_since = None
            for message in batch:
                if message.error():
                    continue
                event_id = dict(message.headers() or []).get("event_id", b"").decode()
                if event_id in wanted:
                    seen[event_id] = seen.get(event_id, 0) + 1
    finally:
        consumer.close()
    return seen


def test_ingest_publishes_acknowledges_moves_and_never_republishes(
    tmp_path: Path, admin: AdminClient, bootstrap_servers: str, serde: AvroSerde,
    topic_factory: TopicFactory, group_id: str,
) -> None:
    apply_topics(admin, [topic(name) for name in TOPICS])
    dlq = topic_factory()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    expected: set[str] = set()
    for n, name in enumerate(FILES):
        data = (CORPUS_DIR / name).read_bytes()
        if data.startswith(b"ISA"):
            data = with_control_number(data, f"{random.randrange(10**8, 10**9)}")
        (inbox / name).write_bytes(data)
        if data.startswith(b"ISA"):
            expected |= {e.event_id for r in read_file(inbox / name) if r.accepted
                         for e in map_transaction_set(r, file=name)}
        # Oldest first: make the order explicit.
        (inbox / name).touch()
        time.sleep(0.01 * (n + 1))
    garbage = inbox / "garbage.edi"
    garbage.write_bytes(b"ISA*" + b"\x8f" * 1_048_576)
    assert len(expected) == 1 + 2 + 1 + 1

    with EventPublisher(bootstrap_servers, serde) as publisher:
        ingest = EdiInbox(inbox, publisher, DeadLetters(bootstrap_servers, dlq), log=lambda _: None)
        started = time.monotonic()
        outcomes = {o.file: o for o in ingest.run_once()}
        elapsed = time.monotonic() - started

        assert sorted(outcomes) == sorted([*FILES, "garbage.edi"])
        assert outcomes["garbage.edi"].quarantined and outcomes["EdiEngine__NonEdi.edi"].quarantined
        assert (tmp_path / "failed" / "garbage.edi").exists()
        error = (tmp_path / "failed" / "garbage.edi.error.txt").read_text()
        assert error.startswith("garbage.edi:") and "ISA" in error
        assert (tmp_path / "failed" / "EdiEngine__NonEdi.edi.error.txt").exists()
        # bounded, not timed: 1 MB of garbage must not be scanned for minutes (a generous
        # bound; the per-file "under a second" is checked in tests/unit/edi_x12/test_envelope.py)
        assert elapsed < 120
        for name in FILES[:4]:
            assert (tmp_path / "processed" / name).exists()
        assert list(inbox.iterdir()) == []
        partial = outcomes["x12-types__test_214__parse_214_2.edi"]
        assert (partial.published, partial.dead_letters) == (1, 1)
        report = (tmp_path / "processed" / "x12-types__test_214__parse_214_2.edi.report.txt")
        assert "SE02 control number '001 N/L'" in report.read_text()
        assert sum(o.published for o in outcomes.values()) == len(expected)
        acks = sorted(p.suffix for p in (tmp_path / "outbound").iterdir())
        assert acks == [".997", ".997", ".997", ".999"]
        ack_214 = next(p for p in (tmp_path / "outbound").iterdir()
                       if p.name.startswith("x12-types__test_214"))
        assert "AK5*R*3" in ack_214.read_text() and "AK5*A" in ack_214.read_text()

        seen = _event_ids(bootstrap_servers, TOPICS, group_id, expected)
        assert seen == {event_id: 1 for event_id in expected}

        # The partner resends the 855 interchange under another name: nothing is published.
        resent = inbox / "resend-of-855.edi"
        resent.write_bytes((tmp_path / "processed" / "node-x12__855.edi").read_bytes())
        (again,) = EdiInbox(inbox, publisher, DeadLetters(bootstrap_servers, dlq),
                            log=lambda _: None).run_once()
        assert (again.published, again.quarantined) == (0, False)
        assert again.duplicate_interchanges
        assert (tmp_path / "processed" / "resend-of-855.edi").exists()
        assert len(list((tmp_path / "outbound").iterdir())) == 5  # the resend is acknowledged

    seen_again = _event_ids(bootstrap_servers, TOPICS, group_id + "-2", expected)
    assert seen_again == {event_id: 1 for event_id in expected}
    dead = _dead_letters(bootstrap_servers, dlq, group_id + "-dlq")
    assert len(dead) == 1
    value, headers = dead[0]
    assert value.startswith(b"ST*214*001*") or value.startswith(b"ST*214*001~")
    assert "SE02 control number" in headers["backbone.dlq.exception.message"]
    assert headers["backbone.dlq.source.file"] == "x12-types__test_214__parse_214_2.edi"
    assert (headers["backbone.dlq.stage"], headers["backbone.dlq.owner"]) == (
        "connector", "edi-x12")


def _dead_letters(bootstrap: str, name: str, group: str) -> list[tuple[bytes, dict[str, str]]]:
    consumer = Consumer(consumer_config(bootstrap, group, **{"auto.offset.reset": "earliest"}))
    consumer.subscribe([name])
    found = []
    try:
        for _ in range(20):
            for message in consumer.consume(100, timeout=0.5):
                if not message.error():
                    headers = {k: (v or b"").decode() for k, v in message.headers() or []}
                    found.append((message.value(), headers))
            if found:
                break
    finally:
        consumer.close()
    return found


def test_undelivered_events_send_the_file_to_failed_and_leave_the_ledger_alone(
    tmp_path: Path, serde: AvroSerde,
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    data = with_control_number((CORPUS_DIR / "node-x12__855.edi").read_bytes(),
                               f"{random.randrange(10**8, 10**9)}")
    (inbox / "po-ack.edi").write_bytes(data)
    # Nothing listens on port 1: no delivery report can come back within the flush timeout.
    publisher = EventPublisher("127.0.0.1:1", serde, flush_timeout_s=1.0,
                               **{"message.timeout.ms": 1500})
    dead_letters = DeadLetters("127.0.0.1:1")
    try:
        (outcome,) = EdiInbox(inbox, publisher, dead_letters, flush_timeout_s=1.0,
                              log=lambda _: None).run_once()
    finally:
        # serve the timed-out reports: their callbacks hold the publisher, which otherwise
        # lives (and retries port 1) until the whole test run ends
        publisher.flush(10)
    assert outcome.quarantined
    assert outcome.moved_to == tmp_path / "failed" / "po-ack.edi"
    report = (tmp_path / "failed" / "po-ack.edi.error.txt").read_text()
    assert "events not delivered" in report and "move the file back to the inbox" in report
    assert not (tmp_path / "state" / "edi-interchanges.json").exists()
    assert not (tmp_path / "outbound").exists()


def test_acknowledgments_are_not_acknowledged_and_group_errors_reach_ak9(
    tmp_path: Path, bootstrap_servers: str, serde: AvroSerde, topic_factory: TopicFactory,
) -> None:
    """A partner's 997 (GS01 FA) gets no 997 back; a group whose GE01 miscounts its sets
    (EdiEngine WrongGroupsAndTranCount: GE*2 for one 940) gets AK9*E with code 5; a partner
    asking for a TA1 (ISA14 1) whose IEA02 is wrong gets TA1 E 001."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("staedi__simple997.edi", "EdiEngine__WrongGroupsAndTranCount.edi",
                 "EdiEngine__ControlNumbersMismatch.edi"):
        data = with_control_number((CORPUS_DIR / name).read_bytes(),
                                   f"{random.randrange(10**8, 10**9)}")
        (inbox / name).write_bytes(data)
    # The mismatch file's partner asks for a TA1 (ISA14 1); its IEA02 does not match ISA13.
    mismatch = inbox / "EdiEngine__ControlNumbersMismatch.edi"
    data = mismatch.read_bytes().replace(b"*0*P*>", b"*1*P*>", 1)
    mismatch.write_bytes(re.sub(rb"IEA\*1\*\d+", b"IEA*1*000000001", data))
    with EventPublisher(bootstrap_servers, serde) as publisher:
        outcomes = {o.file: o for o in EdiInbox(
            inbox, publisher, DeadLetters(bootstrap_servers, topic_factory()),
            log=lambda _: None).run_once()}
    assert outcomes["staedi__simple997.edi"].acknowledgements == []
    (ack,) = outcomes["EdiEngine__WrongGroupsAndTranCount.edi"].acknowledgements
    assert "AK9*E*1*1*1*5~" in ack.read_text()
    acks = outcomes["EdiEngine__ControlNumbersMismatch.edi"].acknowledgements
    (ta1,) = [p for p in acks if p.suffix == ".ta1"]
    assert "*E*001~" in ta1.read_text().splitlines()[1]
