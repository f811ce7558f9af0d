"""The shipment milestone model as a pure reducer: (status, memory, raw event) -> outcome.

CANONICAL_MODEL.md, shipment milestone model: the milestone only moves forward by rank; side
states (DELIVERY_ATTEMPTED, AVAILABLE_FOR_PICKUP) may return to OUT_FOR_DELIVERY / IN_TRANSIT on
a newer event; DELIVERED, RETURNED, CANCELLED and LOST are terminal; CANCELLED only from
PRE_TRANSIT; the exception condition is raised and cleared by event time, apart from progress;
ETA, appointment and information codes update attributes only; repeats of (carrier, tracking,
raw code, event time, location) are dropped. Both ``backbone shipments normalize`` and the
streaming processor call `apply`; what it remembers beyond the ShipmentStatus is a small
`ShipmentMemory` that serializes to a JSON dict (``to_dict`` / ``from_dict``).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from backbone.events.common import Correlation, Source, SourceSystem
from backbone.events.logistics import (
    LastShipmentEvent,
    Milestone,
    ShipmentCondition,
    ShipmentMilestone,
    ShipmentStatus,
)
from backbone.events.values import from_validated
from processors.shipment_status.mapping import Attribute, Resolution, StatusMappings

RANK: dict[Milestone, int] = {
    Milestone.UNKNOWN: 0,
    Milestone.PRE_TRANSIT: 10,
    Milestone.PICKED_UP: 20,
    Milestone.IN_TRANSIT: 30,
    Milestone.OUT_FOR_DELIVERY: 40,
    Milestone.DELIVERY_ATTEMPTED: 42,
    Milestone.AT_DELIVERY_LOCATION: 45,
    Milestone.AVAILABLE_FOR_PICKUP: 46,
    Milestone.PARTIALLY_DELIVERED: 48,
    Milestone.DELIVERED: 50,
    Milestone.RETURN_TO_SENDER: 60,
    Milestone.RETURNED: 70,
    Milestone.CANCELLED: 80,
    Milestone.LOST: 90,
}
TERMINAL = frozenset({Milestone.DELIVERED, Milestone.RETURNED, Milestone.CANCELLED,
                      Milestone.LOST})
SIDE_STATES = frozenset({Milestone.DELIVERY_ATTEMPTED, Milestone.AVAILABLE_FOR_PICKUP})
RETURNS_FROM_SIDE = frozenset({Milestone.OUT_FOR_DELIVERY, Milestone.IN_TRANSIT})
# Enough for a long 214 history resent many times; older keys fall off (oldest first).
MAX_SEEN_KEYS = 512
_STATUS_NAMESPACE = uuid.UUID("6f1c1a52-31f8-4c0e-9d0b-5b8f8f3d2a10")
_INT32_MAX = 2**31 - 1


class MilestoneEffect(StrEnum):
    """What an event did to the milestone."""

    CREATED = "CREATED"  # first event of the shipment
    ADVANCED = "ADVANCED"  # moved (forward, or back from a side state)
    SAME = "SAME"  # confirms the current milestone
    LATE = "LATE"  # older or lower-rank: history only
    ATTRIBUTE = "ATTRIBUTE"  # ETA / appointment / information code: no progress meant
    REFUSED = "REFUSED"  # a transition the model forbids; history only, with a warning
    DUPLICATE = "DUPLICATE"  # already applied; nothing changes


class ShipmentMemory(BaseModel):
    """What the reducer remembers beside the ShipmentStatus (kept in processor state)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seen: tuple[str, ...] = ()
    milestone_at: datetime | None = None
    condition_at: datetime | None = None
    eta_at: datetime | None = None
    appointment_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShipmentMemory:
        return cls.model_validate(data)


# Frozen, so one instance serves every status (validating them anew cost a few µs per event).
_STATUS_SOURCE = Source(system=SourceSystem.BACKBONE, instance="shipment-status")
_NO_CONDITION = ShipmentCondition()
_NO_CORRELATION = Correlation()
_NO_MEMORY = ShipmentMemory()
_STATUS_TYPE = ShipmentStatus.event_type_name()
_STATUS_UNSET = frozenset({"occurred_at_offset_minutes"})


@dataclass(frozen=True)
class Outcome:
    """The status after one event, the memory to keep, and what happened."""

    status: ShipmentStatus
    memory: ShipmentMemory
    effect: MilestoneEffect
    resolution: Resolution
    condition_changed: bool = False
    warning: str | None = None

    @property
    def duplicate(self) -> bool:
        return self.effect is MilestoneEffect.DUPLICATE


def dedup_key(event: ShipmentMilestone) -> str:
    """Digest of (carrier, tracking, raw code, event time, location): 214s resend histories."""
    raw = event.raw_status
    where = event.location
    parts = [
        event.carrier, event.tracking_number, raw.source.value, raw.code, raw.reason_code or "",
        event.event_time.isoformat(),
        *([] if where is None else [where.city or "", where.region or "", where.postal_code or "",
                                    where.country or "", where.site_id or "", where.gln or ""]),
    ]
    # upper() maps character by character, so one call on the joined text equals one per part
    text = "\x1f".join([part.strip() for part in parts]).upper()
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _status_event_id(name: str) -> str:
    """``str(uuid.uuid5(_STATUS_NAMESPACE, name))`` without building two UUID objects (a
    measurable share of the processor's per-record time)."""
    digest = bytearray(hashlib.sha1(_STATUS_NAMESPACE.bytes + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = digest.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def apply(status: ShipmentStatus | None, event: ShipmentMilestone, mappings: StatusMappings,
          memory: ShipmentMemory | None = None) -> Outcome:
    """Apply one raw milestone event. Raises UnknownCodeError for an unmapped code (nothing
    changes then: the event belongs in the dead-letter topic).

    The new status, memory and their parts are built with `from_validated`, not validated
    again: every value is copied from ``status``, ``memory`` or ``event`` (validated records) or
    made here in the exact type validation would give (validating cost more than the rest of
    this function). The one value valid inputs can push out of bounds, ``history_count`` past
    Int32, goes through validation, which refuses it as before.
    """
    resolution = mappings.resolve(event.raw_status)
    if status is not None and (status.carrier, status.tracking_number) != (
            event.carrier, event.tracking_number):
        raise ValueError(f"event for {event.carrier}:{event.tracking_number} applied to status "
                         f"of {status.carrier}:{status.tracking_number}")
    memory = memory or _memory_from(status)
    key = dedup_key(event)
    if status is not None and key in memory.seen:
        return Outcome(status, memory, MilestoneEffect.DUPLICATE, resolution)

    at = event.event_time
    current = status.milestone if status is not None else None
    effect, milestone, warning = _milestone(current, memory.milestone_at, resolution.milestone, at)
    moved = effect in (MilestoneEffect.CREATED, MilestoneEffect.ADVANCED)
    milestone_at = at if moved else _latest(memory.milestone_at, at) if (
        effect is MilestoneEffect.SAME) else memory.milestone_at

    old_condition = status.condition if status is not None else _NO_CONDITION
    condition, condition_at = _condition(old_condition, memory.condition_at, resolution, event)
    eta, eta_at = _newest(status.eta if status else None, memory.eta_at, event.eta, at)
    appointment, appointment_at = _newest(
        status.appointment if status else None, memory.appointment_at, event.appointment, at)
    if resolution.attribute is Attribute.ETA and event.eta is None and warning is None:
        warning = f"{event.raw_status.code} is an ETA code but the event carries no eta"

    last_event = _last_event(status, event)
    memory = from_validated(ShipmentMemory, {
        "seen": (*memory.seen, key)[-MAX_SEEN_KEYS:], "milestone_at": milestone_at,
        "condition_at": condition_at, "eta_at": eta_at, "appointment_at": appointment_at,
    })
    shipment = f"{event.carrier}:{event.tracking_number}:{key}"
    history_count = (status.history_count if status else 0) + 1
    # in declaration order (Event's fields, then ShipmentStatus's): see from_validated
    fields = {
        "event_id": _status_event_id(shipment),
        "event_type": _STATUS_TYPE,
        "occurred_at": last_event.event_time,
        "occurred_at_offset_minutes": None,
        "recorded_at": _latest(status.recorded_at if status else None, event.recorded_at),
        "source": _STATUS_SOURCE,
        "correlation": _correlation(status, event),
        "idempotency_key": f"shipment-status:{shipment}",
        "warnings": (warning,) if warning else (),
        "carrier": event.carrier,
        "tracking_number": event.tracking_number,
        "milestone": milestone,
        "milestone_rank": RANK[milestone],
        "condition": condition,
        "eta": eta,
        "appointment": appointment,
        "last_event": last_event,
        "history_count": history_count,
        "first_event_at": min(status.first_event_at, at) if status else at,
        "last_updated_at": _latest(status.last_updated_at if status else None,
                                   event.recorded_at),
        "terminal": milestone in TERMINAL,
    }
    if history_count > _INT32_MAX:
        new_status = ShipmentStatus.model_validate(fields)  # refuses it, as it always did
    else:
        new_status = from_validated(ShipmentStatus, fields, _STATUS_UNSET)
    changed = condition is not old_condition and condition != old_condition
    return Outcome(new_status, memory, effect, resolution, changed, warning)


def _milestone(current: Milestone | None, current_at: datetime | None,
               proposed: Milestone | None, at: datetime
               ) -> tuple[MilestoneEffect, Milestone, str | None]:
    if current is None:
        return MilestoneEffect.CREATED, proposed or Milestone.UNKNOWN, None
    if proposed is None or proposed is Milestone.UNKNOWN:
        return MilestoneEffect.ATTRIBUTE, current, None
    if current is Milestone.UNKNOWN:
        return MilestoneEffect.ADVANCED, proposed, None
    if proposed is current:
        return MilestoneEffect.SAME, current, None
    newer = current_at is None or at >= current_at
    if current in TERMINAL:
        if RANK[proposed] < RANK[current]:
            return MilestoneEffect.LATE, current, None
        return MilestoneEffect.REFUSED, current, (
            f"{proposed.value} after terminal {current.value} ignored; check the carrier's data")
    if proposed is Milestone.CANCELLED:
        if current is Milestone.PRE_TRANSIT:
            return MilestoneEffect.ADVANCED, proposed, None
        return MilestoneEffect.REFUSED, current, (
            f"CANCELLED after {current.value} ignored: a shipment can only be cancelled before "
            "pickup; check the carrier's data")
    if current in SIDE_STATES and proposed in RETURNS_FROM_SIDE | SIDE_STATES:
        # A re-attempt: only a newer event brings the shipment back.
        return (MilestoneEffect.ADVANCED if newer and at != current_at else MilestoneEffect.LATE,
                proposed if newer and at != current_at else current, None)
    if proposed in SIDE_STATES:
        # An old attempt must not undo a later re-attempt (OFD after DELIVERY_ATTEMPTED).
        reachable = RANK[proposed] > RANK[current] or current is Milestone.AT_DELIVERY_LOCATION
        if newer and reachable:
            return MilestoneEffect.ADVANCED, proposed, None
        return MilestoneEffect.LATE, current, None
    if RANK[proposed] > RANK[current]:
        return MilestoneEffect.ADVANCED, proposed, None
    return MilestoneEffect.LATE, current, None


def _condition(current: ShipmentCondition, since: datetime | None, resolution: Resolution,
               event: ShipmentMilestone) -> tuple[ShipmentCondition, datetime | None]:
    at = event.event_time
    if since is not None and at < since:
        return current, since  # an older event cannot overrule a newer raise or clear
    if resolution.exception:
        return ShipmentCondition(
            exception=True, reason_group=resolution.reason_group,
            raw_reason=resolution.raw_reason or event.raw_status.code,
        ), at
    if resolution.is_progress:
        return _NO_CONDITION, at
    return current, since


def _newest(current: Any, since: datetime | None, proposed: Any, at: datetime
            ) -> tuple[Any, datetime | None]:
    if proposed is None or (since is not None and at < since):
        return current, since
    return proposed, at


def _latest(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b >= a else a


def _last_event(status: ShipmentStatus | None, event: ShipmentMilestone) -> LastShipmentEvent:
    if status is not None and status.last_event.event_time > event.event_time:
        return status.last_event
    return from_validated(LastShipmentEvent, {
        "raw_status": event.raw_status, "event_time": event.event_time,
        "location": event.location,
    })


def _memory_from(status: ShipmentStatus | None) -> ShipmentMemory:
    if status is None:
        return _NO_MEMORY
    return ShipmentMemory(milestone_at=status.last_event.event_time,
                          condition_at=status.last_event.event_time)


def _correlation(status: ShipmentStatus | None, event: ShipmentMilestone) -> Correlation:
    previous = status.correlation if status else _NO_CORRELATION
    given = event.correlation
    return from_validated(Correlation, {
        "po_number": given.po_number or previous.po_number,
        "asn_id": given.asn_id or previous.asn_id,
        "bol": given.bol or previous.bol,
        "pro": given.pro or previous.pro,
        "tracking_numbers": (event.tracking_number,),
        "correlation_id": given.correlation_id or previous.correlation_id,
        "causation_id": event.event_id,
    })
