"""The dead-letter record every stage writes: headers out, the same record back (pure)."""

from __future__ import annotations

from backbone import dead_letters as dl
from backbone.dead_letters import DeadLetter, Stage
from backbone.errors import SchemaValidationError

AT = 1_700_000_100_000


def test_a_source_record_round_trips_through_its_headers() -> None:
    record = DeadLetter(stage="connector", owner="wms-feed", category="SCHEMA_VALIDATION",
                        message="counts.csv row 3: qty 'x' is not a number", attempt=1,
                        first_failure_ms=AT, last_failure_ms=AT, business_key="counts.csv:3",
                        source={"file": "counts.csv", "row": "3", "columns": "sku,qty"},
                        correlation_id="c-1", traceparent="00-" + "a" * 32 + "-" + "b" * 16
                        + "-01")
    headers = record.to_headers()
    assert all(name.startswith(dl.PREFIX) for name, _ in headers)
    assert dict(headers)[dl.SOURCE_PREFIX + "file"] == b"counts.csv"
    assert dict(headers)[dl.FIRST_FAILURE] == b"2023-11-14T22:15:00.000Z"
    assert DeadLetter.from_headers(headers) == record
    assert record.location == "file=counts.csv row=3"


def test_from_error_redacts_names_the_class_and_times_the_failure() -> None:
    try:
        raise SchemaValidationError("login to postgresql://erp:hunter2@db failed")
    except SchemaValidationError as error:
        record = DeadLetter.from_error(error, stage=Stage.PROCESSOR, owner="p", at_ms=AT,
                                       original_topic="raw.v1", original_partition=0,
                                       original_offset=9)
    assert "hunter2" not in record.message and "hunter2" not in (record.stacktrace or "")
    assert record.exception_class == "backbone.errors.SchemaValidationError"
    assert (record.category, record.first_failure_ms, record.location) == (
        "SCHEMA_VALIDATION", AT, "raw.v1:0:9")


def test_headers_of_earlier_versions_keep_owner_stage_time_and_place() -> None:
    connector = [(b, v.encode()) for b, v in [
        ("backbone.dlq.connector", "erp-outbox"), ("backbone.dlq.stage", "source"),
        ("backbone.dlq.category", "UNKNOWN_CODE"),
        ("backbone.dlq.first_failure_time", "2023-11-14T22:15:00.000Z"),
        ("backbone.dlq.outbox_id", "row-7"), ("backbone.dlq.outbox_seq", "7")]]
    record = DeadLetter.from_headers(connector)
    assert (record.stage, record.owner, record.step) == ("connector", "erp-outbox", "source")
    assert record.first_failure_ms == AT
    assert record.location == "outbox_id=row-7 outbox_seq=7"
    processor = [("backbone.dlq.processor", b"shipment-status"), ("backbone.dlq.stage", b"map"),
                 ("backbone.dlq.last.failure", str(AT).encode())]
    record = DeadLetter.from_headers(processor)
    assert (record.stage, record.owner, record.step, record.last_failure_ms) == (
        "processor", "shipment-status", "map", AT)


def test_unreadable_values_are_problems_never_exceptions() -> None:
    record = DeadLetter.from_headers([(dl.LAST_FAILURE, b"yesterday"), (dl.ATTEMPT, b"\xff"),
                                      (dl.CATEGORY, b"NOPE")])
    assert record.last_failure_ms is None and record.attempt == 1
    assert [p.split()[1] for p in record.problems] == [
        dl.CATEGORY, dl.ATTEMPT, dl.ATTEMPT, dl.LAST_FAILURE]
