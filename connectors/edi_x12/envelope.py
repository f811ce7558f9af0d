"""X12 envelope validation: ISA/IEA, GS/GE and ST/SE nesting, counts and control numbers.

`read_transaction_sets` walks the segments `reader` streams and hands on one
`TransactionSetResult` per transaction set, holding only the current set in memory.

What is rejected, and what is only reported:

- A transaction set is rejected alone (ST02 != SE02, SE01 != segments counted ST..SE
  inclusive, no SE, no enclosing GS, malformed segment id, more than `max_set_segments`
  segments); the rest of the file still goes through.
- A group or interchange trailer problem (GE01 != sets in the group, GE02 != GS06,
  IEA01 != groups, IEA02 != ISA13, missing GE) is reported as a result of its own
  (`transaction_set` None, `rejection.scope` "group" / "interchange"); the sets inside were
  already delivered when the trailer is read, and stay delivered: the envelope is the
  partner's bookkeeping, the sets were individually sound.
- A GS with other than its 8 elements is a group problem, and every set of that group is
  rejected: its version and control number cannot be read by position.
- An interchange without any functional group is reported (scope "interchange"), and one
  that only carries TA1 interchange acknowledgments says so: they answer our own outbound
  interchanges, nothing is published and no 997/999 is due.
- A fatal problem (not X12, truncated ISA, over-long segment, data after IEA that is not an
  ISA, file ending before IEA) ends the iteration with a result whose `rejection.fatal` is
  set; a set left open at that point travels with it. Sets delivered before stay delivered.

Control numbers are compared as numbers when both are digits ("3438" == "000003438", as
EdiEngine's MultipleInterchangesAndGroups sample writes its IEA02), otherwise as text.
"""

from __future__ import annotations

from collections.abc import Iterator
from operator import itemgetter
from pathlib import Path

from connectors.edi_x12.errors import EdiError, EdiFileError, Scope
from connectors.edi_x12.model import (
    FunctionalGroup,
    Interchange,
    Segment,
    TransactionSet,
    TransactionSetResult,
    is_digits,
    same_number,
)
from connectors.edi_x12.reader import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_SEGMENT_BYTES,
    ByteStream,
    SegmentScanner,
)

# Generous for real sets (a large 856 runs to tens of thousands of segments) while bounding
# the memory one set without an SE can take.
DEFAULT_MAX_SET_SEGMENTS = 200_000

_GS_ELEMENT_COUNT = 8
# TA104 (element I17), interchange acknowledgment code.
_TA1_CODES = {"A": "accepted", "E": "accepted with errors", "R": "rejected"}
_ENVELOPE_TAGS = frozenset({"ST", "SE", "GS", "GE", "IEA"})
_tag = itemgetter(0)  # Segment.tag, without the property
# Tags a file's walk remembers as valid segment ids, so a set whose tags were all seen
# before is checked with one set comparison. Valid ids are few (2-3 letters or digits) and
# real files use dozens; the bound keeps a hostile file from growing it.
_REMEMBERED_SEGMENT_IDS = 4096


def read_file(
    path: Path,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_segment_bytes: int = DEFAULT_MAX_SEGMENT_BYTES,
    max_set_segments: int = DEFAULT_MAX_SET_SEGMENTS,
) -> Iterator[TransactionSetResult]:
    """`read_transaction_sets` over a file on disk, named in messages by its file name."""
    with path.open("rb") as stream:
        yield from read_transaction_sets(
            stream,
            path.name,
            chunk_size=chunk_size,
            max_segment_bytes=max_segment_bytes,
            max_set_segments=max_set_segments,
        )


def read_transaction_sets(
    stream: ByteStream,
    name: str,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_segment_bytes: int = DEFAULT_MAX_SEGMENT_BYTES,
    max_set_segments: int = DEFAULT_MAX_SET_SEGMENTS,
) -> Iterator[TransactionSetResult]:
    """One result per transaction set or envelope problem, in file order; never raises for
    bad X12 (only for I/O errors and invalid arguments)."""
    if max_set_segments <= 0:
        raise ValueError("max_set_segments must be positive")
    scanner = SegmentScanner(stream, name, chunk_size, max_segment_bytes)
    walk = _EnvelopeWalk(name, max_set_segments)
    try:
        for batch in scanner.batches():
            if not isinstance(batch, list):
                yield from walk.feed(batch)
                continue
            # The hot path, once per segment: body segments, ST and SE of a well-nested
            # file are handled inline; `feed` takes everything else.
            open_set = walk.open_set
            for segment in batch:
                if open_set is not None:
                    tag = segment.tag
                    if tag not in _ENVELOPE_TAGS and len(open_set) < max_set_segments:
                        open_set.append(segment)
                        continue
                    if tag == "SE":
                        yield walk.close_set(segment)
                        open_set = None
                        continue
                elif segment.tag == "ST" and walk.in_interchange:
                    open_set = walk.start_set(segment)
                    continue
                yield from walk.feed(segment)
                open_set = walk.open_set
    except EdiFileError as failure:
        yield walk.abort(failure.error)
        return
    yield from walk.finish(scanner.bytes_read, scanner.segments_read)


def check_transaction_set(
    transaction_set: TransactionSet,
    *,
    file: str,
    interchange: Interchange,
    group: FunctionalGroup | None,
) -> EdiError | None:
    """Why a complete ST..SE set must be rejected, or None when its envelope is sound."""
    found = _set_problem(transaction_set, group)
    if found is None:
        return None
    segment, problem, hint = found
    return _error(
        file,
        "transaction_set",
        segment,
        problem,
        f"{hint}; {_resend(interchange)}",
        interchange=interchange,
        group=group,
        set_control=transaction_set.control_number,
    )


def _set_problem(
    transaction_set: TransactionSet,
    group: FunctionalGroup | None,
    segment_ids: set[str] | None = None,
) -> tuple[Segment, str, str] | None:
    """(segment, problem, hint) for the first envelope problem of a set, else None.

    `segment_ids`: tags already known to be valid segment ids; valid new ones are added.
    """
    segments = transaction_set.segments
    header = segments[0]
    trailer = segments[-1]
    if len(segments) < 2 or trailer.tag != "SE":  # `transaction_set.trailer` is None
        return header, "transaction set has no SE trailer", "it is incomplete"
    if group is None:
        return (
            header,
            f"ST {transaction_set.set_id} {transaction_set.control_number} is not inside "
            "a functional group (no GS before it)",
            "the partner's envelope is malformed",
        )
    # Fields rather than `element()`: this runs once per set, and SE has its two elements.
    fields = trailer.fields
    control = fields[2] if len(fields) > 2 else ""
    expected = transaction_set.control_number
    if control != expected and not same_control_number(control, expected):
        return (
            trailer,
            f"SE02 control number {control!r} does not match ST02 "
            f"{transaction_set.control_number!r} (ST at segment {header.segment_index})",
            "the set's trailer belongs to another set or was mistyped",
        )
    declared = fields[1].strip() if len(fields) > 1 else ""
    counted = str(len(segments))
    # Equal text is the usual case (and equal in number): one comparison per set.
    if declared != counted:
        if not is_digits(declared):
            return (
                trailer,
                f"SE01 should be the number of segments, found {declared[:20]!r}",
                "the partner's transaction set trailer is malformed",
            )
        if not same_number(declared, counted):
            return (
                trailer,
                f"SE01 says {_count(declared)} segments, counted {counted}",
                "the partner's transaction set is truncated or miscounted",
            )
    if segment_ids is not None and segment_ids.issuperset(map(_tag, segments)):
        return None
    # Distinct tags first: a set has few, and this runs once per set of any size.
    tags = set(map(_tag, segments))
    if not all(map(is_segment_id, tags)):
        bad = next(s for s in segments if not is_segment_id(s.tag))
        return (
            bad,
            f"{bad.tag[:20]!r} is not a segment id (2-3 upper-case letters or digits)",
            "segments run together or a terminator is missing",
        )
    if segment_ids is not None and len(segment_ids) < _REMEMBERED_SEGMENT_IDS:
        segment_ids |= tags
    return None


def check_group_trailer(
    group: FunctionalGroup,
    trailer: Segment,
    set_count: int,
    *,
    file: str,
    interchange: Interchange,
) -> list[EdiError]:
    """GE01 against the sets read in the group, GE02 against GS06."""
    problems = []
    declared = trailer.element(1).strip()
    if not same_number(declared, str(set_count)):
        problems.append(
            f"GE01 says {_shown(declared)} transaction sets, the group has {set_count}"
        )
    if not same_control_number(trailer.element(2), group.control_number):
        problems.append(
            f"GE02 control number {trailer.element(2)!r} does not match GS06 "
            f"{group.control_number!r} (GS at segment {group.header.segment_index})"
        )
    hint = (
        f"the {set_count} transaction set(s) read in this group were still delivered; "
        f"check none is missing and ask the partner to correct or resend ISA "
        f"{interchange.control_number}"
    )
    return [
        _error(file, "group", trailer, problem, hint, interchange=interchange, group=group)
        for problem in problems
    ]


def check_interchange_trailer(
    interchange: Interchange,
    trailer: Segment,
    group_count: int,
    *,
    file: str,
) -> list[EdiError]:
    """IEA01 against the groups read in the interchange, IEA02 against ISA13."""
    problems = []
    declared = trailer.element(1).strip()
    if not same_number(declared, str(group_count)):
        problems.append(
            f"IEA01 says {_shown(declared)} functional groups, the interchange has {group_count}"
        )
    if not same_control_number(trailer.element(2), interchange.control_number):
        problems.append(
            f"IEA02 control number {trailer.element(2)!r} does not match ISA13 "
            f"{interchange.control_number!r}"
        )
    hint = (
        f"the transaction sets of its {group_count} group(s) were still delivered; check "
        f"none is missing and ask the partner to correct or resend ISA "
        f"{interchange.control_number}"
    )
    return [
        _error(file, "interchange", trailer, problem, hint, interchange=interchange)
        for problem in problems
    ]


def same_control_number(a: str, b: str) -> bool:
    """Equal as numbers when both are digits (leading zeros vary), else equal as text."""
    if a == b:  # the usual case, and equal either way
        return True
    a, b = a.strip(), b.strip()
    return same_number(a, b) or a == b


def _count(digits: str) -> str:
    """A declared count as a number for a message (leading zeros dropped), cut when long."""
    number = digits.lstrip("0") or "0"
    return number if len(number) <= 20 else _shown(number)


def _shown(value: str) -> str:
    """A partner's value for a message: quoted, and cut when it is absurdly long."""
    return repr(value) if len(value) <= 20 else f"{value[:20]!r}... ({len(value)} characters)"


def is_segment_id(tag: str) -> bool:
    return 2 <= len(tag) <= 3 and tag.isascii() and tag.isalnum() and tag == tag.upper()


class _EnvelopeWalk:
    """The nesting state of one file: open interchange, group, set, and their counts."""

    def __init__(self, file: str, max_set_segments: int) -> None:
        self._file = file
        self._max_set_segments = max_set_segments
        self._interchange: Interchange | None = None
        self._group: FunctionalGroup | None = None
        self.open_set: list[Segment] | None = None
        self._set_overflow = 0  # segments of the open set beyond max_set_segments, dropped
        self._sets_in_group = 0
        self._groups_in_interchange = 0
        # One report per run of out-of-place segments, not one per segment of garbage.
        self._stray_reported = False
        self._segment_ids: set[str] = set()  # see _REMEMBERED_SEGMENT_IDS
        self._broken_group: str | None = None  # why the open group's sets are rejected
        self._acknowledgments: list[Segment] = []  # TA1s of the open interchange

    @property
    def in_interchange(self) -> bool:
        return self._interchange is not None

    def add_to_set(self, segment: Segment) -> None:
        assert self.open_set is not None
        # Past the bound the set is rejected anyway; stop holding its segments.
        if len(self.open_set) < self._max_set_segments:
            self.open_set.append(segment)
        else:
            self._set_overflow += 1

    def feed(self, item: Interchange | Segment) -> Iterator[TransactionSetResult]:
        if isinstance(item, Interchange):
            yield from self._open_interchange(item)
            return
        if self._interchange is None:
            raise EdiFileError(
                self._fatal(
                    item,
                    f"expected an ISA after the IEA, found a {item.tag[:20]!r} segment",
                    "the file carries data after its last interchange; check how it was "
                    "assembled and ask the partner to resend it",
                )
            )
        if self.open_set is not None:
            if item.tag == "SE":
                yield self.close_set(item)
                return
            if item.tag not in _ENVELOPE_TAGS:
                self.add_to_set(item)
                return
            yield self._break_set(item)
        yield from self._envelope_segment(item)

    def finish(self, end_offset: int, segment_count: int) -> Iterator[TransactionSetResult]:
        if self._interchange is None:
            return
        inside = f"interchange {self._interchange.control_number}"
        if self.open_set is not None:
            inside = f"transaction set {self.open_set[0].element(2).strip()} of " + inside
        yield self.abort(
            EdiError(
                file=self._file,
                problem=f"the file ends (after segment {segment_count}) inside {inside}: "
                "no IEA trailer",
                hint="the file was cut short (incomplete transfer?); sets read before were "
                f"delivered — {_resend(self._interchange)}",
                scope="file",
                byte_offset=end_offset,
                interchange_control=self._interchange.control_number,
                group_control=self._group.control_number if self._group is not None else None,
                transaction_set_control=(
                    self.open_set[0].element(2).strip() if self.open_set is not None else None
                ),
                fatal=True,
            )
        )

    def abort(self, error: EdiError) -> TransactionSetResult:
        """The last result of a file that cannot be read further; carries any open set."""
        partial = None
        if self.open_set is not None:
            partial = _transaction_set(self.open_set)
            self.open_set = None
        result = TransactionSetResult(self._interchange, self._group, partial, error)
        self._interchange = None
        return result

    # -- envelope segments ---------------------------------------------------------------

    def _envelope_segment(self, segment: Segment) -> Iterator[TransactionSetResult]:
        tag = segment.tag
        if tag == "ST":
            self.start_set(segment)
        elif tag == "GS":
            yield from self._open_group(segment)
        elif tag == "GE":
            yield from self._close_group(segment)
        elif tag == "IEA":
            yield from self._close_interchange(segment)
        elif tag == "TA1" and self._group is None:
            # An interchange acknowledgment may sit between ISA and GS; not a set.
            self._acknowledgments.append(segment)
        else:
            yield from self._stray(segment)
            return
        self._stray_reported = False

    def _open_interchange(self, isa: Interchange) -> Iterator[TransactionSetResult]:
        if self._interchange is not None:
            if self.open_set is not None:
                yield self._break_set(isa.header)
            if self._group is not None:
                yield self._missing_trailer("group", isa.header)
            yield self._missing_trailer("interchange", isa.header)
        self._interchange = isa
        self._acknowledgments = []
        self._group = None
        self._groups_in_interchange = 0
        self._stray_reported = False

    def _open_group(self, gs: Segment) -> Iterator[TransactionSetResult]:
        if self._group is not None:
            yield self._missing_trailer("group", gs)
        self._group = _functional_group(gs)
        self._sets_in_group = 0
        self._groups_in_interchange += 1
        self._broken_group = None
        count = len(gs.fields) - 1
        if count != _GS_ELEMENT_COUNT:
            # GS08 (version) and GS06 (control number) are read by position: with an element
            # too many or too few they would be some other element's value.
            self._broken_group = (
                f"GS has {count} elements, X12 defines {_GS_ELEMENT_COUNT}: its control number "
                "(GS06) and version (GS08) cannot be told apart from its other elements"
            )
            yield TransactionSetResult(self._interchange, self._group, None, _error(
                self._file, "group", gs, self._broken_group,
                "every transaction set of this group is rejected; ask the partner to fix "
                "their GS and " + _resend(self._interchange),
                interchange=self._interchange, group=self._group))

    def start_set(self, st: Segment) -> list[Segment]:
        """Open a transaction set at this ST (inside an interchange); returns `open_set`."""
        self.open_set = open_set = [st]
        self._set_overflow = 0
        if self._group is not None:
            self._sets_in_group += 1
        self._stray_reported = False
        return open_set

    def close_set(self, se: Segment) -> TransactionSetResult:
        """Close the open set at this SE: the set, accepted or rejected."""
        assert self.open_set is not None and self._interchange is not None
        self.add_to_set(se)
        transaction_set = _transaction_set(self.open_set)
        self.open_set = None
        if self._broken_group is not None:
            rejection: EdiError | None = self._set_error(
                se, transaction_set, f"the set's group is malformed: {self._broken_group}",
                "the set was not read; ask the partner to fix their GS")
        elif self._set_overflow:
            size = len(transaction_set.segments) + self._set_overflow
            rejection = self._set_error(
                se,
                transaction_set,
                f"the transaction set has {size} segments, more than the "
                f"{self._max_set_segments} this reader holds",
                "split it, or raise max_set_segments if sets this large are expected",
            )
        elif _set_problem(transaction_set, self._group, self._segment_ids) is None:
            rejection = None  # the usual case: no need to build an error
        else:
            rejection = check_transaction_set(
                transaction_set, file=self._file, interchange=self._interchange, group=self._group
            )
        return TransactionSetResult(self._interchange, self._group, transaction_set, rejection)

    def _break_set(self, interrupting: Segment) -> TransactionSetResult:
        """The open set got no SE before `interrupting`: reject it with what was read."""
        assert self.open_set is not None and self._interchange is not None
        transaction_set = _transaction_set(self.open_set)
        self.open_set = None
        header = transaction_set.header
        rejection = self._set_error(
            interrupting,
            transaction_set,
            f"transaction set {transaction_set.set_id} {transaction_set.control_number} "
            f"(ST at segment {header.segment_index}) has no SE before this "
            f"{interrupting.tag} segment",
            f"the set was truncated and is rejected; {_resend(self._interchange)}",
        )
        return TransactionSetResult(self._interchange, self._group, transaction_set, rejection)

    def _close_group(self, ge: Segment) -> Iterator[TransactionSetResult]:
        assert self._interchange is not None
        if self._group is None:
            yield from self._stray(ge)
            return
        for error in check_group_trailer(
            self._group, ge, self._sets_in_group, file=self._file, interchange=self._interchange
        ):
            yield TransactionSetResult(self._interchange, self._group, None, error)
        self._group = None

    def _close_interchange(self, iea: Segment) -> Iterator[TransactionSetResult]:
        assert self._interchange is not None
        if self._group is not None:
            yield self._missing_trailer("group", iea)
            self._group = None
        for error in check_interchange_trailer(
            self._interchange, iea, self._groups_in_interchange, file=self._file
        ):
            yield TransactionSetResult(self._interchange, None, None, error)
        if not self._groups_in_interchange:
            yield self._empty_interchange(iea)
        self._interchange = None

    def _empty_interchange(self, iea: Segment) -> TransactionSetResult:
        """An interchange without a functional group: say what it was (usually a TA1)."""
        assert self._interchange is not None
        what = f"interchange {self._interchange.control_number} has no functional group"
        if self._acknowledgments:
            answers = "; ".join(
                f"TA1 for our interchange {ta1.element(1).strip()!r}: "
                f"{_TA1_CODES.get(ta1.element(4).strip(), repr(ta1.element(4).strip()))}"
                f"{f', note {ta1.element(5).strip()}' if ta1.element(5).strip() else ''}"
                for ta1 in self._acknowledgments[:5]
            )
            what += f": it only acknowledges interchanges we sent ({answers})"
            hint = ("a TA1 answers our own outbound interchange; it carries no business "
                    "document, so nothing was published and no 997/999 is due")
        else:
            hint = "nothing was published; ask the partner whether a group is missing"
        self._acknowledgments = []
        error = _error(self._file, "interchange", iea, what, hint, interchange=self._interchange)
        return TransactionSetResult(self._interchange, None, None, error)

    def _missing_trailer(self, scope: Scope, interrupting: Segment) -> TransactionSetResult:
        assert self._interchange is not None
        if scope == "group":
            assert self._group is not None
            opened = self._group.header
            what = f"functional group {self._group.control_number}"
            trailer = "GE"
        else:
            opened = self._interchange.header
            what = f"interchange {self._interchange.control_number}"
            trailer = "IEA"
        error = _error(
            self._file,
            scope,
            interrupting,
            f"{what} (opened at segment {opened.segment_index}) has no {trailer} "
            f"before this {interrupting.tag} segment",
            "the sets read in it were still delivered; check none is missing and "
            + _resend(self._interchange),
            interchange=self._interchange,
            group=self._group,
        )
        group = self._group if scope == "group" else None
        return TransactionSetResult(self._interchange, group, None, error)

    def _stray(self, segment: Segment) -> Iterator[TransactionSetResult]:
        assert self._interchange is not None
        if self._stray_reported:
            return
        self._stray_reported = True
        scope: Scope = "group" if self._group is not None else "interchange"
        error = _error(
            self._file,
            scope,
            segment,
            f"{segment.tag[:20]!r} segment is outside any transaction set "
            "(further out-of-place segments up to the next envelope segment are skipped)",
            f"it was ignored; the envelope around it is malformed — {_resend(self._interchange)}",
            interchange=self._interchange,
            group=self._group,
        )
        yield TransactionSetResult(self._interchange, self._group, None, error)

    def _set_error(
        self, segment: Segment, transaction_set: TransactionSet, problem: str, hint: str
    ) -> EdiError:
        return _error(
            self._file,
            "transaction_set",
            segment,
            problem,
            hint,
            interchange=self._interchange,
            group=self._group,
            set_control=transaction_set.control_number,
        )

    def _fatal(self, segment: Segment, problem: str, hint: str) -> EdiError:
        return EdiError(
            file=self._file,
            problem=problem,
            hint=hint,
            scope="file",
            byte_offset=segment.byte_offset,
            segment_index=segment.segment_index,
            segment_tag=segment.tag[:20],
            interchange_control=(
                self._interchange.control_number if self._interchange is not None else None
            ),
            group_control=self._group.control_number if self._group is not None else None,
            transaction_set_control=(
                self.open_set[0].element(2) if self.open_set is not None else None
            ),
            fatal=True,
        )


def _transaction_set(segments: list[Segment]) -> TransactionSet:
    # Fields rather than `element()`, positional arguments: this runs once per set.
    header = segments[0].fields
    count = len(header)
    return TransactionSet(
        header[1].strip() if count > 1 else "",
        header[2].strip() if count > 2 else "",
        tuple(segments),
    )


def _functional_group(gs: Segment) -> FunctionalGroup:
    return FunctionalGroup(
        functional_id=gs.element(1).strip(),
        sender=gs.element(2).strip(),
        receiver=gs.element(3).strip(),
        date=gs.element(4).strip(),
        time=gs.element(5).strip(),
        control_number=gs.element(6).strip(),
        agency=gs.element(7).strip(),
        version=gs.element(8).strip(),
        header=gs,
    )


def _resend(interchange: Interchange | None) -> str:
    if interchange is None:
        return "ask the partner to resend the file"
    return f"ask the partner to resend ISA {interchange.control_number}"


def _error(
    file: str,
    scope: Scope,
    segment: Segment,
    problem: str,
    hint: str,
    *,
    interchange: Interchange | None,
    group: FunctionalGroup | None = None,
    set_control: str | None = None,
) -> EdiError:
    return EdiError(
        file=file,
        problem=problem,
        hint=hint,
        scope=scope,
        byte_offset=segment.byte_offset,
        segment_index=segment.segment_index,
        segment_tag=segment.tag[:20],
        interchange_control=interchange.control_number if interchange is not None else None,
        group_control=group.control_number if group is not None else None,
        transaction_set_control=set_control,
    )
