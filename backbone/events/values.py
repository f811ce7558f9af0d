"""Value types of the canonical model (Avro logical types as validated Python values) and the
base record every model derives from."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
)


@dataclass(frozen=True)
class DecimalSpec:
    """Marks a Decimal field with the Avro decimal it is written as."""

    precision: int
    scale: int


@dataclass(frozen=True)
class TimestampMillis:
    """Marks a datetime field written as Avro long timestamp-millis (UTC)."""


@dataclass(frozen=True)
class UuidString:
    """Marks a str field written as Avro string with logicalType uuid."""


def _fit_decimal(spec: DecimalSpec) -> AfterValidator:
    quantum = Decimal(1).scaleb(-spec.scale)
    max_integer_digits = spec.precision - spec.scale

    def fit(value: Decimal) -> Decimal:
        if not value.is_finite():
            raise ValueError(f"must be a finite decimal, got {value}")
        # integer digits first: quantize of a value that large fails too, and would be
        # reported as a decimal-places problem
        if value.adjusted() >= max_integer_digits:
            raise ValueError(
                f"{value:.40} has more than {max_integer_digits} integer digits "
                f"(Avro decimal precision {spec.precision}, scale {spec.scale})"
            )
        try:
            fitted = value.quantize(quantum)
        except InvalidOperation:
            fitted = None
        if fitted is None or fitted != value:
            raise ValueError(
                f"{value:.40} has more than {spec.scale} decimal places (Avro decimal scale "
                f"{spec.scale}); round it at the source"
            )
        return fitted

    return AfterValidator(fit)


def _utc_millis(value: datetime) -> datetime:
    # fast path (the common case: fastavro and earlier validation hand over UTC millis): no
    # new object; the result is what the general path below returns
    if value.tzinfo is UTC and not value.microsecond % 1000:
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"naive datetime {value.isoformat()} has no UTC offset; give an offset "
            "(e.g. 2024-05-14T13:22:00Z) or convert it to UTC at the source"
        )
    # Avro timestamp-millis cannot hold microseconds; truncating here keeps round trips equal.
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+05:00 has no UTC time in the calendar
        raise ValueError(
            f"{value.isoformat()} is outside the calendar once converted to UTC"
        ) from None
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _uuid_text(value: Any) -> Any:
    # canonical lower-case text is its own canonical form: skip building a UUID (the common case)
    if type(value) is str and _CANONICAL_UUID.fullmatch(value):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ValueError(
                f"{value!r} is not a UUID (e.g. 1b4e28ba-2fa1-11d2-883f-0016d3cca427)"
            ) from None
    return value


_QUANTITY_SPEC = DecimalSpec(precision=18, scale=6)
_MONEY_SPEC = DecimalSpec(precision=18, scale=4)

def _decimal_text(value: Decimal) -> str:
    return format(value, "f")


def _iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# JSON lines shape (INTERFACES.md), applied by pydantic-core's dump in JSON mode only: Python
# mode (to_avro) keeps Decimal and datetime, which the Avro logical types take.
_DECIMAL_JSON = PlainSerializer(_decimal_text, return_type=str, when_used="json")
_DATETIME_JSON = PlainSerializer(_iso_utc, return_type=str, when_used="json")

QuantityDecimal = Annotated[Decimal, _QUANTITY_SPEC, _fit_decimal(_QUANTITY_SPEC), _DECIMAL_JSON]
"""A quantity: Avro decimal(18, 6)."""
MoneyDecimal = Annotated[Decimal, _MONEY_SPEC, _fit_decimal(_MONEY_SPEC), _DECIMAL_JSON]
"""A price or amount: Avro decimal(18, 4)."""
UtcDatetime = Annotated[datetime, TimestampMillis(), AfterValidator(_utc_millis), _DATETIME_JSON]
"""A point in time: timezone-aware, normalized to UTC, millisecond precision."""
UuidText = Annotated[str, UuidString(), BeforeValidator(_uuid_text)]
"""A UUID in its canonical lower-case text form."""
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
"""An Avro int."""


class CanonicalRecord(BaseModel):
    """A record of the canonical model; `RECORD_NAME` is its Avro full name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    RECORD_NAME: ClassVar[str] = ""

    @classmethod
    def record_name(cls) -> str:
        """The Avro full name, e.g. ``backbone.procurement.PurchaseOrderChanged``."""
        return cls.RECORD_NAME


_ModelT = TypeVar("_ModelT", bound=BaseModel)


def from_validated(model: type[_ModelT], fields: dict[str, Any],
                   unset: frozenset[str] = frozenset()) -> _ModelT:
    """``model`` holding ``fields`` as they are, without validating them again: for a hot path
    that copies values out of records already validated. What ``model_construct`` does, minus its
    per-field alias and default handling (in pydantic 2.13 that makes it slower than validation),
    so the caller owes what it skips:

    - ``fields`` names every field of ``model``, in declaration order (as validation fills
      ``__dict__``; ``repr`` follows it);
    - each value is exactly what validation would make of it: tuples not lists, enum members,
      nested records as instances, UTC millisecond datetimes, values within Int32 bounds;
    - ``unset`` names the fields a validating call would have left to their defaults (they are
      not in ``model_fields_set``);
    - ``model`` has no private attributes, no ``model_post_init`` and no ``extra="allow"``.
    """
    record = model.__new__(model)
    object.__setattr__(record, "__dict__", fields)
    object.__setattr__(record, "__pydantic_fields_set__",
                       fields.keys() - unset if unset else set(fields))
    object.__setattr__(record, "__pydantic_extra__", None)
    object.__setattr__(record, "__pydantic_private__", None)
    return record
