"""The X12 reader on every corpus file, on delimiter torture, and on a million segments.

Expected values below were read off the files by eye (and with grep/awk for counts), not
produced by the reader: delimiters from each ISA, control numbers, set ids and the number of
segments from ST to SE as they appear in the file.
"""

from __future__ import annotations

import io
import time
import tracemalloc
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from connectors.edi_x12 import (
    Delimiters,
    Segment,
    TransactionSetResult,
    read_file,
    read_segments,
    read_transaction_sets,
)

T = TypeVar("T")
STAR_GT_NL = Delimiters("*", ">", "\n", None)
STAR_GT_TILDE = Delimiters("*", ">", "~", None)


@dataclass(frozen=True)
class Expected:
    delimiters: Delimiters
    interchanges: tuple[tuple[str, str], ...]  # (ISA13, ISA12)
    groups: tuple[tuple[str, str, str], ...]  # (GS01, GS06, GS08)
    sets: tuple[tuple[str, str, int], ...]  # (ST01, ST02, segments ST..SE as counted)
    usage: str = "P"


ENGINE_940 = ("OW", "3314", "004010")
CORPUS: dict[str, Expected | None] = {
    "EdiEngine__850.OK.edi": Expected(
        STAR_GT_NL, (("000003438", "00400"),), (("PO", "1421", "004010"),),
        (("850", "000000010", 33),),
    ),
    "EdiEngine__856.Crossdock.OK.edi": Expected(
        STAR_GT_NL, (("000000091", "00401"),), (("SH", "91", "004010"),),
        (("856", "0001", 57),),
    ),
    "EdiEngine__940.OK.edi": Expected(
        STAR_GT_NL, (("000003438", "00400"),), (("OW", "3317", "004010"),),
        (("940", "0001", 29),),
    ),
    "EdiEngine__940_Failed_SE01.edi": Expected(
        STAR_GT_NL, (("000009221", "00401"),), (("OW", "9221", "004010"),),
        (("940", "20066", 9),),
    ),
    "EdiEngine__ControlNumbersMismatch.edi": Expected(
        STAR_GT_NL, (("000003438", "00400"),), (ENGINE_940,), (("940", "0001", 5),),
    ),
    "EdiEngine__MultipleInterchangesAndGroups.edi": Expected(
        STAR_GT_NL,
        (("000003438", "00400"), ("000003439", "00400")),
        (
            ("OW", "3313", "004010"), ("OW", "3314", "004010"),
            ("OW", "3315", "004010"), ("OW", "3316", "004010"),
        ),
        (
            ("940", "0001", 5), ("940", "0002", 5), ("940", "0001", 5),
            ("940", "0001", 5), ("940", "0002", 5), ("940", "0001", 5),
        ),
    ),
    "EdiEngine__NonEdi.edi": None,  # not X12: see test_envelope
    "EdiEngine__WrongGroupsAndTranCount.edi": Expected(
        STAR_GT_NL, (("000003438", "00400"),), (ENGINE_940,), (("940", "0001", 5),),
    ),
    "node-x12__850.edi": Expected(
        STAR_GT_TILDE, (("000003438", "00400"),), (("PO", "1421", "004010VICS"),),
        (("850", "000000010", 33),),
    ),
    "node-x12__850_3.edi": Expected(
        STAR_GT_NL, (("010001398", "00401"),), (("PO", "10000774", "004010"),),
        (("850", "8830", 14),),
    ),
    "node-x12__855.edi": Expected(
        STAR_GT_TILDE, (("000000005", "00401"),), (("PR", "5", "004010"),),
        (("855", "0005", 26),),
    ),
    "node-x12__856.edi": Expected(
        Delimiters("*", ">", "~", "-"), (("000000049", "00406"),), (("SH", "49", "004060"),),
        (("856", "0008", 31),),
    ),
    "staedi__invalid997.edi": Expected(
        Delimiters("*", ":", "~", "^"), (("508121953", "00501"),),
        (("FA", "000005", "005010X230"),), (("997", "0001", 8),),
    ),
    "staedi__invoice810_po850_dual.edi": Expected(
        STAR_GT_TILDE, (("000000020", "00401"),),
        (("IN", "1", "004010"), ("PO", "165", "003010")),
        (("810", "000000001", 32), ("810", "000000002", 22), ("850", "000191240", 17)),
        usage="T",
    ),
    "staedi__simple810.edi": Expected(
        STAR_GT_TILDE, (("000000020", "00401"),), (("IN", "1", "004010"),),
        (("810", "000000001", 32), ("810", "000000002", 22)),
        usage="T",
    ),
    "staedi__simple997.edi": Expected(
        Delimiters("*", ":", "~", "^"), (("508121953", "00501"),),
        (("FA", "000005", "005010X230"),), (("997", "0001", 8),),
    ),
    "staedi__ts214_ellipses_segterm.edi": Expected(
        Delimiters("*", ">", "…", None), (("000075776", "00400"),),
        (("QM", "75776", "004010"),), (("214", "757760001", 20),),
    ),
    "x12-types__004010_850.edi": Expected(
        STAR_GT_TILDE, (("000000001", "00401"),), (("PO", "1", "004010"),),
        (("850", "000000001", 35),),
        usage="T",
    ),
    "x12-types__004060_856.edi": Expected(
        STAR_GT_NL, (("000003438", "00400"),), (("SH", "49", "004060"),),
        (("856", "0008", 31),),
    ),
    "x12-types___850_test__parse_850_1.edi": Expected(
        Delimiters("*", ":", "~", "|"), (("000086518", "00501"),),
        (("PO", "865180001", "005010"),), (("850", "105832797", 22),),
    ),
    "x12-types___855_test__test_855_1.edi": Expected(
        STAR_GT_TILDE, (("000122406", "00401"),), (("PR", "3152", "004010"),),
        (("855", "3152", 6),),
    ),
    "x12-types__test_214__parse_214_1.edi": Expected(
        STAR_GT_TILDE, (("000003438", "00400"),), (("QM", "2510", "004010"),),
        (("214", "0001", 27),),
    ),
    "x12-types__test_214__parse_214_2.edi": Expected(
        Delimiters("*", ":", "~", None), (("001", "00401"),), (("QM", "001", "004010"),),
        (("214", "001", 13), ("214", "002", 12)),
    ),
    "x12-types__test_856__test_856_xx.edi": Expected(
        STAR_GT_TILDE, (("000012152", "00401"),), (("SH", "12467", "004010"),),
        (("856", "12159", 13),),
    ),
}  # fmt: skip


def test_every_corpus_file_has_expectations(corpus_dir: Path) -> None:
    on_disk = {path.name for path in corpus_dir.glob("*.edi")}
    assert on_disk == set(CORPUS), "a corpus file was added or removed: read it and list it"


@pytest.mark.parametrize("name", [name for name, exp in CORPUS.items() if exp is not None])
def test_corpus_file_envelopes(corpus_dir: Path, name: str) -> None:
    expected = CORPUS[name]
    assert expected is not None
    results = list(read_file(corpus_dir / name))

    interchanges = _unique(r.interchange for r in results if r.interchange is not None)
    groups = _unique(r.group for r in results if r.group is not None)
    sets = [r.transaction_set for r in results if r.transaction_set is not None]

    assert [(i.control_number, i.version) for i in interchanges] == list(expected.interchanges)
    assert {i.delimiters for i in interchanges} == {expected.delimiters}
    assert {i.usage_indicator for i in interchanges} == {expected.usage}
    assert [(g.functional_id, g.control_number, g.version) for g in groups] == list(expected.groups)
    assert [(s.set_id, s.control_number, len(s.segments)) for s in sets] == list(expected.sets)
    for transaction_set in sets:
        assert transaction_set.header.tag == "ST"
        assert transaction_set.trailer is not None
        assert len(transaction_set.body) == len(transaction_set.segments) - 2


def test_segment_positions_point_at_the_segment_in_the_file(corpus_dir: Path) -> None:
    for name, expected in CORPUS.items():
        if expected is None:
            continue
        raw = (corpus_dir / name).read_bytes()
        with (corpus_dir / name).open("rb") as stream:
            segments = list(read_segments(stream, name))
        assert [s.segment_index for s in segments] == list(range(1, len(segments) + 1))
        for segment in segments:
            assert raw[segment.byte_offset :].startswith(segment.tag.encode()), (name, segment)


def test_ellipsis_terminated_214_reads_text_without_stray_bytes(corpus_dir: Path) -> None:
    results = list(read_file(corpus_dir / "staedi__ts214_ellipses_segterm.edi"))
    (transaction_set,) = [r.transaction_set for r in results if r.transaction_set]
    b10 = transaction_set.body[0]
    assert (b10.tag, b10.elements) == ("B10", ("0542550913", "7727019", "XXXX"))
    # '…' is three bytes in UTF-8: offsets are bytes, not characters (grep -bo 'SE\*20').
    assert transaction_set.segments[-1].byte_offset == 587


def test_collapsed_and_padded_isa_headers_give_trimmed_ids(corpus_dir: Path) -> None:
    napa = next(read_file(corpus_dir / "x12-types___850_test__parse_850_1.edi")).interchange
    assert napa is not None
    assert (napa.sender_qualifier, napa.sender_id) == ("ZZ", "NAPA")
    assert (napa.receiver_qualifier, napa.receiver_id) == ("nn", "partnerid")
    assert napa.header.elements[5] == "NAPA "  # the element itself keeps the partner's bytes

    fisher = next(read_file(corpus_dir / "x12-types__test_856__test_856_xx.edi")).interchange
    assert fisher is not None
    assert (fisher.receiver_qualifier, fisher.receiver_id) == ("14", "004321519IBMP")
    assert (fisher.date, fisher.time) == ("070920", "0849")


# -- delimiter torture --------------------------------------------------------------------

BODY = [
    "GS*PO*SENDER*RECEIVER*20240101*1200*7*X*004010",
    "ST*850*0001",
    "BEG*00*SA*PO-1**20240101",
    "N1*ST*CAFÉ DU NORD*92*0001",
    "PO1*1*10*EA*9.25**UP*012345678905",
    "CTT*1",
    "SE*6*0001",
    "GE*1*7",
    "IEA*1*000000123",
]


def _isa(element: str = "*", component: str = ">", version: str = "00401", rep: str = "U") -> str:
    fields = [
        "00", " " * 10, "00", " " * 10, "ZZ", "SENDER".ljust(15), "ZZ", "RECEIVER".ljust(15),
        "240101", "1200", rep, version, "000000123", "0", "P", component,
    ]  # fmt: skip
    return "ISA" + element + element.join(fields)


def _document(terminator: str, element: str = "*", prefix: str = "", between: str = "") -> str:
    segments = [_isa(element), *(s.replace("*", element) for s in BODY)]
    return prefix + "".join(f"{between}{s}{terminator}" for s in segments)


VARIANTS = {
    "tilde": _document("~"),
    "tilde-crlf": _document("~\r\n"),
    "newline": _document("\n"),
    "cr": _document("\r"),
    "crlf-with-newline-terminator": _document("\n").replace("\n", "\r\n"),
    "pipe": _document("|"),
    "brace": _document("}"),
    "ellipsis": _document("…"),
    "swapped": _document("*", element="~"),
    "bom-and-indentation": _document("~\n", prefix="\ufeff", between="    "),
}


# '…' and the BOM have no latin-1 form; every other variant is read in both encodings.
ENCODED_VARIANTS = [
    (variant, encoding)
    for variant in sorted(VARIANTS)
    for encoding in ("utf-8", "latin-1")
    if encoding == "utf-8" or variant not in ("ellipsis", "bom-and-indentation")
]


@pytest.mark.parametrize(("variant", "encoding"), ENCODED_VARIANTS)
def test_delimiter_variants_read_the_same(variant: str, encoding: str) -> None:
    raw = VARIANTS[variant].encode(encoding)
    results = list(read_transaction_sets(io.BytesIO(raw), f"{variant}.edi"))

    assert [r.rejection for r in results] == [None]
    (result,) = results
    assert result.transaction_set is not None
    body = [(s.tag, s.elements) for s in result.transaction_set.body]
    assert body[1] == ("N1", ("ST", "CAFÉ DU NORD", "92", "0001"))
    assert body[2] == ("PO1", ("1", "10", "EA", "9.25", "", "UP", "012345678905"))
    for segment in result.transaction_set.segments:
        assert raw[segment.byte_offset :].startswith(segment.tag.encode())


def test_tiny_chunks_cut_multibyte_terminators_correctly() -> None:
    raw = VARIANTS["ellipsis"].encode()
    whole = list(read_segments(io.BytesIO(raw), "x.edi"))
    for chunk_size in (1, 2, 5, 64):
        assert list(read_segments(io.BytesIO(raw), "x.edi", chunk_size=chunk_size)) == whole
    assert len(whole) == 1 + len(BODY)


def test_each_interchange_uses_its_own_delimiters() -> None:
    first = _document("~\n")
    second = _document("\n", element="|").replace("000000123", "000000124")
    results = list(read_transaction_sets(io.BytesIO((first + second).encode()), "two.edi"))

    assert [r.rejection for r in results] == [None, None]
    assert [r.interchange.delimiters for r in results if r.interchange] == [
        Delimiters("*", ">", "~", None),
        Delimiters("|", ">", "\n", None),
    ]
    assert [r.interchange.control_number for r in results if r.interchange] == [
        "000000123",
        "000000124",
    ]


def test_repetition_separator_only_from_version_00402() -> None:
    def delimiters(version: str, rep: str) -> Delimiters:
        text = _isa(version=version, rep=rep) + "~" + "~".join(BODY) + "~"
        result = next(read_transaction_sets(io.BytesIO(text.encode()), "x.edi"))
        assert result.interchange is not None
        return result.interchange.delimiters

    assert delimiters("00401", "U").repetition is None
    assert delimiters("00501", "^").repetition == "^"
    assert delimiters("00501", "U").repetition is None
    assert delimiters("00501", "^").repetitions("A^B") == ("A", "B")


def test_segment_helpers() -> None:
    segment = Segment.of("PO1", "1", "", "EA")
    assert segment.element(1) == "1"
    assert segment.element(2) == ""
    assert segment.element(9) == ""
    assert segment.elements == ("1", "", "EA")
    assert STAR_GT_NL.components("BX>12") == ("BX", "12")


# -- a million segments -------------------------------------------------------------------

SEGMENTS_PER_SET = 50


def _write_generated(path: Path, segment_count: int) -> int:
    """An 856-shaped file of about `segment_count` segments, written set by set."""
    sets = (segment_count - 4) // SEGMENTS_PER_SET
    with path.open("w", encoding="ascii", newline="") as out:
        out.write(_isa() + "~\nGS*SH*SENDER*RECEIVER*20240101*1200*1*X*004010~\n")
        for number in range(1, sets + 1):
            lines = [f"ST*856*{number:09d}~\n"]
            lines += [
                f"LIN*{line}*VP*SKU-{line:05d}-WIDGET-BLUE~\n"
                for line in range(1, SEGMENTS_PER_SET - 1)
            ]
            lines.append(f"SE*{SEGMENTS_PER_SET}*{number:09d}~\n")
            out.write("".join(lines))
        out.write(f"GE*{sets}*1~\nIEA*1*000000123~\n")
    return sets


def _traced_peaks(path: Path, first_segments: int) -> tuple[int, int, int]:
    """(accepted sets, peak over the first `first_segments` segments, peak over the rest)."""
    accepted = segments = 0
    early_peak = None
    tracemalloc.start()
    try:
        for result in read_file(path):
            assert result.transaction_set is not None and result.accepted, result.rejection
            accepted += 1
            segments += len(result.transaction_set.segments)
            if early_peak is None and segments >= first_segments:
                early_peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.reset_peak()
        assert early_peak is not None
        return accepted, early_peak, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _count_accepted(results: Iterable[TransactionSetResult]) -> int:
    return sum(1 for r in results if r.accepted)


@pytest.mark.slow
def test_memory_stays_flat_over_a_million_segments(tmp_path: Path) -> None:
    path = tmp_path / "million.edi"
    sets = _write_generated(path, 1_000_000)
    bound = 20 * 1024 * 1024
    assert path.stat().st_size > bound  # so the bound means something

    started = time.perf_counter()
    assert _count_accepted(read_file(path)) == sets
    elapsed = time.perf_counter() - started
    rate = sets * SEGMENTS_PER_SET / elapsed
    print(f"\nthroughput: {rate:,.0f} segments/s ({elapsed:.2f} s for {sets} sets)")

    # One traced pass, as tracing is slow: the peak while reading the first 200k segments
    # against the peak while reading the 800k after them. Flat: the later one is no higher.
    accepted, early_peak, late_peak = _traced_peaks(path, 200_000)
    print(f"peak traced memory: {early_peak:,} B (first 200k) vs {late_peak:,} B (next 800k)")

    assert accepted == sets
    assert max(early_peak, late_peak) < bound
    assert late_peak < early_peak * 1.5 + 256 * 1024
    assert rate > 50_000  # a quadratic scan or per-segment re-read would fall far below


def _unique(values: Iterable[T]) -> list[T]:
    """Distinct objects in order: the reader shares one header object per envelope."""
    seen: list[T] = []
    for value in values:
        if not any(value is s for s in seen):
            seen.append(value)
    return seen
