"""What every X12 mapping shares: the event envelope, X12 values, parties, items, check digits.

Pure functions over reader values (`Segment`, `Interchange`, `FunctionalGroup`); no I/O.

Identity: `idempotency_key` = "X12:<ISA06 sender>:<ISA13>:<GS06>:<ST02>[:<part>]", where
<part> names the line / HL / status when one set yields several events. GS06 is included
because real files reuse ST02 across groups of one interchange (EdiEngine
MultipleInterchangesAndGroups: ST 0001 in groups 3313 and 3314). `event_id` is the uuid5 of
that key, so re-parsing the same file yields the same ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from backbone.events import (
    Address,
    BusinessDate,
    ControlNumbers,
    Correlation,
    DateQualifier,
    DocumentRef,
    DocumentStandard,
    ItemRef,
    PartyIdQualifier,
    PartyRef,
    PartyRole,
    Quantity,
    Source,
    SourceSystem,
)
from connectors.edi_x12.errors import EdiError
from connectors.edi_x12.model import (
    FunctionalGroup,
    Interchange,
    Segment,
    TransactionSet,
    is_digits,
)

# Numbers are refused beyond 10**±this: far outside the canonical decimals, and small enough
# that products and sums of two of them stay exact in a 100-digit decimal context.
_NUMBER_EXPONENT_BOUND = 30

# A fixed namespace so event ids are stable across processes and releases.
EVENT_ID_NAMESPACE = uuid.UUID("6f1c4a52-9d3e-5b8a-a4f0-2c7e1d0b9e31")


class MappingError(Exception):
    """A transaction set whose content cannot become a canonical event; `error` says where."""

    def __init__(self, error: EdiError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class SetContext:
    """One accepted transaction set with its envelope: what every mapping starts from."""

    file: str
    interchange: Interchange
    group: FunctionalGroup
    transaction_set: TransactionSet
    recorded_at: datetime
    warnings: list[str] = field(default_factory=list)

    @property
    def body(self) -> tuple[Segment, ...]:
        return self.transaction_set.body

    @property
    def sender(self) -> str:
        return self.interchange.sender_id

    @property
    def receiver(self) -> str:
        return self.interchange.receiver_id

    def key(self, *parts: str) -> str:
        base = (
            f"X12:{self.interchange.sender_id}:{self.interchange.control_number}:"
            f"{self.group.control_number}:{self.transaction_set.control_number}"
        )
        return ":".join((base, *parts)) if parts else base

    def fail(self, segment: Segment | None, problem: str, hint: str) -> MappingError:
        """A mapping error positioned at `segment` (the ST when None)."""
        at = segment or self.transaction_set.header
        ts = self.transaction_set
        return MappingError(
            EdiError(
                file=self.file,
                problem=f"{ts.set_id} {ts.control_number}: {problem}",
                hint=f"{hint}; the set was not published — ask the partner to correct and "
                f"resend ISA {self.interchange.control_number}",
                scope="transaction_set",
                byte_offset=at.byte_offset,
                segment_index=at.segment_index,
                segment_tag=at.tag,
                interchange_control=self.interchange.control_number,
                group_control=self.group.control_number,
                transaction_set_control=ts.control_number,
            )
        )

    def warn(self, segment: Segment, message: str) -> None:
        self.warnings.append(f"segment {segment.segment_index} ({segment.tag}): {message}")

    def require(self, tag: str) -> Segment:
        """The first `tag` segment of the body, or a mapping error naming what is missing."""
        for segment in self.body:
            if segment.tag == tag:
                return segment
        raise self.fail(None, f"no {tag} segment", f"a {self.transaction_set.set_id} needs one")

    def first(self, tag: str) -> Segment | None:
        return next((s for s in self.body if s.tag == tag), None)

    def _correlated(self, correlation: Correlation) -> Correlation:
        # Every event of one interchange shares its correlation id, so an operator can follow
        # the partner's document through every stage and into the dead-letter topics.
        if correlation.correlation_id is not None:
            return correlation
        document = f"X12:{self.interchange.sender_id}:{self.interchange.control_number}"
        return correlation.model_copy(update={"correlation_id": document})

    def envelope(self, key: str, *, correlation: Correlation | None = None) -> dict[str, Any]:
        """The envelope fields of an event (pass the rest of the event's fields beside)."""
        ts = self.transaction_set
        return {
            "event_id": str(uuid.uuid5(EVENT_ID_NAMESPACE, key)),
            "recorded_at": self.recorded_at,
            "source": Source(
                system=SourceSystem.EDI,
                partner_id=self.interchange.sender_id,
                document=DocumentRef(
                    standard=DocumentStandard.X12,
                    version=self.group.version or None,
                    transaction_set=ts.set_id,
                    control_numbers=ControlNumbers(
                        interchange=self.interchange.control_number,
                        group=self.group.control_number,
                        transaction=ts.control_number,
                    ),
                    raw_ref=self.file,
                ),
            ),
            "correlation": self._correlated(correlation or Correlation()),
            "idempotency_key": key,
            "warnings": tuple(self.warnings),
        }

    def document_time(self) -> datetime:
        """GS04/GS05 (when the partner made the document), read as UTC: X12 gives no zone."""
        parsed = parse_date(self.group.date)
        if parsed is None:
            return self.recorded_at
        return combine(parsed, self.group.time)

    def number(self, segment: Segment, n: int, *, required: bool = False) -> Decimal | None:
        """Element n as a decimal; '' -> None (or an error when required)."""
        raw = segment.element(n).strip()
        if not raw:
            if required:
                raise self.fail(
                    segment, f"{segment.tag}{n:02d} is empty", "a number is required there"
                )
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise self.fail(
                segment,
                f"{segment.tag}{n:02d} {raw[:30]!r} is not a number",
                "it must be a decimal such as 12 or 9.25",
            ) from None
        if not value.is_finite():
            raise self.fail(segment, f"{segment.tag}{n:02d} {raw[:30]!r} is not a finite number",
                            "it must be a decimal such as 12 or 9.25")
        # "1E999999999" is a valid Decimal whose arithmetic overflows; nothing the canonical
        # model holds (at most 14 integer digits, 6 decimals) is anywhere near these bounds.
        if value and not -_NUMBER_EXPONENT_BOUND <= value.adjusted() <= _NUMBER_EXPONENT_BOUND:
            raise self.fail(
                segment,
                f"{segment.tag}{n:02d} {raw[:30]!r} is out of range for a quantity or amount",
                "it must be a decimal such as 12 or 9.25",
            )
        return value

    def date_of(self, segment: Segment, n: int) -> date | None:
        raw = segment.element(n).strip()
        if not raw:
            return None
        parsed = parse_date(raw)
        if parsed is None:
            raise self.fail(
                segment,
                f"{segment.tag}{n:02d} {raw[:20]!r} is not a date",
                "X12 dates are CCYYMMDD (or YYMMDD before version 4)",
            )
        return parsed


def text(segment: Segment, n: int) -> str | None:
    """Element n without padding; None when empty."""
    value = segment.element(n).strip()
    return value or None


def parse_date(raw: str) -> date | None:
    raw = raw.strip()
    try:
        if len(raw) == 8 and is_digits(raw):
            return date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
        if len(raw) == 6 and is_digits(raw):
            # YYMMDD (before 004010): the X12 window, 00-49 -> 20xx.
            year = int(raw[:2])
            return date(2000 + year if year < 50 else 1900 + year, int(raw[2:4]), int(raw[4:]))
    except ValueError:
        return None
    return None


def parse_time(raw: str) -> tuple[int, int, int] | None:
    """HHMM, HHMMSS or HHMMSSd..; None when malformed."""
    raw = raw.strip()
    if len(raw) < 4 or not is_digits(raw[:4]):
        return None
    hour, minute = int(raw[:2]), int(raw[2:4])
    second = int(raw[4:6]) if len(raw) >= 6 and is_digits(raw[4:6]) else 0
    if hour > 23 or minute > 59 or second > 59:
        return None
    return hour, minute, second


def combine(day: date, raw_time: str) -> datetime:
    hms = parse_time(raw_time) or (0, 0, 0)
    return datetime(day.year, day.month, day.day, *hms, tzinfo=UTC)


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# -- loops -------------------------------------------------------------------------------


def split_loops(
    segments: Sequence[Segment], starts: str | frozenset[str]
) -> tuple[list[Segment], list[list[Segment]]]:
    """Segments before the first `starts` tag, then one list per loop starting at `starts`."""
    start_tags = frozenset({starts}) if isinstance(starts, str) else starts
    head: list[Segment] = []
    loops: list[list[Segment]] = []
    for segment in segments:
        if segment.tag in start_tags:
            loops.append([segment])
        elif loops:
            loops[-1].append(segment)
        else:
            head.append(segment)
    return head, loops


# -- parties -------------------------------------------------------------------------------

PARTY_ROLES = {
    "ST": PartyRole.SHIP_TO, "BT": PartyRole.BILL_TO, "BY": PartyRole.BUYER,
    "SE": PartyRole.SELLER, "SU": PartyRole.SUPPLIER, "VN": PartyRole.VENDOR,
    "SF": PartyRole.SHIP_FROM, "SH": PartyRole.SHIPPER, "RE": PartyRole.REMIT_TO,
    "RI": PartyRole.REMIT_TO, "OB": PartyRole.ORDERED_BY, "WH": PartyRole.WAREHOUSE,
    "DE": PartyRole.DEPOSITOR, "CN": PartyRole.CONSIGNEE, "CA": PartyRole.CARRIER,
}
PARTY_ID_QUALIFIERS = {
    "1": PartyIdQualifier.DUNS, "9": PartyIdQualifier.DUNS4, "UL": PartyIdQualifier.GLN,
    "92": PartyIdQualifier.BUYER_ASSIGNED, "91": PartyIdQualifier.SELLER_ASSIGNED,
    "ZZ": PartyIdQualifier.MUTUAL, "15": PartyIdQualifier.SAN, "2": PartyIdQualifier.SCAC,
}
_PARTY_TAGS = frozenset({"N1", "N2", "N3", "N4"})


def parties(ctx: SetContext, segments: Iterable[Segment]) -> tuple[PartyRef, ...]:
    """Every N1 loop (N1 + following N2/N3/N4) among `segments`."""
    found: list[PartyRef] = []
    n1: Segment | None = None
    lines: list[str] = []
    n4: Segment | None = None

    def close() -> None:
        if n1 is not None:
            found.append(_party(ctx, n1, lines, n4))

    for segment in segments:
        if segment.tag == "N1":
            close()
            n1, lines, n4 = segment, [], None
        elif n1 is not None and segment.tag == "N3":
            lines.extend(v for v in (text(segment, 1), text(segment, 2)) if v)
        elif n1 is not None and segment.tag == "N4":
            n4 = segment
        elif segment.tag not in _PARTY_TAGS:
            close()
            n1 = None
    close()
    return tuple(found)


def _party(ctx: SetContext, n1: Segment, lines: list[str], n4: Segment | None) -> PartyRef:
    role_raw = n1.element(1).strip()
    qualifier_raw = text(n1, 3)
    party_id = text(n1, 4)
    if qualifier_raw == "UL" and party_id is not None:
        check_identifier(ctx, n1, "GLN", party_id, 13)
    address = None
    if lines or n4 is not None:
        address = Address(
            lines=tuple(lines),
            city=text(n4, 1) if n4 else None,
            region=text(n4, 2) if n4 else None,
            postal_code=text(n4, 3) if n4 else None,
            country=text(n4, 4) if n4 else None,
        )
    return PartyRef(
        role=PARTY_ROLES.get(role_raw, PartyRole.OTHER),
        role_raw=role_raw or None,
        id=party_id,
        id_qualifier=(
            PARTY_ID_QUALIFIERS.get(qualifier_raw, PartyIdQualifier.OTHER)
            if qualifier_raw
            else PartyIdQualifier.UNKNOWN
        ),
        id_qualifier_raw=qualifier_raw,
        name=text(n1, 2),
        address=address,
    )


# -- items and identifiers -----------------------------------------------------------------

# Element 235 product id qualifiers that carry a GS1 key, with the length the check applies to.
_GS1_ITEM_IDS = {"UP": ("UPC", 12), "EN": ("EAN-13", 13), "UK": ("GTIN-14", 14)}


def id_pairs(segment: Segment, first: int, last: int | None = None) -> Iterator[tuple[str, str]]:
    """(qualifier, id) pairs from element `first` on (LIN02/03, PO106/07 ...)."""
    end = len(segment.fields) if last is None else min(last + 1, len(segment.fields))
    for n in range(first, end, 2):
        qualifier, value = segment.element(n).strip(), segment.element(n + 1).strip()
        if qualifier and value:
            yield qualifier, value


def item_ref(
    ctx: SetContext,
    segment: Segment,
    pairs: Iterable[tuple[str, str]],
    *,
    line_ref: str | None = None,
    description: str | None = None,
) -> ItemRef:
    """An ItemRef from X12 product id pairs; GS1 ids are checked (warnings, not rejections)."""
    ids: dict[str, str] = {}
    for qualifier, value in pairs:
        ids.setdefault(qualifier, value)
    for qualifier, (kind, length) in _GS1_ITEM_IDS.items():
        if qualifier in ids:
            check_identifier(ctx, segment, kind, ids[qualifier], length)
    gtin = ids.get("UK") or ids.get("EN")
    buyer_item = ids.get("IN") or ids.get("BP") or ids.get("BL")
    vendor_item = ids.get("VN") or ids.get("VP") or ids.get("VA") or ids.get("MG")
    return ItemRef(
        line_ref=line_ref,
        sku=ids.get("SK") or buyer_item or vendor_item or ids.get("UP") or gtin or ids.get("CB"),
        gtin=gtin,
        upc=ids.get("UP"),
        case_code=ids.get("UA"),
        buyer_item=buyer_item,
        vendor_item=vendor_item,
        description=description,
        ids=ids,
    )


def description_of(segments: Iterable[Segment]) -> str | None:
    """PID05 of the first free-form PID among `segments`."""
    for segment in segments:
        if segment.tag == "PID" and text(segment, 5):
            return text(segment, 5)
    return None


def gs1_check_digit_ok(digits: str) -> bool:
    """GS1 mod-10: weights 3,1,3,... from the right, excluding the check digit."""
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def check_identifier(ctx: SetContext, segment: Segment, kind: str, value: str, length: int) -> bool:
    """Length and GS1 check digit of `value`; a failure is a warning on the event."""
    if not (is_digits(value) and len(value) == length):
        ctx.warn(segment, f"{kind} {value!r} should be {length} digits")
        return False
    if not gs1_check_digit_ok(value):
        ctx.warn(segment, f"{kind} {value!r} fails its GS1 check digit")
        return False
    return True


def sscc_of(ctx: SetContext, segment: Segment, qualifier: str, value: str) -> str | None:
    """The 18-digit SSCC of a MAN GM (with its '00' application identifier) or AA mark."""
    digits = value.strip()
    if qualifier == "GM" and len(digits) == 20 and digits.startswith("00"):
        digits = digits[2:]
    elif qualifier not in ("GM", "AA"):
        return None
    check_identifier(ctx, segment, "SSCC", digits, 18)
    return digits


def quantity(
    ctx: SetContext, segment: Segment, value_at: int, uom_at: int, *, required: bool = False
) -> Quantity | None:
    value = ctx.number(segment, value_at, required=required)
    if value is None:
        return None
    uom = segment.element(uom_at).strip()
    if not uom:
        # Decimal(18,6) fit is checked by the model; the unit is what we must not invent.
        ctx.warn(segment, f"{segment.tag}{uom_at:02d} unit of measure is empty; recorded as 'EA'")
        uom = "EA"
    return Quantity(value=value, uom=uom)


# -- dates -------------------------------------------------------------------------------

DATE_QUALIFIERS = {
    "002": DateQualifier.REQUESTED_DELIVERY, "106": DateQualifier.REQUESTED_DELIVERY,
    "010": DateQualifier.REQUESTED_SHIP, "037": DateQualifier.SHIP_NOT_BEFORE,
    "038": DateQualifier.SHIP_NOT_AFTER, "064": DateQualifier.DELIVER_NOT_BEFORE,
    "063": DateQualifier.DELIVER_NOT_AFTER, "004": DateQualifier.PO_DATE,
    "011": DateQualifier.SHIPPED, "017": DateQualifier.ESTIMATED_DELIVERY,
    "067": DateQualifier.PROMISED_DELIVERY, "068": DateQualifier.PROMISED_SHIP,
    "069": DateQualifier.PROMISED_DELIVERY, "079": DateQualifier.PROMISED_SHIP,
}


def business_dates(ctx: SetContext, segments: Iterable[Segment]) -> tuple[BusinessDate, ...]:
    """DTM segments (qualifier 374, date) as qualified business dates.

    A DTM whose date is not a date is left out with a warning naming the segment: one bad
    promised date must not stop the order it belongs to.
    """
    found = []
    for segment in segments:
        if segment.tag == "DTM":
            business_date = dated(ctx, segment, 1, 2)
            if business_date is not None:
                found.append(business_date)
    return tuple(found)


def dated(
    ctx: SetContext, segment: Segment, qualifier_at: int, date_at: int
) -> BusinessDate | None:
    """The qualified date of `segment` (DTM01/02, ACK04/05 ...); None, with a warning when
    the date is there but not a date."""
    raw_date = segment.element(date_at).strip()
    if not raw_date:
        return None
    day = parse_date(raw_date)
    raw = segment.element(qualifier_at).strip()
    name = f"{segment.tag}{date_at:02d}"
    if day is None:
        ctx.warn(segment, f"{name} {raw_date[:20]!r} (qualifier {raw[:3]!r}) is not a date "
                 "(CCYYMMDD, or YYMMDD before version 4); the date was left out")
        return None
    return BusinessDate(
        qualifier=DATE_QUALIFIERS.get(raw, DateQualifier.OTHER),
        qualifier_raw=raw or None,
        date=day,
    )


def line_number_of(ctx: SetContext, line: Segment, ordinal: int) -> str:
    """<tag>01, the line's assigned identification; its position in the set when empty."""
    number = text(line, 1)
    if number is None:
        ctx.warn(line, f"{line.tag}01 (assigned identification) is empty; the line is "
                 f"numbered {ordinal} by its position in the set")
        return str(ordinal)
    return number


def references(segments: Iterable[Segment], tag: str = "REF") -> dict[str, str]:
    """REF (or N9 / L11) qualifier -> first value; L11 puts the qualifier second."""
    found: dict[str, str] = {}
    for segment in segments:
        if segment.tag != tag:
            continue
        if tag == "L11":
            qualifier, value = segment.element(2).strip(), segment.element(1).strip()
        else:
            qualifier, value = segment.element(1).strip(), segment.element(2).strip()
        if qualifier and value:
            found.setdefault(qualifier, value)
    return found


def all_references(segments: Iterable[Segment], tag: str = "REF") -> dict[str, tuple[str, ...]]:
    """Every REF / N9 / L11 value by qualifier, in document order (`references` keeps only
    the first of each); L11 puts the qualifier second."""
    found: dict[str, list[str]] = {}
    for segment in segments:
        if segment.tag != tag:
            continue
        if tag == "L11":
            qualifier, value = segment.element(2).strip(), segment.element(1).strip()
        else:
            qualifier, value = segment.element(1).strip(), segment.element(2).strip()
        if qualifier and value and value not in found.get(qualifier, ()):
            found.setdefault(qualifier, []).append(value)
    return {qualifier: tuple(values) for qualifier, values in found.items()}
