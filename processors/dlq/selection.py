"""Which dead letters an operator means: the filters every `backbone dlq` command shares (pure).

``--since/--until`` take ISO-8601 (``2026-03-01T10:00``, ``2026-03-01``; UTC unless an offset
is given) or a time back from now (``90s``, ``30m``, ``2h``, ``7d``, ``1w``). ``--offsets`` takes
``<partition>:<offsets>`` items separated by commas, where offsets are ``N``, ``A-B``
(inclusive), ``A-`` (from A on) or ``-B``; a bare range without a partition applies to every
partition: ``0:10-20,1:5-``, ``100-``. Time filters compare with when the record last failed
(``backbone.dlq.last.failure``, else the dead letter's own timestamp).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from backbone.errors import Category
from processors.dlq.dialects import DeadLetterMessage


class SelectionError(ValueError):
    """A filter the operator typed that cannot be understood; the message says how to fix it."""


_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}


def parse_time(option: str, text: str, now_ms: int) -> int:
    """Epoch ms of ``text`` (ISO-8601 or relative like ``2h`` = two hours before ``now_ms``)."""
    relative = _RELATIVE.match(text)
    if relative:
        return now_ms - int(float(relative.group(1)) * _UNIT_MS[relative.group(2).lower()])
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SelectionError(
            f"{option} {text!r} is not a time: use ISO-8601 like 2026-03-01T10:00 (UTC unless "
            "an offset is given) or a time back from now like 90s, 30m, 2h, 7d, 1w"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class OffsetRange:
    """Offsets ``first..last`` inclusive of one partition (``None``: every partition)."""

    partition: int | None
    first: int
    last: int | None  # None: no upper end

    def contains(self, partition: int, offset: int) -> bool:
        return (
            (self.partition is None or self.partition == partition)
            and offset >= self.first
            and (self.last is None or offset <= self.last)
        )


def parse_offsets(text: str) -> tuple[OffsetRange, ...]:
    """``0:10-20,1:5-,-9`` as ranges; SelectionError naming the bad item otherwise."""
    ranges = []
    for position, item in enumerate(text.split(","), start=1):
        item = item.strip()
        partition: int | None = None
        span = item
        if ":" in item:
            head, span = item.split(":", 1)
            partition = _number(text, position, head, "partition")
        first_text, dash, last_text = span.partition("-")
        first = _number(text, position, first_text, "offset") if first_text.strip() else 0
        if not dash:
            last: int | None = first
        else:
            last = _number(text, position, last_text, "offset") if last_text.strip() else None
        if not first_text.strip() and not last_text.strip():
            raise SelectionError(_offsets_help(text, position, item, "an empty range"))
        if last is not None and last < first:
            raise SelectionError(_offsets_help(text, position, item, f"{last} is below {first}"))
        ranges.append(OffsetRange(partition, first, last))
    return tuple(ranges)


def _number(text: str, position: int, part: str, what: str) -> int:
    try:
        value = int(part.strip())
    except ValueError:
        raise SelectionError(
            _offsets_help(text, position, part, f"{part.strip()!r} is not a number ({what})")
        ) from None
    if value < 0:
        raise SelectionError(_offsets_help(text, position, part, f"negative {what}"))
    return value


def _offsets_help(text: str, position: int, item: str, problem: str) -> str:
    return (
        f"--offsets {text!r}, item {position} ({item.strip()!r}): {problem}; write "
        "<partition>:<first>-<last> items separated by commas, e.g. 0:10-20,1:5- "
        "(a range without a partition applies to every partition)"
    )


def parse_categories(values: Sequence[str]) -> frozenset[str]:
    """Category names, case-insensitive; SelectionError listing the known ones otherwise."""
    result = set()
    for value in values:
        for name in value.split(","):
            upper = name.strip().upper().replace("-", "_")
            if upper not in Category.__members__:
                raise SelectionError(
                    f"--category {name.strip()!r} is not a category; use one of "
                    f"{', '.join(Category.__members__)}"
                )
            result.add(upper)
    return frozenset(result)


@dataclass(frozen=True)
class Selection:
    """The filters of one command; an empty selection matches every dead letter."""

    owner: str | None = None
    categories: frozenset[str] = frozenset()
    since_ms: int | None = None
    until_ms: int | None = None
    key_contains: str | None = None
    offsets: tuple[OffsetRange, ...] = ()
    stage: str | None = None
    error_contains: str | None = None
    coordinates: frozenset[tuple[str, int, int]] = frozenset()  # picked one by one

    def matches(self, letter: DeadLetterMessage) -> bool:
        record = letter.record
        if self.coordinates and (letter.topic, letter.partition,
                                 letter.offset) not in self.coordinates:
            return False
        if self.owner and record.owner not in ("?", self.owner):
            return False
        if self.stage and record.stage != self.stage:
            return False
        if self.categories and record.category not in self.categories:
            return False
        if self.error_contains and self.error_contains.lower() not in (
                f"{record.message} {record.exception_class or ''}".lower()):
            return False
        failed_at = letter.failed_at_ms
        if self.since_ms is not None and (failed_at is None or failed_at < self.since_ms):
            return False
        if self.until_ms is not None and (failed_at is None or failed_at > self.until_ms):
            return False
        if self.key_contains and not _key_contains(letter, self.key_contains):
            return False
        return not self.offsets or any(
            r.contains(letter.partition, letter.offset) for r in self.offsets
        )

    def describe(self) -> dict[str, Any]:
        """The filters as given, for messages and the audit record."""
        return {
            "owner": self.owner,
            "stage": self.stage,
            "error_contains": self.error_contains,
            "coordinates": [f"{t}:{p}:{o}" for t, p, o in sorted(self.coordinates)] or None,
            "category": sorted(self.categories) or None,
            "since": _iso(self.since_ms),
            "until": _iso(self.until_ms),
            "key_contains": self.key_contains,
            "offsets": [
                f"{'*' if r.partition is None else r.partition}:{r.first}-"
                f"{'' if r.last is None else r.last}"
                for r in self.offsets
            ] or None,
        }


def _key_contains(letter: DeadLetterMessage, needle: str) -> bool:
    """Case-insensitive match in the Kafka key or the business key."""
    needle = needle.lower()
    key = (letter.key or b"").decode("utf-8", errors="replace").lower()
    return needle in key or needle in (letter.record.business_key or "").lower()


def _iso(ms: int | None) -> str | None:
    return None if ms is None else iso(ms)


def iso(ms: int) -> str:
    """Epoch ms as ISO-8601 UTC with milliseconds."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Stats:
    """Counts of dead letters by category, stage, owner, topic and hour of last failure."""

    total: int = 0
    by_category: Counter[str] = field(default_factory=Counter)
    by_stage: Counter[str] = field(default_factory=Counter)
    by_owner: Counter[str] = field(default_factory=Counter)
    by_hour: Counter[str] = field(default_factory=Counter)
    by_topic: Counter[str] = field(default_factory=Counter)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_category": dict(sorted(self.by_category.items())),
            "by_stage": dict(sorted(self.by_stage.items())),
            "by_owner": dict(sorted(self.by_owner.items())),
            "by_hour": dict(sorted(self.by_hour.items())),
            "by_topic": dict(sorted(self.by_topic.items())),
        }


def stats(letters: Iterable[DeadLetterMessage]) -> Stats:
    result = Stats()
    for letter in letters:
        result.total += 1
        result.by_category[letter.record.category] += 1
        result.by_stage[letter.record.stage] += 1
        result.by_owner[letter.record.owner] += 1
        result.by_topic[letter.topic] += 1
        failed_at = letter.failed_at_ms
        result.by_hour[iso(failed_at)[:13] + ":00Z" if failed_at is not None else "?"] += 1
    return result


def selection_from(*, owner: str | None = None, categories: Sequence[str] = (),
                   since: str | None = None, until: str | None = None,
                   key_contains: str | None = None, offsets: str | None = None,
                   stage: str | None = None, error_contains: str | None = None,
                   coordinates: Iterable[tuple[str, int, int]] = (),
                   now_ms: int) -> Selection:
    """The filters as an operator typed them; SelectionError names one that cannot be read."""
    return Selection(
        owner=owner or None,
        stage=stage or None,
        error_contains=error_contains or None,
        categories=parse_categories(categories),
        since_ms=parse_time("--since", since, now_ms) if since else None,
        until_ms=parse_time("--until", until, now_ms) if until else None,
        key_contains=key_contains or None,
        offsets=parse_offsets(offsets) if offsets else (),
        coordinates=frozenset(coordinates),
    )
