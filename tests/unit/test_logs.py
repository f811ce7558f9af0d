"""Log lines are JSON and carry the trace ids of the record in hand."""

from __future__ import annotations

import json
import logging

from backbone.logs import JsonFormatter, current_context, log_context


def _format(message: str, **extra: object) -> dict[str, object]:
    record = logging.LogRecord("backbone.test", logging.WARNING, __file__, 1, message, (), None)
    for key, value in extra.items():
        setattr(record, key, value)
    return json.loads(JsonFormatter().format(record))  # type: ignore[no-any-return]


def test_lines_carry_bound_ids_and_extras() -> None:
    with log_context(correlation_id="PO-4711", traceparent="00-" + "a" * 32 + "-" + "b" * 16
                     + "-01", event_id=None):
        line = _format("dead-lettered", category="UNKNOWN_CODE")
    assert line["msg"] == "dead-lettered"
    assert line["level"] == "WARNING"
    assert line["correlation_id"] == "PO-4711"
    assert str(line["traceparent"]).startswith("00-aaaa")
    assert "event_id" not in line  # None values are not bound
    assert line["category"] == "UNKNOWN_CODE"
    assert str(line["ts"]).endswith("Z")


def test_context_is_restored_after_the_block() -> None:
    with log_context(correlation_id="outer"):
        with log_context(correlation_id="inner", event_id="e1"):
            assert current_context() == {"correlation_id": "inner", "event_id": "e1"}
        assert current_context() == {"correlation_id": "outer"}
    assert current_context() == {}
    assert "correlation_id" not in _format("no context")
