"""Envelope validation: what is rejected, what is only reported, and what the user reads.

Corpus positions were found with `grep -bo` on the files (bytes) and by counting segments
from the ISA (segment 1); they are not copied from the reader's output.
"""

from __future__ import annotations

import io
import random
import time
from pathlib import Path

import pytest

from connectors.edi_x12 import (
    EdiError,
    EdiFileError,
    TransactionSetResult,
    read_file,
    read_segments,
    read_transaction_sets,
)

# (scope, segment tag, segment number, byte offset, words the problem must contain)
Problem = tuple[str, str, int, int, str]

NEGATIVE_CORPUS: dict[str, list[Problem]] = {
    "EdiEngine__940_Failed_SE01.edi": [
        ("transaction_set", "SE", 11, 307, "SE01 says 12 segments, counted 9"),
    ],
    "EdiEngine__ControlNumbersMismatch.edi": [
        ("transaction_set", "SE", 7, 265, "SE02 control number '0002' does not match ST02 '0001'"),
        ("group", "GE", 8, 275, "GE02 control number '3315' does not match GS06 '3314'"),
        ("interchange", "IEA", 9, 285, "IEA02 control number '000003439' does not match ISA13"),
    ],
    "EdiEngine__WrongGroupsAndTranCount.edi": [
        ("group", "GE", 8, 275, "GE01 says '2' transaction sets, the group has 1"),
        ("interchange", "IEA", 9, 285, "IEA01 says '2' functional groups, the interchange has 1"),
    ],
    "x12-types___855_test__test_855_1.edi": [
        ("transaction_set", "SE", 8, 265, "SE01 says 10 segments, counted 6"),
    ],
    "x12-types__test_214__parse_214_1.edi": [
        ("interchange", "IEA", 31, 834, "IEA02 control number '000002510' does not match ISA13"),
    ],
    "x12-types__test_214__parse_214_2.edi": [
        ("transaction_set", "SE", 15, 324, "SE02 control number '001 N/L' does not match"),
    ],
}

# Accepted transaction sets per negative file: the bad set goes, its siblings stay.
NEGATIVE_ACCEPTED = {
    "EdiEngine__940_Failed_SE01.edi": [],
    "EdiEngine__ControlNumbersMismatch.edi": [],
    "EdiEngine__WrongGroupsAndTranCount.edi": [("940", "0001")],
    "x12-types___855_test__test_855_1.edi": [],
    "x12-types__test_214__parse_214_1.edi": [("214", "0001")],
    "x12-types__test_214__parse_214_2.edi": [("214", "002")],
}


def _where(results: list[TransactionSetResult]) -> list[tuple[str, str, int, int]]:
    """(scope, tag, segment number, byte offset) of every problem reported."""
    found: list[tuple[str, str, int, int]] = []
    for result in results:
        error = result.rejection
        if error is not None:
            assert error.segment_tag is not None
            assert error.segment_index is not None and error.byte_offset is not None
            found.append((error.scope, error.segment_tag, error.segment_index, error.byte_offset))
    return found


@pytest.mark.parametrize("name", sorted(NEGATIVE_CORPUS))
def test_negative_corpus_files_report_each_problem_where_it_is(corpus_dir: Path, name: str) -> None:
    results = list(read_file(corpus_dir / name))
    expected = NEGATIVE_CORPUS[name]

    assert _where(results) == [
        (scope, tag, index, offset) for scope, tag, index, offset, _ in expected
    ]
    errors = [r.rejection for r in results if r.rejection is not None]
    for error, (*_, words) in zip(errors, expected, strict=True):
        assert words in error.problem
        assert str(error).startswith(f"{name}: segment {error.segment_index} ")
        assert f"at byte {error.byte_offset}: " in str(error)
        assert error.hint in str(error)
        assert not error.fatal
    accepted = [r.transaction_set for r in results if r.accepted and r.transaction_set]
    assert [(s.set_id, s.control_number) for s in accepted] == NEGATIVE_ACCEPTED[name]


def test_positive_corpus_files_have_no_rejections(corpus_dir: Path) -> None:
    negatives = {*NEGATIVE_CORPUS, "EdiEngine__NonEdi.edi"}
    positives = sorted(p for p in corpus_dir.glob("*.edi") if p.name not in negatives)
    assert len(positives) == 17
    for path in positives:
        results = list(read_file(path))
        assert results, path.name
        assert [r.rejection for r in results] == [None] * len(results), path.name


def test_rejected_set_carries_its_segments_for_the_dead_letter_path(corpus_dir: Path) -> None:
    results = list(read_file(corpus_dir / "x12-types__test_214__parse_214_2.edi"))
    rejected, accepted = results
    assert rejected.transaction_set is not None and rejected.rejection is not None
    assert rejected.rejection.transaction_set_control == "001"
    assert rejected.rejection.interchange_control == "001"
    assert [s.tag for s in rejected.transaction_set.segments][:2] == ["ST", "B10"]
    assert accepted.accepted and accepted.group is rejected.group


def test_control_numbers_compare_as_numbers(corpus_dir: Path) -> None:
    # IEA*2*3438 closes ISA13 000003438: same number, different padding.
    results = list(read_file(corpus_dir / "EdiEngine__MultipleInterchangesAndGroups.edi"))
    assert len(results) == 6 and all(r.accepted for r in results)


def test_not_x12_is_one_fatal_error_naming_file_and_position(corpus_dir: Path) -> None:
    (result,) = read_file(corpus_dir / "EdiEngine__NonEdi.edi")
    error = result.rejection
    assert error is not None and error.fatal and error.scope == "file"
    assert result.interchange is None and result.transaction_set is None
    assert str(error) == (
        "EdiEngine__NonEdi.edi: at byte 0: the file does not start with an ISA segment "
        "(it starts with 'Tk9OIEVESSBGSUxFISAa') — this is not an X12 interchange; check what "
        "the partner or upstream job sent"
    )


# -- synthetic bad input ------------------------------------------------------------------

ISA = (
    "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       "
    "*240101*1200*U*00401*000000123*0*P*>~\n"
)


def _set(control: str, *, count: int | None = None, trailer_control: str | None = None) -> str:
    body = ["BSN*00*SHIP-1*20240101*1200", "HL*1**S", "TD1*CTN*2"]
    segments = [f"ST*856*{control}", *body]
    se01 = len(segments) + 1 if count is None else count
    return "~\n".join([*segments, f"SE*{se01}*{trailer_control or control}"]) + "~\n"


def _interchange(
    *sets: str, ge01: int | None = None, ge02: str = "7", iea01: str = "1", iea02: str = "000000123"
) -> str:
    group = "GS*SH*SENDER*RECEIVER*20240101*1200*7*X*004010~\n" + "".join(sets)
    return ISA + group + f"GE*{len(sets) if ge01 is None else ge01}*{ge02}~\nIEA*{iea01}*{iea02}~\n"


def _read(text: str | bytes, name: str = "partner.edi") -> list[TransactionSetResult]:
    raw = text.encode() if isinstance(text, str) else text
    return list(read_transaction_sets(io.BytesIO(raw), name))


def _only_error(results: list[TransactionSetResult]) -> EdiError:
    errors = [r.rejection for r in results if r.rejection is not None]
    assert len(errors) == 1, errors
    return errors[0]


def test_bad_set_is_rejected_alone_and_its_siblings_go_through() -> None:
    text = _interchange(_set("0001"), _set("0002", count=4), _set("0003", trailer_control="9"))
    results = _read(text)

    assert [(r.transaction_set.control_number if r.transaction_set else None) for r in results] == [
        "0001",
        "0002",
        "0003",
    ]
    assert [r.accepted for r in results] == [True, False, False]
    count_error, control_error = (r.rejection for r in results[1:])
    assert count_error is not None and control_error is not None
    assert count_error.problem == "SE01 says 4 segments, counted 5"
    assert count_error.hint == (
        "the partner's transaction set is truncated or miscounted; "
        "ask the partner to resend ISA 000000123"
    )
    assert str(count_error).startswith("partner.edi: segment 12 (SE) at byte ")
    assert control_error.problem.startswith("SE02 control number '9' does not match ST02 '0003'")


def test_group_and_interchange_trailer_mismatches_are_reported_sets_still_delivered() -> None:
    results = _read(_interchange(_set("0001"), ge01=3, ge02="8", iea01="2", iea02="124"))

    assert results[0].accepted
    scopes = [(r.rejection.scope, r.rejection.segment_tag) for r in results[1:] if r.rejection]
    assert scopes == [
        ("group", "GE"),
        ("group", "GE"),
        ("interchange", "IEA"),
        ("interchange", "IEA"),
    ]
    problems = [r.rejection.problem for r in results[1:] if r.rejection]
    assert problems[0] == "GE01 says '3' transaction sets, the group has 1"
    assert problems[1].startswith("GE02 control number '8' does not match GS06 '7'")
    assert problems[2] == "IEA01 says '2' functional groups, the interchange has 1"
    assert problems[3] == "IEA02 control number '124' does not match ISA13 '000000123'"
    assert all(r.transaction_set is None for r in results[1:])


def test_missing_iea_is_fatal_after_the_sets_read_so_far() -> None:
    text = _interchange(_set("0001"))
    truncated = text[: text.index("GE*")]
    results = _read(truncated)

    assert results[0].accepted
    error = results[-1].rejection
    assert error is not None and error.fatal
    assert error.byte_offset == len(truncated.encode())
    assert "ends (after segment 7) inside interchange 000000123: no IEA" in error.problem


def test_file_ending_inside_a_set_rejects_it_with_what_was_read() -> None:
    text = _interchange(_set("0001"), _set("0002"))
    truncated = text[: text.index("TD1", text.index("ST*856*0002"))]
    results = _read(truncated)

    assert [r.accepted for r in results] == [True, False]
    last = results[-1]
    assert last.transaction_set is not None
    assert [s.tag for s in last.transaction_set.segments] == ["ST", "BSN", "HL"]
    assert last.rejection is not None and last.rejection.fatal
    assert "inside transaction set 0002 of interchange 000000123" in last.rejection.problem


def test_set_without_se_is_rejected_when_the_next_envelope_segment_comes() -> None:
    broken = _set("0001").replace("SE*5*0001~\n", "")
    results = _read(_interchange(broken, _set("0002")))

    assert [r.accepted for r in results] == [False, True]
    error = results[0].rejection
    assert error is not None and error.segment_tag == "ST" and error.segment_index == 7
    assert "transaction set 856 0001 (ST at segment 3) has no SE before this ST" in error.problem


def test_data_after_the_last_iea_is_fatal() -> None:
    results = _read(_interchange(_set("0001")) + "JUNK*1~\n")
    assert results[0].accepted
    error = results[-1].rejection
    assert error is not None and error.fatal and error.segment_tag == "JUNK"
    assert "expected an ISA after the IEA" in error.problem


def test_out_of_place_segments_are_reported_once_per_run() -> None:
    stray = "N1*ST*NOWHERE~\nN3*1 MAIN ST~\n"
    results = _read(_interchange(_set("0001"), stray + _set("0002")))

    assert [r.accepted for r in results if r.transaction_set] == [True, True]
    error = _only_error(results)
    assert (error.scope, error.segment_tag) == ("group", "N1")


def test_oversized_set_is_rejected_without_holding_it() -> None:
    big = _set("0001").replace("TD1*CTN*2~\n", "TD1*CTN*2~\n" * 50).replace("SE*5*", "SE*54*")
    results = list(read_transaction_sets(io.BytesIO(_interchange(big).encode()), "big.edi",
                                         max_set_segments=10))  # fmt: skip
    error = _only_error(results)
    assert "has 54 segments, more than the 10" in error.problem
    assert results[0].transaction_set is not None
    assert len(results[0].transaction_set.segments) == 10


# -- fatal file errors: clear and fast ----------------------------------------------------


def _fatal(raw: bytes, name: str = "bad.edi") -> tuple[EdiError, float]:
    started = time.perf_counter()
    results = list(read_transaction_sets(io.BytesIO(raw), name))
    elapsed = time.perf_counter() - started
    error = results[-1].rejection
    assert error is not None and error.fatal, results
    assert str(error).startswith(f"{name}: ")
    return error, elapsed


def test_empty_file() -> None:
    error, _ = _fatal(b" \r\n")
    assert error.problem == "the file is empty"


def test_utf16_file_is_named_as_such() -> None:
    error, _ = _fatal(ISA.encode("utf-16"))
    assert "UTF-16" in error.problem


def test_truncated_isa() -> None:
    error, _ = _fatal(ISA[:60].encode())
    assert error.byte_offset == 0 and error.segment_tag == "ISA" and error.segment_index == 1
    assert "the file ends 60 bytes into the ISA header" in error.problem
    assert "resend" in error.hint


def test_isa_without_a_valid_terminator() -> None:
    error, _ = _fatal(ISA.replace(">~\n", "GS*").encode() + b"PO*X~")
    assert "malformed" in error.problem


def test_a_megabyte_of_garbage_fails_fast() -> None:
    garbage = b"\x00" + random.Random(20240101).randbytes(1024 * 1024)
    error, elapsed = _fatal(garbage)
    assert error.byte_offset is not None
    assert "does not start with an ISA segment" in error.problem
    assert elapsed < 1.0


def test_isa_followed_by_a_megabyte_without_separators_fails_fast() -> None:
    error, elapsed = _fatal(b"ISA*" + b"0" * (1024 * 1024))
    assert "16 elements" in error.problem and error.segment_tag == "ISA"
    assert elapsed < 1.0


@pytest.mark.parametrize("terminated", [True, False])
def test_a_single_megabyte_segment_exceeds_the_limit_fast(terminated: bool) -> None:
    prefix = (ISA + "GS*SH*S*R*20240101*1200*7*X*004010~\nST*856*0001~\n").encode()
    huge = b"MSG*" + b"A" * (1024 * 1024) + (b"~\n" if terminated else b"")
    error, elapsed = _fatal(prefix + huge)

    assert error.segment_tag == "MSG" and error.segment_index == 4
    assert error.byte_offset == len(prefix)
    assert "longer than 65536 bytes without the segment terminator '~'" in error.problem
    assert "max_segment_bytes" in error.hint
    assert elapsed < 1.0


def test_low_level_reader_raises_the_same_errors() -> None:
    with pytest.raises(EdiFileError) as raised:
        list(read_segments(io.BytesIO(b"hello"), "hello.edi"))
    assert raised.value.error.file == "hello.edi"
    assert "does not start with an ISA" in str(raised.value)


def test_a_ta1_only_interchange_is_explained_not_silent() -> None:
    """An ISA carrying only a TA1 (TA104 R, note 022) and no GS: nothing to publish, and
    the reader says why instead of yielding nothing."""
    data = (b"ISA*00*          *00*          *ZZ*PARTNER        *ZZ*OURCO          *260102*0304*"
            b"U*00401*000000123*0*P*>~TA1*000000777*260101*1200*R*022~IEA*0*000000123~")
    (result,) = list(read_transaction_sets(io.BytesIO(data), "ta1.edi"))
    assert result.transaction_set is None and result.rejection is not None
    assert (result.rejection.scope, result.rejection.segment_tag) == ("interchange", "IEA")
    assert ("TA1 for our interchange '000000777': rejected, note 022"
            in result.rejection.problem)
    assert "no 997/999 is due" in result.rejection.hint


def test_an_interchange_without_groups_is_reported() -> None:
    data = (b"ISA*00*          *00*          *ZZ*PARTNER        *ZZ*OURCO          *260102*0304*"
            b"U*00401*000000124*0*P*>~IEA*0*000000124~")
    (result,) = list(read_transaction_sets(io.BytesIO(data), "empty.edi"))
    assert result.rejection is not None
    assert result.rejection.problem == "interchange 000000124 has no functional group"
