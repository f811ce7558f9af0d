"""Logistics events (backbone.logistics): raw shipment milestones and normalized shipment status."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from backbone.events.common import Quantity
from backbone.events.envelope import Event
from backbone.events.values import CanonicalRecord, Int32, UtcDatetime


class EventTimePrecision(StrEnum):
    """How trustworthy an event time is."""

    EXACT = "EXACT"
    LOCAL_TIME_ASSUMED_UTC = "LOCAL_TIME_ASSUMED_UTC"
    DATE_ONLY = "DATE_ONLY"
    UNKNOWN = "UNKNOWN"


class Milestone(StrEnum):
    """Progress of a shipment, ranked; never regresses (see CANONICAL_MODEL.md, shipment milestone
    model).
    """

    PRE_TRANSIT = "PRE_TRANSIT"
    PICKED_UP = "PICKED_UP"
    IN_TRANSIT = "IN_TRANSIT"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    AT_DELIVERY_LOCATION = "AT_DELIVERY_LOCATION"
    DELIVERED = "DELIVERED"
    DELIVERY_ATTEMPTED = "DELIVERY_ATTEMPTED"
    AVAILABLE_FOR_PICKUP = "AVAILABLE_FOR_PICKUP"
    PARTIALLY_DELIVERED = "PARTIALLY_DELIVERED"
    RETURN_TO_SENDER = "RETURN_TO_SENDER"
    RETURNED = "RETURNED"
    CANCELLED = "CANCELLED"
    LOST = "LOST"
    UNKNOWN = "UNKNOWN"


class RawStatusSource(StrEnum):
    """Vocabulary a raw tracking status code belongs to; selects the mapping table."""

    UPS = "UPS"
    FEDEX = "FEDEX"
    USPS = "USPS"
    EASYPOST = "EASYPOST"
    X12_214 = "X12_214"
    WMS = "WMS"
    DHL = "DHL"
    OTHER = "OTHER"
    UNKNOWN = "UNKNOWN"
    # Added after UNKNOWN so older readers resolve them to the default.
    AFTERSHIP = "AFTERSHIP"
    SHIPENGINE = "SHIPENGINE"
    SHIPPO = "SHIPPO"


class Appointment(CanonicalRecord):
    """A pick-up or delivery appointment (214 AT703/AT704, carrier API)."""

    RECORD_NAME: ClassVar[str] = "backbone.logistics.Appointment"

    start: UtcDatetime | None = None
    end: UtcDatetime | None = None
    type_raw: str | None = None
    reason_raw: str | None = None


class Lading(CanonicalRecord):
    """Lading references and totals of a shipment (214 AT8, B10, L11)."""

    RECORD_NAME: ClassVar[str] = "backbone.logistics.Lading"

    bol: str | None = None
    pro: str | None = None
    quantity: Quantity | None = None
    weight: Quantity | None = None


class RawStatus(CanonicalRecord):
    """A tracking status exactly as the source stated it."""

    RECORD_NAME: ClassVar[str] = "backbone.logistics.RawStatus"

    source: RawStatusSource
    code: str
    reason_code: str | None = None
    description: str | None = None


class ShipmentLocation(CanonicalRecord):
    """Where a tracking event happened (MS1, N4, carrier activity location)."""

    RECORD_NAME: ClassVar[str] = "backbone.logistics.ShipmentLocation"

    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None
    gln: str | None = None
    site_id: str | None = None
    name: str | None = None


class LastShipmentEvent(CanonicalRecord):
    """The latest tracking event applied to a shipment."""

    RECORD_NAME: ClassVar[str] = "backbone.logistics.LastShipmentEvent"

    raw_status: RawStatus
    event_time: UtcDatetime
    location: ShipmentLocation | None = None


class ProofOfDelivery(CanonicalRecord):
    """Proof of delivery details."""

    RECORD_NAME: ClassVar[str] = "backbone.logistics.ProofOfDelivery"

    signed_by: str | None = None
    delivered_to_location: str | None = None


class ShipmentCondition(CanonicalRecord):
    """Exception flag of a shipment, raised and cleared independently of the milestone."""

    RECORD_NAME: ClassVar[str] = "backbone.logistics.ShipmentCondition"

    exception: bool = False
    reason_group: str | None = None
    raw_reason: str | None = None


class ShipmentMilestone(Event):
    """One raw tracking event of a shipment (X12 214, carrier APIs and webhooks, WMS 945); the
    shipment_status processor maps it to a milestone. Topic logistics.shipment-milestone.raw.v1,
    key <carrier>:<tracking_number>.
    """

    RECORD_NAME: ClassVar[str] = "backbone.logistics.ShipmentMilestone"

    carrier: str
    tracking_number: str
    raw_status: RawStatus
    event_time: UtcDatetime
    event_time_offset_minutes: Int32 | None = None
    event_time_precision: EventTimePrecision
    location: ShipmentLocation | None = None
    stop_sequence: Int32 | None = None
    eta: UtcDatetime | None = None
    appointment: Appointment | None = None
    pod: ProofOfDelivery | None = None
    lading: Lading | None = None
    references: dict[str, tuple[str, ...]] = Field(default_factory=dict)


class ShipmentStatus(Event):
    """Current normalized status of a shipment (output of the shipment_status processor). Topic
    logistics.shipment-status.v1, key <carrier>:<tracking_number>.
    """

    RECORD_NAME: ClassVar[str] = "backbone.logistics.ShipmentStatus"

    carrier: str
    tracking_number: str
    milestone: Milestone
    milestone_rank: Int32
    condition: ShipmentCondition
    eta: UtcDatetime | None = None
    appointment: Appointment | None = None
    last_event: LastShipmentEvent
    history_count: Int32
    first_event_at: UtcDatetime
    last_updated_at: UtcDatetime
    terminal: bool
