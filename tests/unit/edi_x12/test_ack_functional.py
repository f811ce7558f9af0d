"""997 / 999 functional acknowledgments: readable by our own reader, right codes per set."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from connectors.edi_x12 import read_file, read_transaction_sets
from connectors.edi_x12.functional_ack import (
    SetVerdict,
    functional_ack,
    group_error_code,
    interchange_ack,
    interchange_note_code,
    needs_functional_ack,
    set_error_code,
)

NOW = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)


def _first(path: Path):  # type: ignore[no-untyped-def]
    result = next(r for r in read_file(path) if r.group is not None)
    assert result.interchange is not None and result.group is not None
    return result.interchange, result.group


def test_997_for_a_004010_group_swaps_parties_and_reads_back(corpus_dir: Path) -> None:
    interchange, group = _first(corpus_dir / "node-x12__855.edi")
    text = functional_ack(interchange, group, [SetVerdict("855", "0005")], control_number=42,
                          now=NOW)
    (ack,) = list(read_transaction_sets(io.BytesIO(text.encode()), "ack.997"))
    assert ack.accepted, ack.rejection
    assert ack.transaction_set is not None and ack.transaction_set.set_id == "997"
    assert ack.interchange is not None and ack.group is not None
    assert (ack.interchange.sender_id, ack.interchange.receiver_id) == ("123MILL", "1556150")
    assert ack.interchange.control_number == "000000042"
    assert (ack.group.functional_id, ack.group.sender, ack.group.receiver) == (
        "FA", "123MILL", "1556150")
    body = [s.fields for s in ack.transaction_set.body]
    assert body == [("AK1", "PR", "5", "004010"), ("AK2", "855", "0005"), ("AK5", "A"),
                    ("AK9", "A", "1", "1", "1")]


def test_999_for_005010_with_a_rejected_set(corpus_dir: Path) -> None:
    interchange, group = _first(corpus_dir / "x12-types___850_test__parse_850_1.edi")
    verdicts = [SetVerdict("850", "105832797"), SetVerdict("850", "2", "4")]
    text = functional_ack(interchange, group, verdicts, control_number=7, now=NOW)
    (ack,) = list(read_transaction_sets(io.BytesIO(text.encode()), "ack.999"))
    assert ack.accepted, ack.rejection
    assert ack.transaction_set is not None and ack.transaction_set.set_id == "999"
    tags = [s.fields for s in ack.transaction_set.body]
    assert ("IK5", "R", "4") in tags and ("IK5", "A") in tags
    assert tags[-1] == ("AK9", "P", "2", "2", "1")


def test_newline_terminated_partner_gets_tilde_terminated_ack(corpus_dir: Path) -> None:
    interchange, group = _first(corpus_dir / "EdiEngine__940.OK.edi")
    text = functional_ack(interchange, group, [SetVerdict("940", "0001", "5")],
                          control_number=1, now=NOW)
    assert text.splitlines()[1].startswith("GS*FA*3111350000*7705551212*")
    assert "AK9*R*1*1*0~" in text


def test_error_codes_follow_the_problem() -> None:
    assert set_error_code("SE01 says 12 segments, counted 9") == "4"
    assert set_error_code("SE02 control number '2' does not match ST02 '1'") == "3"
    assert set_error_code("transaction set 837 1 is not supported") == "1"
    assert set_error_code("transaction set has no SE trailer") == "2"
    assert set_error_code("PO102 'TEN' is not a number") == "5"


def test_a_999_carries_its_own_version_in_st03_and_gs08(corpus_dir: Path) -> None:
    interchange, group = _first(corpus_dir / "x12-types___850_test__parse_850_1.edi")
    assert group.version.startswith("005010") and group.version != "005010X231A1"
    text = functional_ack(interchange, group, [SetVerdict("850", "1")], control_number=3,
                          now=NOW)
    (ack,) = list(read_transaction_sets(io.BytesIO(text.encode()), "ack.999"))
    assert ack.transaction_set is not None and ack.group is not None
    assert ack.transaction_set.header.fields[3] == "005010X231A1"
    assert ack.group.version == "005010X231A1"
    ak1 = ack.transaction_set.body[0].fields
    assert ak1[3] == group.version  # AK103: the acknowledged group's version


def test_group_trailer_errors_reach_ak9(corpus_dir: Path) -> None:
    """EdiEngine's WrongGroupsAndTranCount: GE*2 for a group of one set (read off the file)."""
    results = list(read_file(corpus_dir / "EdiEngine__WrongGroupsAndTranCount.edi"))
    group_problems = [r.rejection.problem for r in results
                      if r.rejection is not None and r.rejection.scope == "group"]
    codes = tuple(c for c in map(group_error_code, group_problems) if c is not None)
    assert codes == ("5",)
    interchange, group = _first(corpus_dir / "EdiEngine__WrongGroupsAndTranCount.edi")
    text = functional_ack(interchange, group, [SetVerdict("940", "0001")], control_number=1,
                          now=NOW, group_errors=codes)
    assert "AK9*E*1*1*1*5~" in text
    mismatch = [r.rejection.problem for r in read_file(
        corpus_dir / "EdiEngine__ControlNumbersMismatch.edi")
        if r.rejection is not None and r.rejection.scope == "group"]
    assert [group_error_code(p) for p in mismatch] == ["4"]
    rejected = functional_ack(interchange, group, [SetVerdict("940", "1", "3")],
                              control_number=2, now=NOW, group_errors=("4",))
    assert "AK9*R*1*1*0*4~" in rejected


def test_acknowledgments_are_never_acknowledged(corpus_dir: Path) -> None:
    _, fa_group = _first(corpus_dir / "staedi__simple997.edi")
    _, po_group = _first(corpus_dir / "node-x12__855.edi")
    assert fa_group.functional_id == "FA"
    assert not needs_functional_ack(fa_group)
    assert needs_functional_ack(po_group)


def test_ta1_answers_the_interchange_and_reads_back(corpus_dir: Path) -> None:
    """EdiEngine ControlNumbersMismatch: IEA02 000003439 for ISA13 000003438 (read off the
    file) -> TA1 E with note 001."""
    path = corpus_dir / "EdiEngine__ControlNumbersMismatch.edi"
    problems = [r.rejection.problem for r in read_file(path)
                if r.rejection is not None and r.rejection.scope == "interchange"]
    codes = [interchange_note_code(p) for p in problems]
    assert codes == ["001"]
    interchange, _ = _first(path)
    text = interchange_ack(interchange, control_number=9, now=NOW, note_code="001")
    assert text.splitlines()[1] == "TA1*000003438*101127*1719*E*001~"
    (explained,) = list(read_transaction_sets(io.BytesIO(text.encode()), "ta1"))
    assert explained.interchange is not None
    assert explained.interchange.control_number == "000000009"
    assert explained.rejection is not None and "TA1 for our interchange '000003438'" in (
        explained.rejection.problem)
    accepted = interchange_ack(interchange, control_number=10, now=NOW)
    assert "TA1*000003438*101127*1719*A*000~" in accepted
