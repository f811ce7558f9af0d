"""Maps X12 214 (carrier shipment status) and 945 (warehouse shipping advice) to
ShipmentMilestone (945 also to an InventoryMovement issue per shipped line).

214: one event per AT7. A status (AT701/AT702) and an appointment (AT703/AT704) are different
things, and so is an ETA (status codes AG, X2, B6, C1):
- status: `event_time` = AT705/AT706;
- ETA: `eta` = AT705/AT706, `event_time` = when the carrier sent it (GS04/GS05);
- appointment: `appointment.start` = AT705/AT706, raw code = AT703, `event_time` = GS04/GS05.
Times: AT707 (element 623) names the zone: ET/CT/MT/PT/AT/HT are the US/Canadian zones with
daylight saving (zoneinfo), their S/D variants fixed standard/daylight offsets, UT/GM UTC.
No code or LT (local time): the time is read as UTC and marked LOCAL_TIME_ASSUMED_UTC.
Tracking number: B1001 (the carrier's PRO), else B1002 (shipment id); carrier: B1003 SCAC,
else MS201.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from backbone.events import (
    AdjustmentReason,
    Appointment,
    Correlation,
    Event,
    EventTimePrecision,
    InventoryMovement,
    Lading,
    MovementType,
    PartyRole,
    Quantity,
    RawStatus,
    RawStatusSource,
    ShipmentLocation,
    ShipmentMilestone,
)
from connectors.edi_x12.mapping.common import (
    SetContext,
    all_references,
    id_pairs,
    item_ref,
    parse_time,
    parties,
    quantity,
    references,
    split_loops,
    text,
)
from connectors.edi_x12.model import Segment, is_digits

_ZONES: dict[str, str] = {
    "ET": "America/New_York", "CT": "America/Chicago", "MT": "America/Denver",
    "PT": "America/Los_Angeles", "AT": "America/Halifax", "HT": "Pacific/Honolulu",
    "NT": "America/St_Johns",
}
_FIXED_HOURS: dict[str, float] = {
    "ES": -5, "ED": -4, "CS": -6, "CD": -5, "MS": -7, "MD": -6, "PS": -8, "PD": -7,
    "AS": -4, "AD": -3, "HS": -10, "HD": -9, "NS": -3.5, "ND": -2.5, "UT": 0, "GM": 0,
}
ETA_CODES = frozenset({"AG", "X2", "B6", "C1"})
_LOCAL = frozenset({"", "LT"})


def zone_for(code: str) -> tzinfo | None:
    """The zone of an X12 time code (element 623); None for local time or an unknown code."""
    code = code.strip().upper()
    if code in _ZONES:
        return ZoneInfo(_ZONES[code])
    if code in _FIXED_HOURS:
        return timezone(timedelta(hours=_FIXED_HOURS[code]))
    return None


def local_time(
    ctx: SetContext, segment: Segment, day: date, raw_time: str, code: str
) -> tuple[datetime, int | None, EventTimePrecision]:
    """(UTC time, offset minutes, precision) of a date, time and time code."""
    hms = parse_time(raw_time)
    if hms is None:
        naive = datetime(day.year, day.month, day.day)
        precision = EventTimePrecision.DATE_ONLY
    else:
        naive = datetime(day.year, day.month, day.day, *hms)
        precision = EventTimePrecision.EXACT
    zone = zone_for(code)
    if zone is None:
        if code.strip() not in _LOCAL:
            ctx.warn(segment, f"time code {code!r} (element 623) is not known; time read as UTC")
        if precision is EventTimePrecision.EXACT:
            precision = EventTimePrecision.LOCAL_TIME_ASSUMED_UTC
        return naive.replace(tzinfo=timezone.utc), None, precision  # noqa: UP017
    aware = naive.replace(tzinfo=zone)
    offset = aware.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else None
    return aware.astimezone(timezone.utc), minutes, precision  # noqa: UP017


def map_carrier_status(ctx: SetContext) -> list[Event]:
    """214 -> one ShipmentMilestone per AT7."""
    b10 = ctx.require("B10")
    tracking = text(b10, 1) or text(b10, 2)
    if tracking is None:
        raise ctx.fail(b10, "B1001 and B1002 are both empty",
                       "a status message must name the shipment (PRO or shipment id)")
    head, loops = split_loops(ctx.body, "LX")
    head_refs = references(head, "L11")
    ms2 = next((s for s in ctx.body if s.tag == "MS2"), None)
    carrier = text(b10, 3) or (text(ms2, 1) if ms2 else None)
    if carrier is None:
        raise ctx.fail(b10, "no carrier SCAC (B1003 and MS201 are empty)",
                       "a status message must name its carrier")
    bol = head_refs.get("BM") or text(b10, 2)
    tracking_numbers = tuple(v for q, v in head_refs.items() if q in ("2I", "CN"))
    sent_at = ctx.document_time()
    events: list[Event] = []
    # Each event carries the set-level warnings and those of its own AT7 only.
    set_warnings = list(ctx.warnings)
    for loop in loops or [head]:
        lx = text(loop[0], 1) if loop[0].tag == "LX" else "0"
        loop_refs = references(loop, "L11")
        lading = _lading(ctx, loop, bol, text(b10, 1))
        location = _location(loop)
        at7s = [s for s in loop if s.tag == "AT7"]
        every_reference = all_references([*head, *(loop if loop is not head else ())], "L11")
        for ordinal, at7 in enumerate(at7s, start=1):
            ctx.warnings[:] = set_warnings
            fields = _at7_fields(ctx, at7, sent_at)
            key = ctx.key(f"LX{lx}", f"AT7-{ordinal}")
            correlation = Correlation(
                po_number=loop_refs.get("PO") or head_refs.get("PO"),
                bol=bol, pro=text(b10, 1),
                tracking_numbers=tracking_numbers,
            )
            events.append(
                ShipmentMilestone(
                    **ctx.envelope(key, correlation=correlation),
                    **fields,
                    carrier=carrier,
                    tracking_number=tracking,
                    location=location,
                    stop_sequence=int(lx) if lx and is_digits(lx) and len(lx) < 10 else None,
                    lading=lading,
                    references=every_reference,
                )
            )
    return events


def _at7_fields(ctx: SetContext, at7: Segment, sent_at: datetime) -> dict[str, object]:
    status, reason = at7.element(1).strip(), text(at7, 2)
    appointment_code, appointment_reason = at7.element(3).strip(), text(at7, 4)
    if not status and not appointment_code:
        raise ctx.fail(at7, "AT7 has neither a status (AT701) nor an appointment (AT703)",
                       "one of them is required")
    day = ctx.date_of(at7, 5)
    if day is None:
        raise ctx.fail(at7, "AT705 (date) is empty", "a status needs its date")
    when, offset, precision = local_time(ctx, at7, day, at7.element(6), at7.element(7))
    if status and status not in ETA_CODES:
        return {
            "raw_status": RawStatus(source=RawStatusSource.X12_214, code=status,
                                    reason_code=reason, description=None),
            "event_time": when, "event_time_offset_minutes": offset,
            "event_time_precision": precision, "occurred_at": when,
            "occurred_at_offset_minutes": offset,
        }
    sent_fields: dict[str, object] = {
        "event_time": sent_at, "event_time_precision": EventTimePrecision.LOCAL_TIME_ASSUMED_UTC,
        "occurred_at": sent_at,
    }
    if status:
        return {**sent_fields, "eta": when,
                "raw_status": RawStatus(source=RawStatusSource.X12_214, code=status,
                                        reason_code=reason, description="estimated arrival")}
    return {
        **sent_fields,
        "appointment": Appointment(start=when, type_raw=appointment_code,
                                   reason_raw=appointment_reason),
        "raw_status": RawStatus(source=RawStatusSource.X12_214, code=appointment_code,
                                reason_code=appointment_reason, description="appointment"),
    }


def _lading(ctx: SetContext, loop: list[Segment], bol: str | None, pro: str | None) -> Lading:
    at8 = next((s for s in loop if s.tag == "AT8"), None)
    weight = quantity_count = None
    if at8 is not None:
        value = ctx.number(at8, 3)
        if value is not None:
            unit = {"L": "LB", "K": "KG"}.get(at8.element(2).strip(), at8.element(2).strip())
            weight = Quantity(value=value, uom=unit or "LB")
        count = ctx.number(at8, 4)
        if count is not None:
            quantity_count = Quantity(value=count, uom="PCS")
    return Lading(bol=bol, pro=pro, quantity=quantity_count, weight=weight)


def _location(loop: list[Segment]) -> ShipmentLocation | None:
    ms1 = next((s for s in loop if s.tag == "MS1"), None)
    if ms1 is None or not (text(ms1, 1) or text(ms1, 2)):
        return None
    return ShipmentLocation(city=text(ms1, 1), region=text(ms1, 2), country=text(ms1, 3))


# -- 945 ---------------------------------------------------------------------------------


def map_warehouse_shipping_advice(ctx: SetContext) -> list[Event]:
    """945 -> a ShipmentMilestone (WMS "SHIPPED") and one InventoryMovement ISSUE per W12."""
    w06 = ctx.require("W06")
    order = text(w06, 2)
    shipment_id = text(w06, 4) or order
    if shipment_id is None:
        raise ctx.fail(w06, "W0602 and W0604 are empty", "the advice must name the shipment")
    head, loops = split_loops(ctx.body, "LX")
    refs = references(head, "N9")
    w27 = next((s for s in head if s.tag == "W27"), None)
    carrier = (text(w27, 2) if w27 else None) or "UNKNOWN"
    shipped_day = next((ctx.date_of(s, 2) for s in head
                        if s.tag == "G62" and s.element(1).strip() == "11"), None)
    shipped_day = shipped_day or ctx.date_of(w06, 3)
    g62 = next((s for s in head if s.tag == "G62" and s.element(1).strip() == "11"), None)
    if shipped_day is None:
        shipped, precision = ctx.document_time(), EventTimePrecision.LOCAL_TIME_ASSUMED_UTC
    else:
        shipped, _, precision = local_time(ctx, w06, shipped_day,
                                           g62.element(4) if g62 else "",
                                           g62.element(5) if g62 else "")
    tracking = refs.get("CN") or refs.get("BM") or shipment_id
    warehouse = next((p for p in parties(ctx, head) if p.role is PartyRole.WAREHOUSE), None)
    location = (warehouse.id or warehouse.name) if warehouse else None
    location = location or ctx.sender
    po = text(w06, 6)
    correlation = Correlation(po_number=po, bol=refs.get("BM"), pro=refs.get("CN"),
                              correlation_id=order)
    events: list[Event] = [
        ShipmentMilestone(
            **ctx.envelope(ctx.key("shipped"), correlation=correlation),
            references=all_references(head, "N9"),
            occurred_at=shipped,
            carrier=carrier,
            tracking_number=tracking,
            raw_status=RawStatus(source=RawStatusSource.WMS, code="SHIPPED",
                                 reason_code=text(w06, 1), description="X12 945 W06"),
            event_time=shipped,
            event_time_precision=precision,
            location=ShipmentLocation(site_id=location),
            lading=Lading(bol=refs.get("BM"), pro=refs.get("CN")),
        )
    ]
    # Each movement carries the set-level warnings and those of its own W12 only.
    set_warnings = list(ctx.warnings)
    for ordinal, loop in enumerate(loops, start=1):
        for w12 in (s for s in loop if s.tag == "W12"):
            ctx.warnings[:] = set_warnings
            shipped_qty = quantity(ctx, w12, 3, 5)
            if shipped_qty is None:
                continue
            item = item_ref(ctx, w12, [("UA", w12.element(6).strip()),
                                       *id_pairs(w12, 7, 8)], line_ref=text(loop[0], 1))
            if item.sku is None and item.case_code is None:
                raise ctx.fail(w12, "W12 names no item (W1206-W1208 empty)",
                               "each shipped line needs an item id")
            sku = item.sku or item.case_code or ""
            line = text(loop[0], 1) or str(ordinal)
            events.append(
                InventoryMovement(
                    **ctx.envelope(ctx.key(f"LX{line}", sku), correlation=correlation),
                    occurred_at=shipped,
                    sku=sku,
                    location=location,
                    movement_id=f"945:{shipment_id}:{line}:{sku}",
                    movement_type=MovementType.ISSUE,
                    reason=AdjustmentReason.SHIPMENT,
                    reason_raw=text(w12, 1),
                    item=item,
                    lot=text(w12, 9),
                    qty_delta=Quantity(value=-shipped_qty.value, uom=shipped_qty.uom),
                    reference=order,
                )
            )
    return events
