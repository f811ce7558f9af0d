"""The envelope every canonical event starts with, and its Avro / JSON-lines boundary.

Models are plain pydantic; Avro and JSON shapes are produced at the boundary (`to_avro`,
`to_json_dict`) so domain code never sees wire details.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import model_validator

from backbone.events.common import Correlation, Source
from backbone.events.values import CanonicalRecord, Int32, UtcDatetime, UuidText


class Event(CanonicalRecord):
    """The envelope every canonical event starts with (CANONICAL_MODEL.md, Envelope)."""

    event_id: UuidText
    # Filled from the class when omitted; any other value is refused (see _fill_event_type).
    event_type: str = ""
    occurred_at: UtcDatetime
    occurred_at_offset_minutes: Int32 | None = None
    recorded_at: UtcDatetime
    source: Source
    correlation: Correlation
    idempotency_key: str
    warnings: tuple[str, ...] = ()

    @classmethod
    def event_type_name(cls) -> str:
        """The short record name carried in ``event_type``, e.g. ``PurchaseOrderChanged``."""
        return cls.RECORD_NAME.rpartition(".")[2]

    @model_validator(mode="before")
    @classmethod
    def _fill_event_type(cls, data: Any) -> Any:
        if cls is Event or not cls.RECORD_NAME:
            raise TypeError("Event is abstract; build a concrete event such as ShipmentMilestone")
        if isinstance(data, dict):
            expected = cls.event_type_name()
            given = data.get("event_type")
            if given == expected:
                return data  # the common case: no copy of the whole record
            if given in (None, ""):
                return {**data, "event_type": expected}
            if given not in (expected, cls.RECORD_NAME):
                raise ValueError(f"event_type {given!r} does not match {cls.__name__} ({expected})")
            return {**data, "event_type": expected}
        return data

    def to_avro(self) -> dict[str, Any]:
        """The dict ``fastavro.schemaless_writer`` takes for this event's schema.

        pydantic-core's own dump (Rust) is the shape fastavro wants: StrEnum members are
        strings, tuples are sequences, Decimal and aware datetimes are what the decimal and
        timestamp logical types take. A test proves the bytes equal a field-by-field walk.
        ``warnings=False``: a ``model_copy(update=...)`` may hold an enum field as its plain
        string value (no validation on update); it is dumped as it is, as the walk did.
        """
        return self.model_dump(warnings=False)

    @classmethod
    def from_avro(cls, data: dict[str, Any]) -> Self:
        """Build from what ``fastavro.schemaless_reader`` returned; `Event` picks the model."""
        return cls._concrete(data).model_validate(data)

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON lines shape (INTERFACES.md): Avro field names, decimals as strings,
        timestamps ISO-8601 UTC with 'Z'."""
        return self.model_dump(mode="json")

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> Self:
        """Build from the JSON lines shape; `Event` picks the model from ``event_type``."""
        return cls._concrete(data).model_validate(data)

    @classmethod
    def _concrete(cls, data: dict[str, Any]) -> type[Self]:
        if cls is not Event:
            return cls
        from backbone.events.registry import model_for  # the registry imports every model

        name = data.get("event_type") if isinstance(data, dict) else None
        if not isinstance(name, str):
            raise ValueError(
                f"event_type is missing or not a string ({name!r}); cannot pick a model"
            )
        return model_for(name)  # type: ignore[return-value]
