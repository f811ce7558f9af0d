"""Shared records of the canonical model (backbone.common): envelope parts, parties, items."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from backbone.events.values import CanonicalRecord, QuantityDecimal


class DateQualifier(StrEnum):
    """What a business date means (canonical form of X12 element 374 and ACK04/DTM qualifiers)."""

    PO_DATE = "PO_DATE"
    REQUESTED_SHIP = "REQUESTED_SHIP"
    REQUESTED_DELIVERY = "REQUESTED_DELIVERY"
    SHIP_NOT_BEFORE = "SHIP_NOT_BEFORE"
    SHIP_NOT_AFTER = "SHIP_NOT_AFTER"
    DELIVER_NOT_BEFORE = "DELIVER_NOT_BEFORE"
    DELIVER_NOT_AFTER = "DELIVER_NOT_AFTER"
    PROMISED_SHIP = "PROMISED_SHIP"
    PROMISED_DELIVERY = "PROMISED_DELIVERY"
    ESTIMATED_DELIVERY = "ESTIMATED_DELIVERY"
    SHIPPED = "SHIPPED"
    OTHER = "OTHER"
    UNKNOWN = "UNKNOWN"


class DocumentStandard(StrEnum):
    """Standard of the source document or message."""

    X12 = "X12"
    EDIFACT = "EDIFACT"
    API = "API"
    DB = "DB"
    FILE = "FILE"
    EPCIS = "EPCIS"
    UNKNOWN = "UNKNOWN"


class HandlingUnitType(StrEnum):
    """Kind of physical handling unit."""

    PALLET = "PALLET"
    CARTON = "CARTON"
    PACK = "PACK"
    OTHER = "OTHER"
    UNKNOWN = "UNKNOWN"


class PartyIdQualifier(StrEnum):
    """What kind of identifier a party id is (canonical form of X12 element 66, N103)."""

    GLN = "GLN"
    DUNS = "DUNS"
    DUNS4 = "DUNS4"
    SCAC = "SCAC"
    SAN = "SAN"
    BUYER_ASSIGNED = "BUYER_ASSIGNED"
    SELLER_ASSIGNED = "SELLER_ASSIGNED"
    MUTUAL = "MUTUAL"
    OTHER = "OTHER"
    UNKNOWN = "UNKNOWN"


class PartyRole(StrEnum):
    """Role of a party in a document (canonical form of X12 element 98, N101)."""

    BUYER = "BUYER"
    SELLER = "SELLER"
    SUPPLIER = "SUPPLIER"
    VENDOR = "VENDOR"
    SHIP_TO = "SHIP_TO"
    SHIP_FROM = "SHIP_FROM"
    BILL_TO = "BILL_TO"
    REMIT_TO = "REMIT_TO"
    ORDERED_BY = "ORDERED_BY"
    WAREHOUSE = "WAREHOUSE"
    DEPOSITOR = "DEPOSITOR"
    CONSIGNEE = "CONSIGNEE"
    SHIPPER = "SHIPPER"
    CARRIER = "CARRIER"
    OTHER = "OTHER"
    UNKNOWN = "UNKNOWN"


class SourceSystem(StrEnum):
    """Kind of system an event came from."""

    ERP = "ERP"
    WMS = "WMS"
    CARRIER = "CARRIER"
    EDI = "EDI"
    SUPPLIER_API = "SUPPLIER_API"
    BACKBONE = "BACKBONE"
    OTHER = "OTHER"
    UNKNOWN = "UNKNOWN"


class Address(CanonicalRecord):
    """Postal address as the source stated it."""

    RECORD_NAME: ClassVar[str] = "backbone.common.Address"

    lines: tuple[str, ...] = ()
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


class BusinessDate(CanonicalRecord):
    """A qualified calendar date of a document or line (DTM, ACK04/05)."""

    RECORD_NAME: ClassVar[str] = "backbone.common.BusinessDate"

    qualifier: DateQualifier
    qualifier_raw: str | None = None
    date: date


class CarrierRef(CanonicalRecord):
    """The carrier moving a shipment and its references (TD5, REF BM/CN, TD3)."""

    RECORD_NAME: ClassVar[str] = "backbone.common.CarrierRef"

    scac: str | None = None
    name: str | None = None
    mode_raw: str | None = None
    pro: str | None = None
    bol: str | None = None
    equipment_number: str | None = None


class ControlNumbers(CanonicalRecord):
    """X12 envelope control numbers of the source transaction."""

    RECORD_NAME: ClassVar[str] = "backbone.common.ControlNumbers"

    interchange: str | None = None
    group: str | None = None
    transaction: str | None = None


class Correlation(CanonicalRecord):
    """Business references that tie related events together across topics."""

    RECORD_NAME: ClassVar[str] = "backbone.common.Correlation"

    po_number: str | None = None
    asn_id: str | None = None
    bol: str | None = None
    pro: str | None = None
    tracking_numbers: tuple[str, ...] = ()
    correlation_id: str | None = None
    causation_id: str | None = None


class DocumentRef(CanonicalRecord):
    """The source document an event was mapped from."""

    RECORD_NAME: ClassVar[str] = "backbone.common.DocumentRef"

    standard: DocumentStandard
    version: str | None = None
    transaction_set: str | None = None
    control_numbers: ControlNumbers | None = None
    raw_ref: str | None = None


class HandlingUnit(CanonicalRecord):
    """A trackable physical unit: pallet, carton, pack (ASN tare/pack levels, MAN segments)."""

    RECORD_NAME: ClassVar[str] = "backbone.common.HandlingUnit"

    sscc: str | None = None
    type: HandlingUnitType
    type_raw: str | None = None
    hl_id: str | None = None
    parent: str | None = None
    tracking_number: str | None = None
    weight: Quantity | None = None


class ItemRef(CanonicalRecord):
    """Identifies a product by every id the source gave."""

    RECORD_NAME: ClassVar[str] = "backbone.common.ItemRef"

    line_ref: str | None = None
    sku: str | None = None
    gtin: str | None = None
    upc: str | None = None
    case_code: str | None = None
    buyer_item: str | None = None
    vendor_item: str | None = None
    description: str | None = None
    ids: dict[str, str] = Field(default_factory=dict)


class LocationRef(CanonicalRecord):
    """A place of ours or a partner's: site, dock, bin."""

    RECORD_NAME: ClassVar[str] = "backbone.common.LocationRef"

    gln: str | None = None
    site_id: str | None = None
    sublocation: str | None = None
    name: str | None = None


class Quantity(CanonicalRecord):
    """A quantity in the unit the source used, and optionally converted to the base unit."""

    RECORD_NAME: ClassVar[str] = "backbone.common.Quantity"

    value: QuantityDecimal
    uom: str
    base_value: QuantityDecimal | None = None
    base_uom: str | None = None


class Lot(CanonicalRecord):
    """A lot or batch of an item."""

    RECORD_NAME: ClassVar[str] = "backbone.common.Lot"

    lot_number: str
    quantity: Quantity | None = None
    expiry_date: date | None = None


class PartyRef(CanonicalRecord):
    """A party named in a document (N1 loop, API party block)."""

    RECORD_NAME: ClassVar[str] = "backbone.common.PartyRef"

    role: PartyRole
    role_raw: str | None = None
    id: str | None = None
    id_qualifier: PartyIdQualifier = PartyIdQualifier.UNKNOWN
    id_qualifier_raw: str | None = None
    name: str | None = None
    address: Address | None = None


class Source(CanonicalRecord):
    """Who and what produced an event."""

    RECORD_NAME: ClassVar[str] = "backbone.common.Source"

    system: SourceSystem
    instance: str | None = None
    partner_id: str | None = None
    document: DocumentRef | None = None
