"""Pure mapping of ERP outbox rows (Debezium outbox fields) to canonical events.

``aggregatetype`` / ``type`` pick the event; ``payload`` (JSON) carries the business data.

    aggregatetype  type                      event
    PurchaseOrder  PurchaseOrderCreated      PurchaseOrderChanged, purpose ORIGINAL
    PurchaseOrder  PurchaseOrderChanged      PurchaseOrderChanged, purpose CHANGE
    PurchaseOrder  PurchaseOrderReplaced     PurchaseOrderChanged, purpose REPLACE
    PurchaseOrder  PurchaseOrderCancelled    PurchaseOrderChanged, purpose CANCEL
    Stock          StockSnapshot             InventorySnapshot

Payload fields are documented in connectors/erp_outbox/README.md. The idempotency key is
``<instance>:outbox:<row id>``: the outbox row is the business fact (written once, in the ERP's
own transaction), so a relay that republishes a row republishes the same key, and the event id
is derived from that key. Anything that does not map raises :class:`UnmappableRow` naming the
row; the connector turns it into a dead letter.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

from pydantic import ValidationError

from backbone.errors import Category
from backbone.events import (
    BusinessDate,
    Correlation,
    DateQualifier,
    DocumentRef,
    DocumentStandard,
    Event,
    InventorySnapshot,
    ItemRef,
    LineChangeType,
    PartyIdQualifier,
    PartyRef,
    PartyRole,
    PurchaseOrderChanged,
    PurchaseOrderLine,
    PurchaseOrderPurpose,
    Quantity,
    Source,
    SourceSystem,
)

# Event ids are uuid5(idempotency key) in this namespace: a republished row keeps its event id.
EVENT_ID_NAMESPACE = uuid.UUID("6f3d3a52-5d1e-4a53-9d61-0b7e1c0e4f21")
_NAMESPACE_BYTES = EVENT_ID_NAMESPACE.bytes
# Decimal, not float: 18.40 must stay 18.40. One decoder serves every row: json.loads given
# parse_float builds a new one on each call.
_PAYLOAD_DECODER = json.JSONDecoder(parse_float=Decimal)
# Digits that hold any sum of qty x price exactly (each product at most 36 digits) for
# as many lines as a payload can carry.
_EXACT_DIGITS = 100

PURPOSES = {
    "PurchaseOrderCreated": PurchaseOrderPurpose.ORIGINAL,
    "PurchaseOrderChanged": PurchaseOrderPurpose.CHANGE,
    "PurchaseOrderReplaced": PurchaseOrderPurpose.REPLACE,
    "PurchaseOrderCancelled": PurchaseOrderPurpose.CANCEL,
}
STOCK_TYPES = ("StockSnapshot",)
AGGREGATE_TYPES = {"PurchaseOrder": tuple(PURPOSES), "Stock": STOCK_TYPES}


@dataclass(frozen=True)
class OutboxRow:
    """One outbox row as the relay read it (Debezium outbox columns plus ``seq``)."""

    seq: int
    id: str
    aggregatetype: str
    aggregateid: str
    type: str
    payload: str  # the JSON text as stored
    created_at: datetime

    def as_json(self) -> bytes:
        """The whole row as JSON: the dead-letter value, enough to replay it by hand."""
        return json.dumps({
            "seq": self.seq, "id": self.id, "aggregatetype": self.aggregatetype,
            "aggregateid": self.aggregateid, "type": self.type, "payload": self.payload,
            "created_at": self.created_at.isoformat(),
        }).encode()


class UnmappableRow(ValueError):
    """A row that cannot become a canonical event; ``str()`` names the row and what to do."""

    def __init__(self, row: OutboxRow, problem: str, category: Category) -> None:
        super().__init__(
            f"outbox row {row.id} (seq {row.seq}, {row.aggregatetype}/{row.type}): {problem}")
        self.category = category


def map_row(row: OutboxRow, *, instance: str, recorded_at: datetime) -> Event:
    """The canonical event of ``row``; UnmappableRow when the row does not map."""
    known = AGGREGATE_TYPES.get(row.aggregatetype)
    if known is None:
        raise UnmappableRow(
            row, f"unknown aggregatetype {row.aggregatetype!r}; this relay maps "
            f"{', '.join(sorted(AGGREGATE_TYPES))} (see connectors/erp_outbox/README.md)",
            Category.UNKNOWN_CODE)
    if row.type not in known:
        raise UnmappableRow(
            row, f"unknown type {row.type!r} for aggregatetype {row.aggregatetype}; expected "
            f"one of {', '.join(known)}", Category.UNKNOWN_CODE)
    try:
        payload = _decode(row.payload)
    except ValueError as error:
        raise UnmappableRow(row, f"payload is not JSON ({error})",
                            Category.DESERIALIZATION) from None
    except RecursionError:
        raise UnmappableRow(row, "payload is nested too deeply to read",
                            Category.DESERIALIZATION) from None
    if not isinstance(payload, dict):
        raise UnmappableRow(row, "payload is not a JSON object", Category.SCHEMA_VALIDATION)
    # only a \u escape puts a lone surrogate (text no UTF-8 or Avro string holds) in a
    # payload; str(): a SQLite payload may be bytes
    if "\\u" in str(row.payload) and not _all_unicode(payload):
        raise UnmappableRow(row, "payload has a lone surrogate escape such as \\ud800; the "
                            "ERP must write its text as UTF-8", Category.DESERIALIZATION)
    try:
        if row.aggregatetype == "PurchaseOrder":
            return _purchase_order(row, payload, instance, recorded_at)
        return _stock_snapshot(row, payload, instance, recorded_at)
    except _FieldError as error:
        raise UnmappableRow(row, str(error), Category.SCHEMA_VALIDATION) from None
    except RecursionError:
        raise UnmappableRow(row, "payload is nested too deeply to map",
                            Category.SCHEMA_VALIDATION) from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise UnmappableRow(row, f"payload does not fit {where}: {first['msg']}; fix the ERP "
                            "payload and insert a new outbox row",
                            Category.SCHEMA_VALIDATION) from None


def idempotency_key(instance: str, row: OutboxRow) -> str:
    return f"{instance}:outbox:{row.id}"


def event_id_for(key: str) -> str:
    """``str(uuid.uuid5(EVENT_ID_NAMESPACE, key))`` without building two UUID objects (a few
    µs of every row); a test holds it to uuid5, since published ids must never change."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + key.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = digest.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def _decode(text: str) -> Any:
    """``json.loads(text, parse_float=Decimal)``: the same decoding for a plain str; a BOM or
    bytes still go through json.loads, which deals with them before decoding."""
    if type(text) is str and not text.startswith("\ufeff"):
        return _PAYLOAD_DECODER.decode(text)
    return json.loads(text, parse_float=Decimal)


class _FieldError(ValueError):
    pass


def _all_unicode(payload: Any) -> bool:
    """Every key and string in ``payload`` encodes to UTF-8 (a loop: payloads nest deeply)."""
    pending = [payload]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending += value.keys()
            pending += value.values()
        elif isinstance(value, list):
            pending += value
        elif isinstance(value, str):
            try:
                value.encode()
            except UnicodeEncodeError:
                return False
    return True


def _envelope(row: OutboxRow, payload: Mapping[str, Any], instance: str,
              recorded_at: datetime, po_number: str | None) -> dict[str, Any]:
    key = idempotency_key(instance, row)
    occurred = _timestamp(payload, "occurred_at") if payload.get("occurred_at") else None
    occurred_at = occurred or row.created_at
    offset = occurred_at.utcoffset() if occurred else None
    minutes = None if offset is None else int(offset.total_seconds() // 60)  # Z is 0, not None
    return {
        "event_id": event_id_for(key),
        "occurred_at": occurred_at,
        "occurred_at_offset_minutes": minutes,
        "recorded_at": recorded_at,
        "source": Source(system=SourceSystem.ERP, instance=instance, document=DocumentRef(
            standard=DocumentStandard.DB, transaction_set=f"{row.aggregatetype}/{row.type}",
            raw_ref=f"outbox:{row.id}")),
        "correlation": Correlation(po_number=po_number,
                                   correlation_id=_text(payload, "correlation_id")),
        "idempotency_key": key,
    }


def _purchase_order(row: OutboxRow, payload: Mapping[str, Any], instance: str,
                    recorded_at: datetime) -> PurchaseOrderChanged:
    purpose = PURPOSES[row.type]
    buyer = _required_text(payload, "buyer")
    po_number = _required_text(payload, "po_number")
    raw_lines = payload.get("lines") or []
    if not isinstance(raw_lines, list):
        raise _FieldError("payload.lines must be a list of line objects")
    if not raw_lines and purpose is not PurchaseOrderPurpose.CANCEL:
        raise _FieldError(f"payload.lines is empty; a {row.type} needs at least one line")
    default_change = (LineChangeType.ADD if purpose is PurchaseOrderPurpose.ORIGINAL
                      else LineChangeType.DELETE if purpose is PurchaseOrderPurpose.CANCEL
                      else LineChangeType.CHANGE)
    lines = tuple(_po_line(line, index, default_change) for index, line in enumerate(raw_lines))
    dates = tuple(
        BusinessDate(qualifier=qualifier, date=_date(payload, field))
        for field, qualifier in (("requested_ship", DateQualifier.REQUESTED_SHIP),
                                 ("requested_delivery", DateQualifier.REQUESTED_DELIVERY))
        if payload.get(field)
    )
    parties = [PartyRef(role=PartyRole.BUYER, id=buyer,
                        id_qualifier=PartyIdQualifier.BUYER_ASSIGNED)]
    for field, role in (("supplier", PartyRole.SUPPLIER), ("ship_to", PartyRole.SHIP_TO)):
        if payload.get(field):
            parties.append(_party(payload[field], field, role))
    total = _total(lines)
    return PurchaseOrderChanged(
        **_envelope(row, payload, instance, recorded_at, po_number),
        buyer=buyer,
        po_number=po_number,
        po_date=_date(payload, "po_date") if payload.get("po_date") else None,
        purpose=purpose,
        purpose_raw=row.type,
        change_sequence=_text(payload, "change_sequence"),
        po_type_raw=_text(payload, "po_type"),
        currency=_text(payload, "currency"),
        parties=tuple(parties),
        dates=dates,
        lines=lines,
        total_amount=total if lines and purpose is not
        PurchaseOrderPurpose.CANCEL else None,
    )


def _total(lines: tuple[PurchaseOrderLine, ...]) -> Decimal:
    """Sum of qty x unit price, exact: the default 28 digits would round a product of two
    validated decimals (up to 36 digits) and then make ``quantize`` raise InvalidOperation;
    exact, a total too large for the model is its validation error like any other."""
    with localcontext(prec=_EXACT_DIGITS):
        return sum(((line.unit_price or Decimal(0)) * line.ordered_qty.value for line in lines),
                   Decimal(0)).quantize(Decimal("0.0001"))


def _po_line(line: Any, index: int, default_change: LineChangeType) -> PurchaseOrderLine:
    where = f"payload.lines[{index}]"
    if not isinstance(line, dict):
        raise _FieldError(f"{where} is not an object")
    change_raw = _text(line, "change")
    try:
        change = LineChangeType(change_raw) if change_raw else default_change
    except ValueError:
        raise _FieldError(f"{where}.change {change_raw!r} is not one of "
                          f"{', '.join(c.value for c in LineChangeType)}") from None
    dates = (BusinessDate(qualifier=DateQualifier.REQUESTED_DELIVERY,
                          date=_date(line, "requested_delivery", where)),) \
        if line.get("requested_delivery") else ()
    return PurchaseOrderLine(
        line_number=_required_text(line, "line", where),
        change_type=change,
        change_type_raw=change_raw,
        item=_item(line, where),
        ordered_qty=Quantity(value=_decimal(line, "qty", where),
                             uom=_required_text(line, "uom", where)),
        unit_price=_decimal(line, "unit_price", where) if line.get("unit_price") is not None
        else None,
        dates=dates,
    )


def _stock_snapshot(row: OutboxRow, payload: Mapping[str, Any], instance: str,
                    recorded_at: datetime) -> InventorySnapshot:
    sku = _required_text(payload, "sku")
    location = _required_text(payload, "location")
    uom = _required_text(payload, "uom")
    raw = payload.get("quantities")
    if not isinstance(raw, dict) or not raw:
        raise _FieldError("payload.quantities must be an object such as "
                          '{"ON_HAND": "120", "AVAILABLE": "100"}')
    quantities = {str(kind).upper(): Quantity(value=_decimal(raw, kind, "payload.quantities"),
                                              uom=uom) for kind in raw}
    as_of = _timestamp(payload, "as_of")
    offset = as_of.utcoffset()
    full = payload.get("full", True)
    if not isinstance(full, bool):
        raise _FieldError(f"payload.full must be true or false, got {full!r}")
    return InventorySnapshot(
        **_envelope(row, payload, instance, recorded_at, None),
        sku=sku,
        location=location,
        snapshot_id=_text(payload, "snapshot_id"),
        as_of=as_of,
        as_of_offset_minutes=int(offset.total_seconds() // 60) if offset is not None else None,
        item=_item(payload, "payload"),
        quantities=quantities,
        is_full=full,
    )


def _item(data: Mapping[str, Any], where: str) -> ItemRef:
    return ItemRef(sku=_required_text(data, "sku", where), gtin=_text(data, "gtin"),
                   vendor_item=_text(data, "vendor_item"),
                   description=_text(data, "description"))


def _party(data: Any, field: str, role: PartyRole) -> PartyRef:
    if not isinstance(data, dict):
        raise _FieldError(f"payload.{field} must be an object with id, id_type, name")
    qualifier_raw = _text(data, "id_type")
    try:
        qualifier = PartyIdQualifier(qualifier_raw) if qualifier_raw else PartyIdQualifier.UNKNOWN
    except ValueError:
        qualifier = PartyIdQualifier.OTHER
    return PartyRef(role=role, id=_text(data, "id"), id_qualifier=qualifier,
                    id_qualifier_raw=qualifier_raw, name=_text(data, "name"))


def _text(data: Mapping[str, Any], field: str) -> str | None:
    value = data.get(field)
    return None if value is None or value == "" else str(value)


def _required_text(data: Mapping[str, Any], field: str, where: str = "payload") -> str:
    value = _text(data, field)
    if value is None:
        raise _FieldError(f"{where}.{field} is missing")
    return value


def _decimal(data: Mapping[str, Any], field: str, where: str = "payload") -> Decimal:
    value = data.get(field)
    if value is None or isinstance(value, bool | dict | list):
        raise _FieldError(f"{where}.{field} must be a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise _FieldError(f"{where}.{field} {value!r} is not a number") from None
    if not number.is_finite():
        raise _FieldError(f"{where}.{field} {value!r} is not a finite number")
    return number


def _date(data: Mapping[str, Any], field: str, where: str = "payload") -> date:
    value = data.get(field)
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise _FieldError(f"{where}.{field} {value!r} is not a date (YYYY-MM-DD)") from None


def _timestamp(data: Mapping[str, Any], field: str, where: str = "payload") -> datetime:
    value = data.get(field)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise _FieldError(f"{where}.{field} {value!r} is not an ISO-8601 timestamp") from None
    if parsed.tzinfo is None:
        raise _FieldError(f"{where}.{field} {value!r} has no UTC offset; send e.g. "
                          "2026-03-02T14:05:00-05:00")
    return parsed
