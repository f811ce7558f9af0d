"""The typed values the X12 reader yields: segments, envelope headers and transaction sets.

Elements are kept as the partner wrote them (no trimming, no splitting into components or
repetitions): `**` stays an empty positional element, and splitting is left to mapping code
through `Delimiters.components` / `Delimiters.repetitions`, because some partners declare a
repetition separator that also occurs in their data (node-x12 856: ISA11 '-' next to ZIP+4
"31139-0020").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from connectors.edi_x12.errors import EdiError


def is_digits(value: str) -> bool:
    """ASCII digits only: `str.isdigit()` alone also takes '³' or '٣', which `int()` refuses."""
    return value.isascii() and value.isdigit()


def same_number(a: str, b: str) -> bool:
    """Two ASCII digit strings equal as numbers, without `int()`: X12 counts and control
    numbers can be any length, and `int()` refuses strings past 4,300 digits."""
    return is_digits(a) and is_digits(b) and (a.lstrip("0") or "0") == (b.lstrip("0") or "0")


class SegmentPosition(NamedTuple):
    """Where a segment starts: 0-based byte offset in the file, 1-based segment number."""

    byte_offset: int
    segment_index: int


class Segment(NamedTuple):
    """One segment: its tag, its fields (`fields[0]` is the tag), where it starts.

    `fields` keeps the tag in front so a segment costs one tuple, not two: the reader makes
    one of these per segment of the file. `element(n)` and `elements` give the X12 view.
    """

    tag: str
    fields: tuple[str, ...]
    byte_offset: int
    segment_index: int

    @classmethod
    def of(cls, tag: str, *elements: str, byte_offset: int = 0, segment_index: int = 0) -> Segment:
        """A segment built by hand (tests, mapping examples)."""
        return cls(tag, (tag, *elements), byte_offset, segment_index)

    @property
    def elements(self) -> tuple[str, ...]:
        """The elements after the tag: `elements[0]` is <tag>01."""
        return self.fields[1:]

    @property
    def position(self) -> SegmentPosition:
        return SegmentPosition(self.byte_offset, self.segment_index)

    def element(self, number: int) -> str:
        """Element <tag><number>, numbered from 1 as X12 does; '' when the partner omitted it."""
        if 1 <= number < len(self.fields):
            return self.fields[number]
        return ""


@dataclass(frozen=True, slots=True)
class Delimiters:
    """The separators one ISA declares; they hold for that interchange only."""

    element: str
    component: str
    segment: str
    # None before version 00402 (ISA11 is then the standards id, usually 'U').
    repetition: str | None

    def components(self, value: str) -> tuple[str, ...]:
        """Split a composite element (e.g. SLN's unit of measure) into its components."""
        return tuple(value.split(self.component))

    def repetitions(self, value: str) -> tuple[str, ...]:
        """Split a repeated element; a value with no repetition separator is one repetition."""
        if self.repetition is None:
            return (value,)
        return tuple(value.split(self.repetition))


@dataclass(frozen=True, slots=True)
class Interchange:
    """An ISA header: who sent what to whom, with which separators. Ids have padding removed."""

    sender_qualifier: str
    sender_id: str
    receiver_qualifier: str
    receiver_id: str
    date: str
    time: str
    version: str
    control_number: str
    acknowledgment_requested: str
    usage_indicator: str
    delimiters: Delimiters
    header: Segment

    @property
    def position(self) -> SegmentPosition:
        return self.header.position


@dataclass(frozen=True, slots=True)
class FunctionalGroup:
    """A GS header. GS08 is the transaction version and need not agree with ISA12."""

    functional_id: str
    sender: str
    receiver: str
    date: str
    time: str
    control_number: str
    agency: str
    version: str
    header: Segment

    @property
    def position(self) -> SegmentPosition:
        return self.header.position


@dataclass(frozen=True, slots=True, init=False)
class TransactionSet:
    """One transaction set; `segments` runs from ST to SE, both included.

    Inclusive because SE01 counts ST and SE too: for a well-formed set,
    `len(segments) == int(trailer.element(1))`. A rejected set may lack its SE (`trailer` is
    then None) when the partner's file broke off or the next envelope segment came first.
    """

    set_id: str
    control_number: str
    segments: tuple[Segment, ...]

    def __init__(self, set_id: str, control_number: str, segments: tuple[Segment, ...]) -> None:
        # The generated __init__ of a frozen dataclass assigns through object.__setattr__;
        # the slots' own setters take half the time, and the reader makes one per set.
        _SET_ID(self, set_id)
        _SET_CONTROL_NUMBER(self, control_number)
        _SET_SEGMENTS(self, segments)

    @property
    def header(self) -> Segment:
        return self.segments[0]

    @property
    def trailer(self) -> Segment | None:
        last = self.segments[-1]
        return last if len(self.segments) > 1 and last.tag == "SE" else None

    @property
    def body(self) -> tuple[Segment, ...]:
        """The segments between ST and SE: what mapping code walks."""
        end = -1 if self.trailer is not None else len(self.segments)
        return self.segments[1:end]


@dataclass(frozen=True, slots=True, init=False)
class TransactionSetResult:
    """What the reader hands on for one transaction set, or for one envelope problem.

    - accepted set: `transaction_set` set, `rejection` None;
    - rejected set: both set (the original segments travel to the dead-letter path);
    - group / interchange / file problem: `transaction_set` None, `rejection.scope` says which.
    `interchange` is None only for a file that is not X12 at all.
    """

    interchange: Interchange | None
    group: FunctionalGroup | None
    transaction_set: TransactionSet | None
    rejection: EdiError | None = None

    def __init__(
        self,
        interchange: Interchange | None,
        group: FunctionalGroup | None,
        transaction_set: TransactionSet | None,
        rejection: EdiError | None = None,
    ) -> None:
        # As in TransactionSet.__init__: the reader makes one of these per set too.
        _SET_INTERCHANGE(self, interchange)
        _SET_GROUP(self, group)
        _SET_TRANSACTION_SET(self, transaction_set)
        _SET_REJECTION(self, rejection)

    @property
    def accepted(self) -> bool:
        return self.rejection is None and self.transaction_set is not None


# The slot setters the two __init__ above use (bound once the classes exist).
_SET_ID = vars(TransactionSet)["set_id"].__set__
_SET_CONTROL_NUMBER = vars(TransactionSet)["control_number"].__set__
_SET_SEGMENTS = vars(TransactionSet)["segments"].__set__
_SET_INTERCHANGE = vars(TransactionSetResult)["interchange"].__set__
_SET_GROUP = vars(TransactionSetResult)["group"].__set__
_SET_TRANSACTION_SET = vars(TransactionSetResult)["transaction_set"].__set__
_SET_REJECTION = vars(TransactionSetResult)["rejection"].__set__
