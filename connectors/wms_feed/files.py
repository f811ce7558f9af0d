"""Reading WMS feed files: CSV (header row first) and JSON lines, one item per data row.

Row numbers are the physical line numbers an editor shows (a CSV header is line 1, so the
first data row is row 2). A row that cannot be read (wrong column count, bad or too deeply
nested JSON) is returned as a problem, never raised, so the rows around it still publish. A
file whose rows cannot be told apart at all (not UTF-8, an unknown CSV header, CSV the csv
module gives up on, such as a field over its 128 KiB limit) raises :class:`UnreadableFile`:
the connector dead-letters it whole, since no row of it can be trusted.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.wms_feed.mapping import COLUMNS

SUFFIXES = (".csv", ".jsonl", ".ndjson")


class UnreadableFile(ValueError):
    """A feed file that cannot be split into rows; ``row`` is where reading stopped, if known."""

    def __init__(self, problem: str, row: int | None = None) -> None:
        super().__init__(problem)
        self.row = row


@dataclass(frozen=True)
class FeedRow:
    """One data row: its fields, or the reason it could not be read, and its raw text."""

    row: int
    raw: str
    fields: dict[str, Any] | None = None
    problem: str | None = None


def read_rows(name: str, content: bytes) -> Iterator[FeedRow]:
    """Every data row of a feed file named ``name`` (the suffix picks the format).

    Raises UnreadableFile, possibly after yielding rows: read the whole file before publishing
    any of it.
    """
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnreadableFile(f"is not UTF-8 text ({error}); export it as UTF-8") from None
    if name.endswith(".csv"):
        yield from _csv_rows(text)
    else:
        yield from _json_rows(text)


def _csv_rows(text: str) -> Iterator[FeedRow]:
    lines = text.splitlines()
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            # after this the csv module's idea of where rows start is lost (an open quote may
            # swallow the rest of the file), so no later row can be trusted either
            raise UnreadableFile(f"is not CSV the feed can read ({error}); quote fields, "
                                 "keep each field under 128 KiB", reader.line_num) from None
        row = reader.line_num
        raw = lines[row - 1] if row - 1 < len(lines) else ""
        if header is None:
            header = [value.strip().lower() for value in values]
            unknown = [column for column in header if column not in COLUMNS]
            if unknown:
                raise UnreadableFile(f"header has unknown columns {unknown}; the columns are "
                                     f"{', '.join(COLUMNS)}", row)
            continue
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(header):
            yield FeedRow(row, raw, problem=f"has {len(values)} columns, the header has "
                          f"{len(header)}; quote values that contain commas")
            continue
        yield FeedRow(row, raw, fields=dict(zip(header, values, strict=True)))


def _json_rows(text: str) -> Iterator[FeedRow]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as error:
            yield FeedRow(number, line, problem=f"is not JSON ({error})")
            continue
        except RecursionError:  # the json module's own depth guard (one frame per level)
            yield FeedRow(number, line, problem="is JSON nested too deeply to read; a feed "
                          "row is one flat object")
            continue
        if not isinstance(value, dict):
            yield FeedRow(number, line, problem="is not a JSON object")
            continue
        unknown = [key for key in value if key not in COLUMNS]
        if unknown:
            yield FeedRow(number, line, problem=f"has unknown fields {unknown!r:.200}; the fields "
                          f"are {', '.join(COLUMNS)}")
            continue
        nested = [key for key, field in value.items() if isinstance(field, dict | list)]
        if nested:
            # a column holds text or a number; str() of a nested value would land in an event
            yield FeedRow(number, line, problem=f"has nested values in {nested}; each field "
                          "is text, a number or null")
            continue
        # only a \u escape can put a lone surrogate (text Avro cannot hold) into a JSON string
        broken = [key for key, field in value.items()
                  if "\\u" in line and isinstance(field, str) and not _is_unicode(field)]
        if broken:
            yield FeedRow(number, line, problem=f"has a lone surrogate escape (such as "
                          f"\\ud800) in {broken}; export the text as UTF-8")
            continue
        yield FeedRow(number, line, fields=value)


def _is_unicode(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def feed_files(inbox: Path) -> list[Path]:
    """The files waiting in ``inbox``, oldest name first (writers rename finished files in)."""
    return sorted(path for path in inbox.iterdir()
                  if path.is_file() and path.suffix in SUFFIXES)
