"""The source-connector contract (Kafka Connect shape): connector, task, record, dead letter.

A **connector** names a feed and builds its **task**; the task reads its source and returns
:class:`SourceRecord` values, each carrying the canonical event (or a dead letter) together with
its **source partition** (which stream of the source, e.g. one outbox table, one WMS file) and
its **source offset** (where in that stream the record sits). The runner publishes a batch,
waits until Kafka acknowledged every record, stores the last source offset of each partition,
and only then tells the task to ``commit`` (mark outbox rows published, move a file away).
Anything that stops the process before that point makes the task read the same records again:
delivery is at least once, and every event carries an ``idempotency_key`` (and an ``event_id``
derived from it) that stays the same across such re-reads, so consumers de-duplicate on it.

Resume after the last item read — the one off-by-one of this package, stated once:
a stored source offset is **inclusive**: it names the *last record that was delivered*, never
the next one to read. On start a task must resume **strictly after** it (``row > offset``,
``seq > offset``), never at it; reading "from" the stored offset would publish that record a
second time on every restart. A missing offset means nothing was delivered yet: start at the
beginning.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from backbone.errors import Category
from backbone.events import Event

SourcePartition = Mapping[str, str]
"""Which stream of a source: ``{"table": "outbox", "database": "..."}``, ``{"file": "..."}``."""

SourceOffset = Mapping[str, Any]
"""Where in the stream, JSON-serializable; inclusive (see the module docstring)."""


@dataclass(frozen=True)
class DeadLetter:
    """A source item that could not become a canonical event: its original bytes and why.

    ``where`` names the position a user can find again (``{"file": ..., "row": "7"}`` or
    ``{"outbox_id": ...}``); every entry becomes a ``backbone.dlq.source.<name>`` header of the
    dead-letter record (backbone/dead_letters.py), which `backbone dlq replay` reads again.
    """

    reason: str
    category: Category
    key: str | None
    value: bytes
    where: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceRecord:
    """One item read from a source: a canonical event or a dead letter, and its position."""

    source_partition: SourcePartition
    source_offset: SourceOffset
    event: Event | None = None
    dead_letter: DeadLetter | None = None

    def __post_init__(self) -> None:
        if (self.event is None) == (self.dead_letter is None):
            raise ValueError("a SourceRecord carries exactly one of event or dead_letter")

    @property
    def partition_key(self) -> str:
        """The source partition as canonical JSON (sorted keys): stable across processes."""
        return partition_key(self.source_partition)


def partition_key(partition: SourcePartition) -> str:
    return json.dumps(dict(partition), sort_keys=True, separators=(",", ":"))


class OffsetReader(Protocol):
    """What a task may ask on start: the last delivered offset of one of its partitions."""

    def offset(self, connector: str, partition: SourcePartition) -> SourceOffset | None: ...


class SourceTask(Protocol):
    """Reads one source. Called from one thread: ``start``, then ``poll`` / ``commit`` or
    ``abandon`` for each batch, then ``stop``.
    """

    def start(self, offsets: OffsetReader) -> None:
        """Open the source and resume strictly after the stored offsets (module docstring)."""

    def poll(self, max_records: int) -> Sequence[SourceRecord]:
        """Up to ``max_records`` new records; empty when there is nothing new right now."""

    def commit(self, records: Sequence[SourceRecord]) -> None:
        """Kafka acknowledged ``records`` and their offsets are stored: release them at the
        source (mark rows published, move files). Must be idempotent: a crash may repeat it.
        """

    def abandon(self, records: Sequence[SourceRecord]) -> None:
        """``records`` were not (all) delivered: give them back so a later poll reads them."""

    def stop(self) -> None:
        """Close the source; called once, also after a failure."""


class SourceConnector(Protocol):
    """A feed: its name (used in offsets and metrics), its dead-letter topic, its task."""

    name: str
    dead_letter_topic: str

    def task(self) -> SourceTask:
        """A new task reading this feed."""
