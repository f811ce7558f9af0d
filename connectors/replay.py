"""A source-side dead letter read again with the connector's current mapping (replay, dry-run).

A connector's or the webhook service's dead letter holds the original input as its value (a WMS
row, an outbox row as JSON, an X12 transaction set, a webhook body) and in its
``backbone.dlq.source.*`` headers what is needed to read it the same way again: the CSV header
line, the ISA and GS segments, the webhook's source and receive time, the connector instance.
:func:`reread` maps it with the code and tables loaded now and returns the events it yields, or
raises :class:`StillFails` with the category and message it would be dead-lettered with again.

The events are the ones the connector would have published: same ``idempotency_key`` and
``event_id`` (both derived from the input, the instance and, for webhooks, the receive time), so
publishing them after a fix is safe even if some were published before.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from backbone.dead_letters import DeadLetter, parse_time
from backbone.errors import BackboneError, Category
from backbone.events import Event


class StillFails(BackboneError):
    """The input still does not map; ``category`` is why, ``str()`` names the input."""

    def __init__(self, message: str, category: Category) -> None:
        super().__init__(message)
        self.category = category


def replayable(record: DeadLetter) -> bool:
    """Whether ``record`` is a source-side dead letter this module can read again."""
    return record.owner in _READERS and not record.original_topic


def reread(record: DeadLetter, value: bytes | None, *,
           recorded_at: datetime | None = None) -> list[Event]:
    """The events the owner's current mapping makes of the dead letter's input.

    ``recorded_at`` defaults to now (a webhook keeps its receive time: its events' ids derive
    from the body alone, their recorded_at is when the body came in).
    """
    if "event_type" in record.source:
        raise StillFails(f"this dead letter holds a {record.source['event_type']} event the "
                         "serde refused, not the source input: fix the source item and send it "
                         "again", Category.SCHEMA_VALIDATION)
    read = _READERS.get(record.owner)
    if read is None:
        raise StillFails(f"dead letters of {record.owner!r} cannot be read again here; replay "
                         f"reads those of {', '.join(sorted(_READERS))}", Category.UNEXPECTED)
    if value is None:
        raise StillFails(f"the dead letter of {record.owner} has no value (the original input "
                         "is gone)", Category.DESERIALIZATION)
    return read(record.source, value, recorded_at or datetime.now(UTC))


def _wms(source: Mapping[str, str], value: bytes, recorded_at: datetime) -> list[Event]:
    from connectors.wms_feed.files import UnreadableFile, read_rows
    from connectors.wms_feed.mapping import BadRow, map_row

    name, row = source.get("file", "replay"), source.get("row", "?")
    where = f"{name} row {row}"
    if source.get("whole_file"):
        raise StillFails(f"{name}: the whole file could not be read; fix it and drop it in the "
                         "inbox again", Category.DESERIALIZATION)
    columns = source.get("columns")
    content = (columns + "\n").encode() + value if columns else value
    try:
        rows = list(read_rows(name if columns else "replay.jsonl", content))
    except UnreadableFile as error:
        raise StillFails(f"{where}: {error}", Category.DESERIALIZATION) from None
    if len(rows) != 1:
        raise StillFails(f"{where}: not one row but {len(rows)}", Category.DESERIALIZATION)
    if rows[0].fields is None:
        raise StillFails(f"{where}: {rows[0].problem}", Category.DESERIALIZATION)
    try:
        return [map_row(rows[0].fields, instance=source.get("instance", "wms"),
                        source_ref=f"{name}:{row}", recorded_at=recorded_at)]
    except BadRow as error:
        raise StillFails(f"{where}: {error}", error.category) from None


def _erp(source: Mapping[str, str], value: bytes, recorded_at: datetime) -> list[Event]:
    from connectors.erp_outbox.mapping import OutboxRow, UnmappableRow, map_row

    try:
        data = json.loads(value)
        row = OutboxRow(seq=int(data["seq"]), id=str(data["id"]),
                        aggregatetype=str(data["aggregatetype"]),
                        aggregateid=str(data["aggregateid"]), type=str(data["type"]),
                        payload=str(data["payload"]),
                        created_at=datetime.fromisoformat(data["created_at"]))
    except (ValueError, KeyError, TypeError) as error:
        raise StillFails(f"outbox row {source.get('outbox_id', '?')}: the dead letter's value "
                         f"is not the outbox row as the relay wrote it ({error})",
                         Category.DESERIALIZATION) from None
    try:
        return [map_row(row, instance=source.get("instance", "erp"), recorded_at=recorded_at)]
    except UnmappableRow as error:
        raise StillFails(str(error), error.category) from None


def _edi(source: Mapping[str, str], value: bytes, recorded_at: datetime) -> list[Event]:
    from connectors.edi_x12.envelope import read_transaction_sets
    from connectors.edi_x12.mapping import MappingError, map_transaction_set

    isa, gs = source.get("isa", ""), source.get("gs", "")
    name = source.get("file", "replay.edi")
    isa_fields = isa.split(isa[3:4] or "*")
    if not isa.startswith("ISA") or len(isa_fields) != 17 or not gs:
        raise StillFails(f"{name} set {source.get('transaction_set', '?')}: the dead letter "
                         "does not carry its ISA and GS segments (written before replay "
                         "existed); resend the file instead", Category.DESERIALIZATION)
    # ISA16 is one character (the component separator); what follows it ends every segment
    element, terminator = isa[3], isa_fields[16][1:]
    gs_fields = gs.removesuffix(terminator).split(element)
    gs_control = gs_fields[6] if len(gs_fields) > 6 else ""
    text = (isa + gs + value.decode("utf-8", errors="replace")
            + f"GE{element}1{element}{gs_control}{terminator}"
            + f"IEA{element}1{element}{source.get('interchange', '')}{terminator}")
    results = [r for r in read_transaction_sets(io.BytesIO(text.encode()), name)
               if r.transaction_set is not None or r.rejection is not None]
    if not results:
        raise StillFails(f"{name}: no transaction set in the dead letter", Category.DESERIALIZATION)
    result = results[0]
    if result.rejection is not None:
        raise StillFails(str(result.rejection), Category.SCHEMA_VALIDATION)
    try:
        return list(map_transaction_set(result, file=name, recorded_at=recorded_at))
    except MappingError as error:
        raise StillFails(str(error.error), Category.SCHEMA_VALIDATION) from None


def _webhook(source: Mapping[str, str], value: bytes, recorded_at: datetime) -> list[Event]:
    from connectors.carriers import CarrierResponseError, parse

    carrier, webhook_id = source.get("webhook_source", "?"), source.get("webhook_id", "?")
    received = source.get("received_at")
    if received:
        recorded_at = datetime.fromtimestamp(parse_time(received) / 1000, UTC)
    try:
        parsed = parse(carrier, value, name=f"{carrier} webhook {webhook_id}",
                       recorded_at=recorded_at)
    except (CarrierResponseError, ValueError) as error:
        raise StillFails(str(error), Category.DESERIALIZATION) from None
    if not parsed.events:
        problems = "; ".join(f"{r.position}: {r.problem}" for r in parsed.rejections[:5])
        raise StillFails(f"{carrier} webhook {webhook_id}: no usable tracking event "
                         f"({problems or 'none in the body'})", Category.SCHEMA_VALIDATION)
    return list(parsed.events)


_READERS: dict[str, Callable[[Mapping[str, str], bytes, datetime], list[Event]]] = {
    "wms-feed": _wms,
    "erp-outbox": _erp,
    "edi-x12": _edi,
    "carrier-webhooks": _webhook,
}
