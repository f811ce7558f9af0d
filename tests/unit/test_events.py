"""Canonical event models: Avro and JSON-lines round trips, validation messages, the registry."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import fastavro
import pytest
from pydantic import ValidationError

from backbone import samples, schemas
from backbone.events import (
    EVENT_MODELS,
    Event,
    InventorySnapshot,
    ProofOfDelivery,
    PurchaseOrderChanged,
    Quantity,
    RawStatus,
    ShipmentMilestone,
    model_for,
)

EVENT_NAMES = sorted(EVENT_MODELS)


def _avro_round_trip(event: Event) -> Event:
    parsed = schemas.parsed(event.record_name())
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed, event.to_avro())
    buffer.seek(0)
    decoded = fastavro.schemaless_reader(buffer, parsed)
    assert buffer.read() == b"", "the reader consumed every byte"
    assert isinstance(decoded, dict)
    return Event.from_avro(decoded)


@pytest.mark.parametrize("name", EVENT_NAMES)
@pytest.mark.parametrize("seed", [0, 7])
def test_sample_round_trips_through_avro(name: str, seed: int) -> None:
    event = samples.sample(name, seed)
    back = _avro_round_trip(event)
    assert type(back) is type(event)
    assert back == event


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_sample_round_trips_through_json_lines(name: str) -> None:
    event = samples.sample(name)
    line = json.dumps(event.to_json_dict())  # must be plain JSON
    back = Event.from_json_dict(json.loads(line))
    assert type(back) is type(event)
    assert back == event


def test_json_dict_shape_follows_interfaces() -> None:
    event = samples.sample_purchase_order_changed()
    data = event.to_json_dict()
    assert data["event_type"] == "PurchaseOrderChanged"
    assert list(data)[:9] == list(schemas.ENVELOPE_FIELDS)
    avro_names = [f["name"] for f in schemas.load(event.record_name())["fields"]]
    assert list(data) == avro_names
    assert data["occurred_at"].endswith("Z")
    assert datetime.fromisoformat(data["occurred_at"]) == event.occurred_at
    quantity = data["lines"][0]["ordered_qty"]["value"]
    assert isinstance(quantity, str)
    assert Decimal(quantity) == event.lines[0].ordered_qty.value
    assert data["lines"][0]["unit_price"] == format(event.lines[0].unit_price, "f")
    assert data["purpose"] == "ORIGINAL"
    assert event.po_date is not None and data["po_date"] == event.po_date.isoformat()


def test_decimals_are_quantized_to_the_schema_scale() -> None:
    quantity = Quantity(value=Decimal("12.5"), uom="EA")
    assert str(quantity.value) == "12.500000"
    line = samples.sample_purchase_order_changed().lines[0]
    assert line.unit_price is not None and line.unit_price.as_tuple().exponent == -4


def test_timestamps_are_normalized_to_utc_milliseconds() -> None:
    eastern = timezone(timedelta(hours=-4))
    event = samples.sample_shipment_milestone(
        event_time=datetime(2024, 5, 14, 9, 22, 5, 123999, tzinfo=eastern)
    )
    assert event.event_time == datetime(2024, 5, 14, 13, 22, 5, 123000, tzinfo=UTC)
    assert event.event_time.utcoffset() == timedelta(0)


@pytest.mark.parametrize("moment", [
    datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),
    datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-5))),
])
def test_a_time_outside_the_calendar_in_utc_is_a_validation_error(moment: datetime) -> None:
    """Not an OverflowError: every connector turns a ValidationError into a dead letter."""
    with pytest.raises(ValidationError) as caught:
        samples.sample_shipment_milestone(event_time=moment)
    error = caught.value.errors()[0]
    assert error["loc"] == ("event_time",)
    assert "outside the calendar once converted to UTC" in error["msg"]


def test_naive_datetime_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        samples.sample_shipment_milestone(event_time=datetime(2024, 5, 14, 13, 22))
    error = caught.value.errors()[0]
    assert error["loc"] == ("event_time",)
    assert "naive datetime 2024-05-14T13:22:00" in error["msg"]


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-inf", "sNaN"])
def test_non_finite_quantity_is_refused_naming_the_field(bad: str) -> None:
    data = samples.sample_purchase_order_changed().to_json_dict()
    data["lines"][0]["ordered_qty"]["value"] = bad
    with pytest.raises(ValidationError) as caught:
        PurchaseOrderChanged.from_json_dict(data)
    error = caught.value.errors()[0]
    assert error["loc"] == ("lines", 0, "ordered_qty", "value")
    assert "finite" in error["msg"]
    assert "lines.0.ordered_qty.value" in str(caught.value)


def test_money_with_more_places_than_the_scale_is_refused() -> None:
    data = samples.sample_purchase_order_changed().to_json_dict()
    data["lines"][1]["unit_price"] = "1.23456"
    with pytest.raises(ValidationError) as caught:
        PurchaseOrderChanged.from_json_dict(data)
    error = caught.value.errors()[0]
    assert error["loc"] == ("lines", 1, "unit_price")
    assert "1.23456 has more than 4 decimal places" in error["msg"]


def test_quantity_beyond_the_precision_is_refused() -> None:
    with pytest.raises(ValidationError, match="more than 12 integer digits"):
        Quantity(value=Decimal("1234567890123"), uom="EA")
    assert Quantity(value=Decimal("999999999999.999999"), uom="EA").value.is_finite()


def test_unknown_field_is_refused_naming_it() -> None:
    data = samples.sample_inventory_snapshot().to_json_dict()
    data["quantity_on_hand"] = "12"
    with pytest.raises(ValidationError) as caught:
        InventorySnapshot.from_json_dict(data)
    error = caught.value.errors()[0]
    assert error["loc"] == ("quantity_on_hand",)
    assert error["type"] == "extra_forbidden"


def test_unknown_enum_symbol_is_refused_naming_the_field() -> None:
    data = samples.sample_shipment_milestone().to_json_dict()
    data["raw_status"]["source"] = "PIGEON"
    with pytest.raises(ValidationError) as caught:
        ShipmentMilestone.from_json_dict(data)
    assert caught.value.errors()[0]["loc"] == ("raw_status", "source")


def test_event_id_must_be_a_uuid() -> None:
    with pytest.raises(ValidationError) as caught:
        samples.sample_shipment_milestone(event_id="not-a-uuid")
    error = caught.value.errors()[0]
    assert error["loc"] == ("event_id",)
    assert "'not-a-uuid' is not a UUID" in error["msg"]
    upper = samples.sample_shipment_milestone(event_id="9F3C2A4E-1D2B-4C5D-8E9F-0016D3CCA427")
    assert upper.event_id == "9f3c2a4e-1d2b-4c5d-8e9f-0016d3cca427"


def test_event_type_is_filled_and_checked() -> None:
    assert samples.sample_invoice().event_type == "Invoice"
    with pytest.raises(ValidationError, match="event_type 'GoodsReceipt' does not match Invoice"):
        samples.sample_invoice(event_type="GoodsReceipt")
    full = samples.sample_invoice(event_type="backbone.finance.Invoice")
    assert full.event_type == "Invoice"


def test_base_event_dispatches_on_event_type_and_refuses_unknown() -> None:
    data = samples.sample_goods_receipt().to_json_dict()
    assert type(Event.from_json_dict(data)).__name__ == "GoodsReceipt"
    data["event_type"] = "GoodsIssue"
    with pytest.raises(KeyError, match="no canonical event named 'GoodsIssue'"):
        Event.from_json_dict(data)


def test_a_concrete_model_refuses_another_events_data() -> None:
    with pytest.raises(ValidationError):
        ShipmentMilestone.from_json_dict(samples.sample_goods_receipt().to_json_dict())


def test_events_are_frozen() -> None:
    event = samples.sample_shipment_milestone()
    with pytest.raises(ValidationError):
        event.carrier = "FXFE"  # type: ignore[misc]


def test_model_for_resolves_short_and_full_names() -> None:
    assert model_for("ShipmentMilestone") is ShipmentMilestone
    assert model_for("backbone.logistics.ShipmentMilestone") is ShipmentMilestone
    assert ShipmentMilestone.record_name() == "backbone.logistics.ShipmentMilestone"
    with pytest.raises(KeyError, match="known events: AdvanceShipNotice"):
        model_for("backbone.logistics.Shipment")


def test_registry_covers_every_event_schema() -> None:
    assert sorted(m.record_name() for m in EVENT_MODELS.values()) == schemas.event_records()


# ---------------------------------------------------------------- samples


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_samples_are_deterministic_per_seed(name: str) -> None:
    assert samples.sample(name, seed=3) == samples.sample(name, seed=3)
    assert samples.sample(name, seed=3) != samples.sample(name, seed=4)


def test_sample_accepts_a_model_class() -> None:
    assert isinstance(samples.sample(InventorySnapshot), InventorySnapshot)


def test_sample_overrides_are_validated_and_survive_avro() -> None:
    delivered = samples.sample_shipment_milestone(
        seed=5,
        raw_status=RawStatus(source="UPS", code="D", description="DELIVERED"),
        pod=ProofOfDelivery(signed_by="M RIVERA", delivered_to_location="FRONT DOOR"),
    )
    assert delivered.raw_status.code == "D"
    assert _avro_round_trip(delivered) == delivered
    with pytest.raises(ValidationError):
        samples.sample_inventory_snapshot(quantities={"ON_HAND": {"value": "x", "uom": "EA"}})


def test_sample_identifiers_look_real() -> None:
    milestone = samples.sample_shipment_milestone()
    assert milestone.tracking_number.startswith("1Z") and len(milestone.tracking_number) == 18
    order = samples.sample_purchase_order_changed()
    assert order.po_number.isdigit() and len(order.po_number) == 10
    gtin = order.lines[0].item.gtin
    assert gtin is not None and len(gtin) == 14 and _gs1_valid(gtin)
    pallet = samples.sample_advance_ship_notice().orders[0].handling_units[0].sscc
    assert pallet is not None and len(pallet) == 18 and _gs1_valid(pallet)


def _gs1_valid(digits: str) -> bool:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(reversed(digits[:-1]), 1))
    return (10 - total % 10) % 10 == int(digits[-1])


def test_avro_dict_is_plain_data_for_fastavro() -> None:
    data: dict[str, Any] = samples.sample_inventory_snapshot().to_avro()
    # StrEnum members are strings and tuples are sequences: what fastavro writes as enum symbols
    # and arrays (test_events_avro_dump.py proves the bytes match an explicit conversion)
    assert isinstance(data["source"]["system"], str)
    assert isinstance(data["warnings"], list | tuple)
    assert isinstance(data["quantities"]["ON_HAND"]["value"], Decimal)
