"""The WMS feed as a source connector: files in an inbox folder, canonical events out.

Source partition: the file's content (``{"inbox": <dir>, "sha256": <hash>}``); source offset:
the last delivered row (``{"row": n, "file": <name>}``, inclusive, see connectors/api.py). So
a file that comes back — the same bytes under any name, after a crash before it was moved —
resumes after its last delivered row, and a fully delivered one publishes nothing. A file is
moved to ``processed/`` only after Kafka acknowledged every row of it.

A file that cannot be split into rows at all (files.UnreadableFile) publishes nothing: it
becomes one dead letter holding the whole file (offset ``{"row": 0, "unreadable": true}``) and
is moved to ``failed/`` after Kafka acknowledged it, so one bad file never halts the feed.
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
from connectors.wms_feed.files import FeedRow, UnreadableFile, feed_files, read_rows
from connectors.wms_feed.mapping import BadRow, map_row

NAME = "wms-feed"
DEAD_LETTER_TOPIC = "wms-feed.dlq.v1"
PROCESSED = "processed"
FAILED = "failed"


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
    unreadable: UnreadableFile | None = None  # then one item: the whole file as a dead letter
    content: bytes = b""  # kept only for an unreadable file
    columns: str = ""  # a CSV file's header line: a dead letter's row is read under it again

    @property
    def size(self) -> int:
        """Items to deliver: the rows, or the one whole-file dead letter."""
        return 1 if self.unreadable is not None else len(self.rows)


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
            if current.next_index >= current.size:
                if current.delivered_index >= current.size:
                    self._finish(current)  # nothing (more) to deliver: move it now
                    continue
                return []  # waiting for the batch in flight to be committed
            if current.unreadable is not None:
                current.next_index = 1
                return [self._whole_file(current, current.unreadable)]
            batch = current.rows[current.next_index:current.next_index + max_records]
            current.next_index += len(batch)
            recorded_at = datetime.now(UTC)
            return [self._record(current, row, recorded_at) for row in batch]

    def commit(self, records: Sequence[SourceRecord]) -> None:
        current = self._file
        if current is None or not records:
            return
        current.delivered_index = current.next_index
        if current.delivered_index >= current.size:
            self._finish(current)

    def abandon(self, records: Sequence[SourceRecord]) -> None:
        if self._file is not None:
            self._file.next_index = self._file.delivered_index

    def stop(self) -> None:
        self._file = None

    def _open_next(self) -> _OpenFile | None:
        assert self._offsets is not None, "WmsFeedTask.start was not called"
        for path in feed_files(self.inbox):
            unreadable: UnreadableFile | None = None
            try:
                content = path.read_bytes()
            except FileNotFoundError:
                continue  # taken away since the folder was listed
            except OSError as error:  # e.g. no read permission: a dead letter without bytes
                content = b""
                unreadable = UnreadableFile(f"cannot be read ({error.strerror}); check its "
                                            "permissions")
            # an unopened file has no content to hash: its name stands in
            digest = hashlib.sha256(content if unreadable is None
                                    else f"unopened:{path.name}".encode()).hexdigest()
            partition = {"inbox": str(self.inbox), "sha256": digest}
            stored = self._offsets.offset(self.connector.name, partition)
            rows: list[FeedRow] = []
            if unreadable is None:
                try:
                    rows = list(read_rows(path.name, content))
                except UnreadableFile as error:
                    unreadable = error
            if unreadable is not None:
                done = 1 if stored and stored.get("unreadable") else 0  # already dead-lettered
                self._file = _OpenFile(path, digest, [], done, done, partition, unreadable,
                                       content)
                return self._file
            last_row = int(stored["row"]) if stored else 0
            # Resume strictly after the last delivered row (connectors/api.py).
            start = next((i for i, row in enumerate(rows) if row.row > last_row), len(rows))
            columns = ""
            if path.suffix == ".csv":
                columns = content.decode("utf-8-sig", errors="replace").partition("\n")[0]
            self._file = _OpenFile(path, digest, rows, start, start, partition,
                                   columns=columns.rstrip("\r"))
            return self._file
        return None

    def _finish(self, current: _OpenFile) -> None:
        folder = self.inbox / (FAILED if current.unreadable is not None else PROCESSED)
        folder.mkdir(exist_ok=True)
        target = folder / current.path.name
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

    def _whole_file(self, current: _OpenFile, error: UnreadableFile) -> SourceRecord:
        name = current.path.name
        where = f"{name} row {error.row}" if error.row is not None else name
        reason = (f"{where}: {error}; nothing of the file was published, the whole file is "
                  f"the dead letter and the file moves to {FAILED}/: fix it and drop it in "
                  "again")
        letter = DeadLetter(reason=reason, category=Category.DESERIALIZATION, key=name,
                            value=current.content,
                            where={"file": name, "row": str(error.row or 0),
                                   "sha256": current.digest, "whole_file": "true"})
        offset = {"row": 0, "file": name, "unreadable": True}
        return SourceRecord(current.partition, offset, dead_letter=letter)
