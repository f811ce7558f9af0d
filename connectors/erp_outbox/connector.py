"""The ERP outbox relay as a source connector: outbox rows in, canonical events out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from backbone.events import Event
from connectors.api import DeadLetter, OffsetReader, SourceRecord
from connectors.erp_outbox.database import OutboxTable, open_outbox
from connectors.erp_outbox.mapping import OutboxRow, UnmappableRow, map_row

NAME = "erp-outbox"
DEAD_LETTER_TOPIC = "erp-outbox.dlq.v1"


@dataclass
class ErpOutboxConnector:
    """Relays the outbox table at ``url``; ``instance`` names the ERP in events and keys."""

    url: str
    instance: str = "erp"
    name: str = NAME
    dead_letter_topic: str = DEAD_LETTER_TOPIC

    def task(self) -> ErpOutboxTask:
        return ErpOutboxTask(self)


class ErpOutboxTask:
    """Claims unpublished rows, maps them, marks them published once delivered.

    The database's ``published_at`` is where this task resumes, not the stored source offset:
    with several relays, and with transactions of different aggregates committing out of
    ``seq`` order, a single high-water mark would skip rows. The offset (last relayed ``seq``
    and row id) is still stored, so operators see how far a relay got.
    """

    def __init__(self, connector: ErpOutboxConnector) -> None:
        self.connector = connector
        self._table: OutboxTable | None = None
        self.resumed_after: object = None

    @property
    def table(self) -> OutboxTable:
        if self._table is None:
            raise RuntimeError("ErpOutboxTask.start was not called")
        return self._table

    def start(self, offsets: OffsetReader) -> None:
        self._table = open_outbox(self.connector.url)
        self.resumed_after = offsets.offset(self.connector.name, self.partition)

    @property
    def partition(self) -> dict[str, str]:
        return {"database": self.table.location, "table": "outbox"}

    def poll(self, max_records: int) -> Sequence[SourceRecord]:
        recorded_at = datetime.now(UTC)
        return [self._record(row, recorded_at) for row in self.table.claim(max_records)]

    def commit(self, records: Sequence[SourceRecord]) -> None:
        self.table.mark_published([int(record.source_offset["seq"]) for record in records])

    def abandon(self, records: Sequence[SourceRecord]) -> None:
        self.table.release()

    def stop(self) -> None:
        if self._table is not None:
            self._table.close()

    def _record(self, row: OutboxRow, recorded_at: datetime) -> SourceRecord:
        offset = {"seq": row.seq, "id": row.id}
        try:
            event: Event = map_row(row, instance=self.connector.instance,
                                   recorded_at=recorded_at)
        except UnmappableRow as error:
            letter = DeadLetter(
                reason=f"{error}; fix the mapping or the ERP and insert a corrected row",
                category=error.category, key=row.aggregateid, value=row.as_json(),
                where={"outbox_id": row.id, "outbox_seq": str(row.seq),
                       "database": self.table.location, "instance": self.connector.instance})
            return SourceRecord(self.partition, offset, dead_letter=letter)
        return SourceRecord(self.partition, offset, event=event)
