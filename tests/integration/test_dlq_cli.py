"""`backbone dlq` on the real broker, on fresh topics (``--topic-prefix``, ``--audit-topic``)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import Producer
from typer.testing import CliRunner

from backbone import dead_letters as dl
from backbone.errors import DecodeError, UnknownCodeError
from backbone.registry import SchemaRegistry
from backbone.samples import sample_shipment_milestone
from backbone.serde import AvroSerde
from backbone.topics import topic as catalog_topic
from processors.dead_letters import RETRY_ATTEMPT_HEADER, dead_letter_record
from processors.dlq.cli import app
from processors.dlq.dialects import DeadLetterMessage, read_dead_letter
from processors.dlq.reading import read_topics, reader
from tests.conftest import TopicFactory

pytestmark = pytest.mark.integration

RAW = "logistics.shipment-milestone.raw.v1"


@dataclass
class Rig:
    prefix: str
    dlq: str
    retry: str
    raw: str
    audit: str
    bootstrap: str
    runner: CliRunner

    def run(self, *args: str) -> tuple[int, str, str]:
        result = self.runner.invoke(app, list(args))
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.stdout, result.stderr

    def common(self) -> list[str]:
        return ["--processor", "shipment-status", "--topic-prefix", self.prefix,
                "--audit-topic", self.audit]

    def audit_events(self) -> list[dict[str, Any]]:
        return [json.loads(letter.value or b"") for letter in self.read(self.audit)]

    def read(self, topic: str) -> list[DeadLetterMessage]:
        consumer = reader(self.bootstrap)
        try:
            return [read_dead_letter(m) for m in read_topics(consumer, [topic])]
        finally:
            consumer.close()


def _dead_letter(error: BaseException, **fields: object) -> tuple[bytes | None, bytes | None,
                                                                   dl.Headers]:
    try:
        raise error
    except BaseException as raised:
        arguments: dict[str, object] = dict(
            partition=0, timestamp_ms=1_700_000_000_000, processor="shipment-status",
            stage="map", error=raised, attempt=1, first_failure_ms=None, correlation_id=None,
            headers=[("traceparent", b"00-" + b"a" * 32 + b"-" + b"b" * 16 + b"-01"),
                     ("correlation_id", b"corr-" + str(fields["offset"]).encode())],
        )
        arguments.update(fields)
        return dead_letter_record(**arguments)  # type: ignore[arg-type]


@pytest.fixture
def rig(bootstrap_servers: str, registry_url: str, topic_factory: TopicFactory,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", bootstrap_servers)
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", registry_url)
    prefix = f"t{uuid.uuid4().hex[:10]}"
    rig = Rig(
        prefix=prefix,
        dlq=topic_factory(1, name=f"{prefix}.shipment-status.dlq.v1"),
        retry=topic_factory(3, name=f"{prefix}.shipment-status.retry.v1"),
        raw=topic_factory(1, name=f"{prefix}.{RAW}"),
        audit=topic_factory(1, name=f"{prefix}.audit"),
        bootstrap=bootstrap_servers,
        runner=CliRunner(),
    )
    raw_topic = dataclasses.replace(catalog_topic(RAW), name=rig.raw)
    with SchemaRegistry(registry_url) as registry:
        valid = AvroSerde(registry).serialize(raw_topic, sample_shipment_milestone(1))
    records = [
        _dead_letter(UnknownCodeError("UPS code 'ZZ' has no mapping"), key=b"UPS:1Z0001",
                     value=valid, original_topic=rig.raw, offset=10, business_key="UPS:1Z0001"),
        _dead_letter(DecodeError("magic byte 0x47, expected 0x00 (password=hunter2)"),
                     key=b"UPS:1Z0002", value=b"GARBAGE\xff\x00", original_topic=rig.raw,
                     offset=11, business_key=None),
        # replayed three times already and failed again: the loop guard parks it
        _dead_letter(UnknownCodeError("still unmapped"), key=b"UPS:1Z0003", value=valid,
                     original_topic=rig.raw, offset=12, business_key="UPS:1Z0003",
                     headers=[(dl.REPLAY_COUNT, b"3"), (dl.REPLAY_ID, b"replay-old")]),
    ]
    mangled = [(dl.ORIGINAL_TOPIC, rig.raw.encode()), (dl.ORIGINAL_OFFSET, b"not-a-number"),
               (dl.CATEGORY, b"\xff\xfe\xfd"), (dl.OWNER, b"shipment-status"),
               (dl.LAST_FAILURE, b"yesterday")]
    producer = Producer({"bootstrap.servers": bootstrap_servers, "enable.idempotence": True})
    for key, value, headers in records:
        producer.produce(rig.dlq, key=key, value=value, headers=headers)
    producer.produce(rig.dlq, key=b"UPS:1Z0004", value=b"\x00\x01", headers=mangled)
    assert producer.flush(30) == 0
    yield rig


def test_list_show_stats(rig: Rig) -> None:
    code, out, _ = rig.run("list", *rig.common(), "--json")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [row["offset"] for row in rows] == [0, 1, 2, 3]
    assert rows[0]["category"] == "UNKNOWN_CODE"
    assert rows[0]["original"] == {"topic": rig.raw, "partition": 0, "offset": 10,
                                   "timestamp": "2023-11-14T22:13:20.000Z"}
    assert "hunter2" not in out
    mangled = rows[3]
    assert mangled["original"]["topic"] == rig.raw and mangled["original"]["offset"] is None
    assert any(dl.ORIGINAL_OFFSET in problem for problem in mangled["problems"])

    code, table, _ = rig.run("list", *rig.common())
    assert code == 0
    assert f"{rig.dlq}:0:3" in table and "UNKNOWN_CODE" in table and "unreadable" in table

    code, out, _ = rig.run("stats", *rig.common(), "--json")
    counts = json.loads(out)
    assert counts["total"] == 4
    assert counts["by_category"]["UNKNOWN_CODE"] == 2
    assert counts["by_category"]["DESERIALIZATION"] == 1

    code, out, _ = rig.run("show", "0:0", *rig.common(), "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["value"]["event_type"] == "ShipmentMilestone"
    assert shown["headers"][dl.CATEGORY] == "UNKNOWN_CODE"
    assert shown["headers"]["traceparent"].startswith("00-aaaa")
    code, out, _ = rig.run("show", "0:1", *rig.common(), "--json")
    assert json.loads(out)["value"]["hex"].startswith(b"GARBAGE".hex())


def test_filters(rig: Rig) -> None:
    def offsets(*filters: str) -> list[int]:
        code, out, _ = rig.run("list", *rig.common(), "--json", *filters)
        assert code == 0
        return [json.loads(line)["offset"] for line in out.splitlines()]

    assert offsets("--category", "deserialization") == [1]
    assert offsets("--key-contains", "1z0003") == [2]
    assert offsets("--offsets", "0:1-2") == [1, 2]
    # the mangled one's failure time is unreadable: its own timestamp (now) stands in
    assert offsets("--since", "2h") == [0, 1, 2, 3]
    assert offsets("--until", "2h") == []
    code, out, err = rig.run("list", *rig.common(), "--category", "ILLEGAL_TRANSITION")
    assert code == 0 and out == ""
    assert "no dead letters match" in err and "ILLEGAL_TRANSITION" in err


def test_missing_topic_is_named(rig: Rig) -> None:
    code, _, err = rig.run("list", "--topic", f"{rig.prefix}.nothing.dlq.v1")
    assert code == 2
    assert f"{rig.prefix}.nothing.dlq.v1 does not exist" in err


def test_replay_once_then_skip_then_force_and_audit(rig: Rig) -> None:
    code, _, err = rig.run("replay", *rig.common())
    assert code == 2 and "--yes" in err
    assert rig.read(rig.retry) == []

    code, out, err = rig.run("replay", *rig.common(), "--yes", "--json", "--reason", "INC-42")
    assert code == 0, err
    first = json.loads(out)
    assert first["counts"] == {"selected": 4, "replayed": 3, "skipped_already_replayed": 0,
                               "parked": 1, "failed": 0}
    replayed = rig.read(rig.retry)
    assert len(replayed) == 3
    by_of = {dict(r.headers)[dl.REPLAY_OF].decode(): r for r in replayed}
    assert set(by_of) == {f"{rig.dlq}:0:0", f"{rig.dlq}:0:1", f"{rig.dlq}:0:3"}
    copy = by_of[f"{rig.dlq}:0:0"]
    headers = dict(copy.headers)
    assert copy.key == b"UPS:1Z0001"
    assert headers[dl.REPLAY_ID].decode() == first["replay_id"]
    assert headers[dl.ORIGINAL_TOPIC].decode() == rig.raw
    assert headers[dl.ORIGINAL_OFFSET] == b"10"
    assert headers[dl.REPLAY_COUNT] == b"1"
    assert headers[RETRY_ATTEMPT_HEADER] == b"0"
    assert headers["correlation_id"] == b"corr-10"
    assert dl.EXCEPTION_MESSAGE not in headers
    assert headers["traceparent"].startswith(b"00-" + b"a" * 32)  # same trace, new span
    assert headers["traceparent"] != b"00-" + b"a" * 32 + b"-" + b"b" * 16 + b"-01"

    code, out, _ = rig.run("replay", *rig.common(), "--yes", "--json")
    assert code == 0
    assert json.loads(out)["counts"]["replayed"] == 0
    assert json.loads(out)["counts"]["skipped_already_replayed"] == 3
    assert len(rig.read(rig.retry)) == 3

    code, out, _ = rig.run("replay", *rig.common(), "--yes", "--json", "--force",
                           "--offsets", "0:0")
    assert json.loads(out)["counts"]["replayed"] == 1
    again = [r for r in rig.read(rig.retry) if dict(r.headers)[dl.REPLAY_OF].endswith(b":0:0")]
    assert sorted(dict(r.headers)[dl.REPLAY_COUNT] for r in again) == [b"1", b"2"]

    events = rig.audit_events()
    assert [e["counts"]["replayed"] for e in events] == [3, 0, 1]
    assert events[0]["replay_id"] == first["replay_id"]
    assert events[0]["reason"] == "INC-42" and events[0]["operator"]
    assert events[0]["target_topic"] == rig.retry
    assert events[0]["records"] == {rig.dlq: {"0": [[0, 1], [3, 3]]}}
    assert events[0]["parked"] == {rig.dlq: {"0": [[2, 2]]}}
    assert events[2]["filters"]["offsets"] == ["0:0-0"]


def test_dry_run_predicts_and_produces_nothing(rig: Rig) -> None:
    code, out, err = rig.run("replay", *rig.common(), "--dry-run", "--json")
    assert code == 0, err
    verdicts = {json.loads(line)["coordinates"]: json.loads(line) for line in out.splitlines()}
    assert len(verdicts) == 4
    garbage = verdicts[f"{rig.dlq}:0:1"]
    assert not garbage["succeeds"] and garbage["verdict"].startswith("still fails: DESERIALIZ")
    assert "nothing was produced" in err
    assert rig.read(rig.retry) == []
    assert rig.read(rig.audit) == []


def test_purge_hides_and_is_audited(rig: Rig) -> None:
    code, _, err = rig.run("purge", *rig.common(), "--offsets", "0:1")
    assert code == 2 and "--yes" in err
    code, out, _ = rig.run("purge", *rig.common(), "--offsets", "0:1", "--yes")
    assert code == 0 and "1 dead letter(s) marked purged" in out
    code, out, _ = rig.run("list", *rig.common(), "--json")
    assert [json.loads(line)["offset"] for line in out.splitlines()] == [0, 2, 3]
    code, out, _ = rig.run("replay", *rig.common(), "--yes", "--json")
    assert json.loads(out)["counts"]["selected"] == 3
    assert all(not dict(r.headers)[dl.REPLAY_OF].endswith(b":0:1") for r in rig.read(rig.retry))
    actions = [event["action"] for event in rig.audit_events()]
    assert actions == ["purge", "replay"]


def test_foreign_dead_letters_are_listed(rig: Rig, topic_factory: TopicFactory) -> None:
    foreign = topic_factory(1)
    producer = Producer({"bootstrap.servers": rig.bootstrap})
    producer.produce(foreign, key=b"k", value=b"{}", headers=[
        ("__connect.errors.topic", b"erp.orders"), ("__connect.errors.partition", b"2"),
        ("__connect.errors.offset", b"77"), ("__connect.errors.stage", b"VALUE_CONVERTER"),
        ("__connect.errors.exception.message", b"Unknown magic byte!")])
    producer.produce(foreign, key=b"k2", value=b"{}", headers=[
        ("kafka_dlt-original-topic", b"orders"),
        ("kafka_dlt-original-partition", (5).to_bytes(4, "big")),
        ("kafka_dlt-original-offset", (123456).to_bytes(8, "big"))])
    assert producer.flush(30) == 0
    code, out, _ = rig.run("list", "--topic", foreign, "--audit-topic", rig.audit, "--json")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["dialect"], r["original"]["offset"]) for r in rows] == [("connect", 77),
                                                                     ("spring", 123456)]
