"""Errors of the X12 reader as values: where in the file, what was wrong, what to do.

    EdiError            a value: one rejection or envelope problem, carried on the error path
    EdiFileError        an exception wrapping an EdiError, raised by the low-level segment
                        reader when the file cannot be read any further

`read_transaction_sets` never raises EdiFileError: it turns it into a final rejection whose
`fatal` flag is set, so callers handle every problem the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Scope = Literal["file", "interchange", "group", "transaction_set"]


@dataclass(frozen=True, slots=True)
class EdiError:
    """One problem found in an X12 file, positioned precisely enough to find it in an editor.

    `byte_offset` is 0-based from the first byte of the file (a byte-order mark counts);
    `segment_index` is the 1-based number of the segment in the file (the ISA is segment 1).
    """

    file: str
    problem: str
    hint: str
    scope: Scope
    byte_offset: int | None = None
    segment_index: int | None = None
    segment_tag: str | None = None
    interchange_control: str | None = None
    group_control: str | None = None
    transaction_set_control: str | None = None
    fatal: bool = False

    def __str__(self) -> str:
        where = []
        if self.segment_index is not None:
            tag = f" ({self.segment_tag})" if self.segment_tag else ""
            where.append(f"segment {self.segment_index}{tag}")
        if self.byte_offset is not None:
            where.append(f"at byte {self.byte_offset}")
        location = f" {' '.join(where)}" if where else ""
        return f"{self.file}:{location}: {self.problem} — {self.hint}"


class EdiFileError(Exception):
    """The file cannot be read any further; `error` says where and why."""

    def __init__(self, error: EdiError) -> None:
        super().__init__(str(error))
        self.error = error
