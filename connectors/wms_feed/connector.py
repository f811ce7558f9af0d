"""The WMS feed as a source connector: files in an inbox folder, canonical events out.

Source partition: the file's content (``{"inbox": <dir>, "sha256": <hash>}``); source offset:
the last delivered row (``{"row": n, "file": <name>}``, inclusive, see connectors/api.py). So
a file that comes back — the same bytes under any name, after a crash before it was moved —
resumes after its last delivered row, and a fully delivered one publishes nothing. A file is
moved to ``processed/`` only after Kafka acknowledged every row of it.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from backbone.errors import Category
from connectors.api import DeadLetter, OffsetReader, SourceRecord
from connectors.wms_feed.files import FeedRow, feed_files, read_rows
from connectors.wms_feed.mapping import BadRow, map_row

NAME = "wms-feed"
DEAD_LETTER_TOPIC = "wms-feed.dlq.v1"
PROCESSED = "processed"


@dataclass
class WmsFeedConnector:
    """Reads ``inbox``; ``instance`` names the WMS in events and idempotency keys."""

    inbox: Path
    instance: str = "wms"
    name: str = NAME
    dead_letter_topic: str = DEAD_LETTER_TOPIC

    def task(self) -> WmsFeedTask:
        return WmsFeedTask(self)


@dataclass
class _OpenFile:
    path: Path
    digest: str
    rows: list[FeedRow]
    next_index: int  # first row not handed out yet
    delivered_index: int  # first row not delivered yet
    partition: dict[str, str] = field(default_factory=dict)
    columns: str = ""  # a CSV file's header line: a dead letter's row is read under it again


class WmsFeedTask:
    """One file at a time, in name order; rows after the stored offset only."""

    def __init__(self, connector: WmsFeedConnector) -> None:
        self.connector = connector
        self.inbox = connector.inbox.resolve()
        self._offsets: OffsetReader | None = None
        self._file: _OpenFile | None = None

    def start(self, offsets: OffsetReader) -> None:
        if not self.inbox.is_dir():
            raise FileNotFoundError(f"--inbox {self.inbox}: no such folder")
        self._offsets = offsets
        (self.inbox / PROCESSED).mkdir(exist_ok=True)

    def poll(self, max_records: int) -> Sequence[SourceRecord]:
        while True:
            current = self._file or self._open_next()
            if current is None:
                return []
            if current.next_index >= len(current.rows):
                if current.delivered_index >= len(current.rows):
                    self._finish(current)  # nothing (more) to deliver: move it now
                    continue
                return []  # waiting for the batch in flight to be committed
            batch = current.rows[current.next_index:current.next_index + max_records]
            current.next_index += len(batch)
            recorded_at = datetime.now(UTC)
            return [self._record(current, row, recorded_at) for row in batch]

    def commit(self, records: Sequence[SourceRecord]) -> None:
        current = self._file
        if current is None or not records:
            return
        current.delivered_index = current.next_index
        if current.delivered_index >= len(current.rows):
            self._finish(current)

    def abandon(self, records: Sequence[SourceRecord]) -> None:
        if self._file is not None:
            self._file.next_index = self._file.delivered_index

    def stop(self) -> None:
        self._file = None

    def _open_next(self) -> _OpenFile | None:
        assert self._offsets is not None, "WmsFeedTask.start was not called"
        for path in feed_files(self.inbox):
            content = path.read_bytes()
            digest = hashlib.sha256(content).hexdigest()
            partition = {"inbox": str(self.inbox), "sha256": digest}
            rows = list(read_rows(path.name, content))
            stored = self._offsets.offset(self.connector.name, partition)
            last_row = int(stored["row"]) if stored else 0
            # Resume strictly after the last delivered row (connectors/api.py).
            start = next((i for i, row in enumerate(rows) if row.row > last_row), len(rows))
            columns = ""
            if path.suffix == ".csv":
                columns = content.decode("utf-8-sig", errors="replace").partition("\n")[0]
            self._file = _OpenFile(path, digest, rows, start, start, partition,
                                   columns.rstrip("\r"))
            return self._file
        return None

    def _finish(self, current: _OpenFile) -> None:
        target = self.inbox / PROCESSED / current.path.name
        if target.exists():
            target = target.with_name(f"{target.stem}.{current.digest[:12]}{target.suffix}")
        if current.path.exists():
            shutil.move(current.path, target)
        self._file = None

    def _record(self, current: _OpenFile, row: FeedRow, recorded_at: datetime) -> SourceRecord:
        offset = {"row": row.row, "file": current.path.name}
        source_ref = f"{current.path.name}:{row.row}"
        problem, category = row.problem, Category.DESERIALIZATION
        if row.fields is not None:
            try:
                event = map_row(row.fields, instance=self.connector.instance,
                                source_ref=source_ref, recorded_at=recorded_at)
                return SourceRecord(current.partition, offset, event=event)
            except BadRow as error:
                problem, category = str(error), error.category
        reason = f"{current.path.name} row {row.row}: {problem}"
        letter = DeadLetter(reason=reason, category=category, key=source_ref,
                            value=row.raw.encode(),
                            where={"file": current.path.name, "row": str(row.row),
                                   "sha256": current.digest, "instance": self.connector.instance,
                                   **({"columns": current.columns} if current.columns else {})})
        return SourceRecord(current.partition, offset, dead_letter=letter)
