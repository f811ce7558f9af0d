"""Property-based tests of the X12 reader, envelope check and mappings (issue 14).

Whatever bytes arrive, reading and mapping a file never raises (a bad file is a rejection
that names its place), never hangs, and never hands on a value that carries one of its
interchange's delimiters. Inputs: arbitrary bytes, arbitrary bytes behind a valid ISA, and
real corpus files mutated the ways a transfer or a careless translator breaks them.

The first four tests pin the defects a mutation fuzz found before these tests existed; each
failed (with a traceback out of `read_transaction_sets` or the 810 mapping) before the fix.
"""

from __future__ import annotations

import io
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.edi_x12 import TransactionSetResult, read_transaction_sets
from connectors.edi_x12.mapping import MappingError, map_transaction_set

CORPUS = Path(__file__).resolve().parents[3] / ".." / "shared" / "corpus" / "x12"
CORPUS_FILES = sorted(CORPUS.glob("*.edi")) if CORPUS.is_dir() else []
# A whole corpus file is read in well under a second; ten is a hang, not a slow machine.
SECONDS_PER_INPUT = 10

# Examples per test come from the hypothesis profile (tests/conftest.py: HYPOTHESIS_PROFILE
# ci / dev / deep); the alarm below bounds each input, so no hypothesis deadline.
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


class Hang(Exception):
    pass


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def expire(_signum: int, _frame: FrameType | None) -> None:
        raise Hang(f"reading one input took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def consume(data: bytes) -> list[tuple[TransactionSetResult, list[Any]]]:
    """Read and map everything, as `edi parse` does; only bugs escape as exceptions."""
    outcomes = []
    with time_limit(SECONDS_PER_INPUT):
        for result in read_transaction_sets(io.BytesIO(data), "fuzz.edi"):
            events: list[Any] = []
            if result.accepted:
                try:
                    events = map_transaction_set(result, file="fuzz.edi")
                except MappingError as failure:
                    assert failure.error.problem and failure.error.segment_index is not None
            else:
                assert result.rejection is not None and result.rejection.problem
            outcomes.append((result, events))
    return outcomes


def assert_no_delimiter_in_values(
    outcomes: list[tuple[TransactionSetResult, list[Any]]], extra: tuple[str, ...] = ()
) -> None:
    """No accepted set's element, and no string of its events, holds a delimiter of its
    interchange (or one of `extra`, the original file's terminator)."""
    for result, events in outcomes:
        if not result.accepted:
            continue
        assert result.transaction_set is not None and result.interchange is not None
        d = result.interchange.delimiters
        forbidden = {d.element, d.segment, *extra} - {""}
        for segment in result.transaction_set.segments:
            for value in segment.fields:
                assert not any(f in value for f in forbidden), (segment, forbidden)
        for event in events:
            for value in _business_strings(event.to_json_dict()):
                assert not any(f in value for f in forbidden), (value, forbidden)


def _business_strings(value: Any, key: str = "") -> Iterator[str]:
    # warnings are our own sentences (they quote values, never delimiters, but need not)
    if key == "warnings":
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _business_strings(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _business_strings(v)


def _810() -> bytes:
    return (CORPUS / "staedi__simple810.edi").read_bytes()


needs_corpus = pytest.mark.skipif(not CORPUS_FILES, reason=f"X12 corpus not at {CORPUS}")


# -- the defects found by mutation fuzz --------------------------------------------------


@needs_corpus
@pytest.mark.parametrize("trailer", ["SE", "GE", "IEA"])
def test_a_count_past_the_int_digit_limit_is_a_rejection(trailer: str) -> None:
    data = re.sub(rb"\n?" + trailer.encode() + rb"\*\d+", b"\n" + trailer.encode() + b"*"
                  + b"9" * 5000, _810(), count=1)
    problems = [r.rejection.problem for r, _ in consume(data) if r.rejection is not None]
    assert any(p.startswith(f"{trailer}01 says '9999") and "(5000 characters)" in p
               for p in problems), problems


@needs_corpus
def test_a_non_ascii_digit_in_a_count_is_a_rejection() -> None:
    data = _810().replace(b"SE*32*", "SE*3²*".encode(), 1).replace(b"IEA*1*", "IEA*¹*".encode())
    problems = [r.rejection.problem for r, _ in consume(data) if r.rejection is not None]
    assert "SE01 should be the number of segments, found '3²'" in problems
    assert "IEA01 says '¹' functional groups, the interchange has 1" in problems


@needs_corpus
def test_a_non_ascii_digit_in_the_isa_version_and_control_number_is_read() -> None:
    data = _810().replace(b"*00401*000000020*", "*004¹1*00000002³*".encode(), 1)
    outcomes = consume(data)
    assert outcomes[0][0].interchange is not None
    assert outcomes[0][0].interchange.delimiters.repetition is None  # not a version >= 00402


@needs_corpus
@pytest.mark.parametrize(
    ("mutation", "problem"),
    [
        ((b"TDS*255438", b"TDS*1E999999999"), "TDS01 '1E999999999' is out of range"),
        ((b"IT1**16*CA*12.34", b"IT1**16*CA*9E99999"), "IT104 '9E99999' is out of range"),
        ((b"IT1**16*CA*12.34", b"IT1**1E20*CA*1E20"), "a value does not fit the canonical"),
    ],
)
def test_an_absurd_number_in_an_invoice_is_a_mapping_error(
    mutation: tuple[bytes, bytes], problem: str
) -> None:
    data = _810().replace(*mutation, 1)
    result = next(iter(read_transaction_sets(io.BytesIO(data), "x.edi")))
    assert result.accepted
    with pytest.raises(MappingError) as failure:
        map_transaction_set(result, file="x.edi")
    assert problem in failure.value.error.problem


# -- lost or blank delimiters -------------------------------------------------------------


@needs_corpus
@pytest.mark.parametrize("name", [p.name for p in CORPUS_FILES if p.read_bytes()[105:106] == b"~"])
def test_an_isa_without_isa16_is_never_published(name: str) -> None:
    """ISA16 lost, a line break after each '~': read naively, '~' becomes the component
    separator, the line break the terminator, and every value ends with '~'."""
    original = (CORPUS / name).read_bytes()
    isa_end = original.index(b"~")
    cut = original[: isa_end - 1] + original[isa_end:]  # ISA16 gone, '~' right after ISA15*
    data = cut.replace(b"~", b"~\n")
    outcomes = consume(data)
    assert not any(r.accepted for r, _ in outcomes)
    fatal = outcomes[-1][0].rejection
    assert fatal is not None and fatal.fatal and fatal.segment_tag == "ISA"
    assert "ISA16 is missing" in fatal.problem


@pytest.mark.parametrize("blank", [" ", "\t"])
def test_a_space_or_tab_terminator_is_refused(blank: str) -> None:
    isa = ("ISA*00*          *00*          *ZZ*A              *ZZ*B              *260101*1200*U*"
           "00401*000000001*0*P*>")
    data = (isa + blank + "GS*PO*A*B*20260101*1200*1*X*004010" + blank).encode()
    outcomes = consume(data)
    fatal = outcomes[-1][0].rejection
    assert fatal is not None and fatal.fatal
    assert "element values contain spaces and tabs" in fatal.problem


@needs_corpus
@pytest.mark.parametrize("name", ["EdiEngine__850.OK.edi", "x12-types__004060_856.edi"])
def test_a_line_break_terminator_is_still_read(name: str) -> None:
    """The check above must not refuse the real files whose terminator is a line break."""
    data = (CORPUS / name).read_bytes()
    assert data[106:107] == b"\n" or data[105:106] == b"\n"
    assert all(r.accepted for r, _ in consume(data))


# -- properties ---------------------------------------------------------------------------

_ISA = (b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *260101*1200*"
        b"U*00401*000000001*0*P*>~")


@FUZZ
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    assert_no_delimiter_in_values(consume(data))


@FUZZ
@given(st.lists(st.sampled_from([
    b"GS*PO*A*B*20260101*1200*1*X*004010~", b"ST*850*0001~", b"ST*810*1~", b"ST*860*1~",
    b"BEG*00*SA*PO1**20260101~", b"BIG*20260101*INV1**PO1~", b"PO1*1*10*EA*1.5**VN*X~",
    b"POC*1*DI*0*0*EA~", b"IT1**5*EA*2~", b"TDS*1000~", b"SAC*A*C310***500~", b"SE*3*0001~",
    b"GE*1*1~", b"IEA*1*000000001~", b"~", b"*", b">", b"\n", "³".encode(), b"9" * 5000,
    b"DTM*002*20261340~", b"CTT*1~", b"BCH*04*SA*PO1**1*20260101~",
]), max_size=40), st.binary(max_size=200))
def test_x12_shaped_garbage_behind_a_valid_isa_never_crashes(
    pieces: list[bytes], tail: bytes
) -> None:
    assert_no_delimiter_in_values(consume(_ISA + b"".join(pieces) + tail))


def _mutate(data: bytes, edits: list[tuple[bool, int, int, bytes]]) -> bytes:
    """Each edit: (whole element?, position in 1/1000 of the file or of its elements, bytes
    removed, inserted). A whole-element edit replaces the value of one numeric element (SE01,
    IT102, a date ...), where a careless translator breaks files."""
    buffer = bytearray(data)
    separator = data[3:4]
    for whole_element, where, removed, inserted in edits:
        if whole_element:
            # numeric elements: counts, quantities, prices, dates, control numbers
            number = re.escape(separator) + rb"(?=[0-9.]+(?:" + re.escape(separator) + rb"|~|\n))"
            starts = [m.end() for m in re.finditer(number, buffer)]
            if not starts:
                continue
            at = starts[len(starts) * where // 1001]
            end = at
            while end < len(buffer) and buffer[end : end + 1] not in (separator, b"~", b"\n"):
                end += 1
            buffer[at:end] = inserted
        else:
            at = len(buffer) * where // 1000
            buffer[at : at + removed] = inserted
    return bytes(buffer)


_INSERTS = st.one_of(
    st.sampled_from([b"~", b"*", b">", b"\n", b"\r\n", b"^", b"U", "³".encode(), b"9" * 4400,
                     b"ISA", b"IEA*1*1~", b"GS*", b"ST*", b"SE*", "…".encode(), b"\xef\xbb\xbf",
                     b"1E999999", b"-", b".", b"NaN", b"Infinity"]),
    st.binary(max_size=8),
    st.text(max_size=6).map(str.encode),
)


@needs_corpus
@settings(FUZZ, max_examples=settings.default.max_examples * 3)
@given(
    st.sampled_from(CORPUS_FILES or [Path("missing")]),
    st.lists(st.tuples(st.booleans(), st.integers(0, 1000), st.integers(0, 4), _INSERTS),
             min_size=1, max_size=6),
)
def test_mutated_corpus_files_never_crash_or_publish_a_delimiter(
    path: Path, edits: list[tuple[bool, int, int, bytes]]
) -> None:
    original = path.read_bytes()
    terminator = next(
        (r.interchange.delimiters.segment for r, _ in consume(original) if r.interchange), ""
    )
    # The original terminator must never end up inside a value, whatever the mutation did to
    # the ISA (a line break may turn up in values once the ISA declares another terminator).
    extra = (terminator,) if terminator.strip() else ()
    assert_no_delimiter_in_values(consume(_mutate(original, edits)), extra)
