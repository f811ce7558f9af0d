"""ERP outbox payloads, fuzzed: any payload text maps to a canonical event or is an
UnmappableRow (a dead letter), never another exception."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from connectors.erp_outbox.mapping import OutboxRow, UnmappableRow, map_row
from tests.unit.connectors.test_erp_outbox_mapping import sample_rows
from tests.unit.fuzz.canonical import assert_published_intact
from tests.unit.fuzz.strategies import inputs

NOW = datetime(2026, 3, 3, tzinfo=UTC)
SAMPLES = [row for row in sample_rows() if row.aggregatetype in ("PurchaseOrder", "Stock")]
KINDS = sorted({(row.aggregatetype, row.type) for row in sample_rows()})

# Values that broke or nearly broke the mapping: numbers past every limit, text Avro cannot
# hold, dates outside the calendar in UTC, and containers where a scalar belongs.
EDGES = st.one_of(
    st.sampled_from([None, True, "", "ten", "1e999999", "-1E-999999", "NaN", "Infinity",
                     "999999999999", "99999999999999", "0.0000001", "-0", 10**4000,
                     "1" * 5000, "\ud800", "0001-01-01T00:00:00+05:00",
                     "9999-12-31T23:59:59-05:00", "2026-03-02", "2026-03-02T11:05:00",
                     [], {}, [[[]]], {"id": {"id": None}}]),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.integers(), st.floats(), st.text(max_size=40),
)


@st.composite
def edited(draw: st.DrawFn) -> tuple[str, str, str]:
    """A sample payload with values at random paths replaced by EDGES."""
    row = draw(st.sampled_from(SAMPLES))
    payload = json.loads(row.payload, parse_float=Decimal)
    for _ in range(draw(st.integers(1, 4))):
        target: Any = payload
        while isinstance(target, dict | list) and target and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(target) if isinstance(target, dict)
                                       else range(len(target))))
            if not isinstance(target[key], dict | list):
                break
            target = target[key]
        if isinstance(target, dict) and target:
            target[draw(st.sampled_from(sorted(target)))] = draw(EDGES)
        elif isinstance(target, list) and target:
            target[draw(st.integers(0, len(target) - 1))] = draw(EDGES)
    kind = draw(st.sampled_from(KINDS)) if draw(st.integers(0, 9)) == 0 else \
        (row.aggregatetype, row.type)
    return (*kind, json.dumps(payload, default=str))


# Quantities and prices up to and past what the model takes (decimal(18, 6) and (18, 4):
# 12 and 14 integer digits); hypothesis favours the bounds, where qty x price broke the total.
def numbers(integer_digits: int) -> st.SearchStrategy[object]:
    bound = 10**integer_digits
    return st.one_of(st.integers(-bound + 1, bound - 1), st.integers(-bound * 10, bound * 10),
                     st.decimals(min_value=-bound, max_value=bound, places=7))


@st.composite
def priced(draw: st.DrawFn) -> tuple[str, str, str]:
    """A sample purchase order whose lines carry drawn quantities and prices."""
    row = draw(st.sampled_from([r for r in SAMPLES if r.aggregatetype == "PurchaseOrder"
                                and json.loads(r.payload).get("lines")]))
    payload = json.loads(row.payload)
    for line in payload["lines"]:
        line["qty"], line["unit_price"] = str(draw(numbers(12))), str(draw(numbers(14)))
    return row.aggregatetype, row.type, json.dumps(payload)


def maps_or_dead_letters(aggregatetype: str, type_: str, payload: str) -> None:
    row = OutboxRow(7, "11111111-2222-3333-4444-555555555555", aggregatetype, "agg", type_,
                    payload, NOW)
    try:
        event = map_row(row, instance="erp", recorded_at=NOW)
    except UnmappableRow as error:
        assert str(error).startswith("outbox row 11111111-2222-3333-4444-555555555555")
        return
    assert_published_intact(event)


@given(edited())
def test_edited_sample_payloads_map_or_dead_letter(case: tuple[str, str, str]) -> None:
    maps_or_dead_letters(*case)


@given(st.sampled_from(KINDS), inputs([row.payload.encode() for row in SAMPLES]))
def test_mutated_and_arbitrary_payload_text_maps_or_dead_letters(
        kind: tuple[str, str], payload: bytes) -> None:
    maps_or_dead_letters(*kind, payload.decode("utf-8", "replace"))


@given(priced())
def test_any_quantities_and_prices_map_or_dead_letter(case: tuple[str, str, str]) -> None:
    maps_or_dead_letters(*case)
