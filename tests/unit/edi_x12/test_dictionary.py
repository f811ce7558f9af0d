"""The X12 004010 dictionary and the checks built on it; GS element count; 846 as_of; 945
warnings per event; 214 L11 references.

Dictionary facts are the standard's, checked here against what every X12 reference prints
(GS has 8 elements, ISA 16, QTY 4; 355 holds EA, CA, LB), not against our own output.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from backbone.events import InventoryMovement, InventorySnapshot, ShipmentMilestone
from connectors.edi_x12 import read_transaction_sets
from connectors.edi_x12.dictionary import definition, judged, segment_problems
from connectors.edi_x12.model import Delimiters, Segment
from tests.unit.edi_x12.x12_samples import build, map_bytes, map_corpus

DELIMITERS = Delimiters("*", ">", "~", None)


def test_the_dictionary_knows_the_envelope_and_the_segments_we_map() -> None:
    gs, isa, qty, poc = (definition(tag) for tag in ("GS", "ISA", "QTY", "POC"))
    assert gs is not None and len(gs) == 8 and all(e.mandatory for e in gs)
    assert isa is not None and len(isa) == 16
    assert qty is not None and [e.label for e in qty] == ["673", "380", "C001", "61"]
    assert poc is not None and (poc[1].label, poc[1].mandatory) == ("670", True)
    assert (poc[2].label, poc[2].mandatory, poc[2].kind) == ("330", False, "R")
    unit = poc[4].first_component
    assert unit is not None and unit.codes is not None
    assert {"EA", "CA", "LB"} <= unit.codes and "XX" not in unit.codes
    assert definition("ZZZ") is None


def test_segment_problems_name_the_element() -> None:
    assert list(segment_problems(Segment.of("QTY", "17", "5", "EA"), DELIMITERS)) == []
    assert list(segment_problems(Segment.of("QTY", "17", "5", "XX"), DELIMITERS)) == [
        "QTY03 'XX' is not a code of element 355 in X12 004010"]
    # A composite unit: its first component is the 355 code.
    assert list(segment_problems(Segment.of("QTY", "17", "5", "EA>1"), DELIMITERS)) == []
    run_together = Segment.of("QTY", "17", "5", "EA", "", "17", "9", "EA")
    assert list(segment_problems(run_together, DELIMITERS)) == [
        "QTY has 7 elements, its X12 004010 definition 4: a segment terminator may be "
        "missing, or two segments run together"]


def test_only_versions_up_to_004010_are_judged() -> None:
    assert judged("004010") and judged("004010VICS") and judged("003010")
    assert not judged("005010") and not judged("004060") and not judged("") and not judged("X")


def test_846_flags_units_outside_355_and_a_segment_with_too_many_elements() -> None:
    data = build("846", "BIA*00*DD*INV-1*20260105*0600", "LIN*1*SK*A-1",
                 "QTY*17*120*ZQ", "QTY*33*100*EA*X*Y")
    (snapshot,) = map_bytes(data)
    assert isinstance(snapshot, InventorySnapshot)
    assert snapshot.warnings == (
        "segment 6 (QTY): QTY03 'ZQ' is not a code of element 355 in X12 004010",
        "segment 7 (QTY): QTY has 5 elements, its X12 004010 definition 4: a segment "
        "terminator may be missing, or two segments run together")


def test_846_as_of_comes_only_from_as_of_qualifiers() -> None:
    data = build("846", "BIA*00*DD*INV-1*20260105*0600", "DTM*036*20270101",
                 "LIN*1*SK*A-1", "DTM*036*20280101", "QTY*17*1*EA",
                 "LIN*2*SK*B-2", "DTM*007*20260104*2300", "QTY*17*2*EA")
    first, second = map_bytes(data)
    assert isinstance(first, InventorySnapshot) and isinstance(second, InventorySnapshot)
    # 036 is an expiration date: never the as-of. BIA04/05 stands; 007 (effective) replaces it.
    assert first.as_of == datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
    assert second.as_of == datetime(2026, 1, 4, 23, 0, tzinfo=UTC)


def test_a_gs_with_an_element_too_many_rejects_its_sets_not_shifts_them() -> None:
    data = build("945", "W06*N*SO1*20260101*SH1").replace(b"GS*SW*", b"GS*SW*EXTRA*", 1)
    results = list(read_transaction_sets(io.BytesIO(data), "945.edi"))
    assert not any(r.accepted for r in results)
    group = results[0].rejection
    assert group is not None and group.scope == "group" and group.segment_tag == "GS"
    assert group.problem.startswith("GS has 9 elements, X12 defines 8")
    rejected = results[1]
    assert rejected.transaction_set is not None and rejected.rejection is not None
    assert "the set's group is malformed" in rejected.rejection.problem


def test_945_warnings_belong_to_the_movement_they_concern() -> None:
    data = build("945", "W06*N*SO1*20260101*SH1", "W27*M*ABCD",
                 "LX*1", "W12*CC*5*5**EA*012345678901",
                 "LX*2", "W12*CC*3*3***012345678905", )
    events = map_bytes(data)
    moves = [e for e in events if isinstance(e, InventoryMovement)]
    assert len(moves) == 2
    first, second = moves
    # W1205 empty on the second line only: the unit warning is the second movement's alone.
    assert not any("W1205" in w for w in first.warnings)
    assert any("W1205 unit of measure is empty" in w for w in second.warnings)


def test_214_carries_every_l11_reference_of_its_header_and_its_own_loop(
    corpus_dir: Path,
) -> None:
    """x12-types 214: each LX loop has its own L11*...*DO (read off the raw file)."""
    name = "x12-types__test_214__parse_214_1.edi"
    raw = (corpus_dir / name).read_text(encoding="ascii")
    by_loop: dict[int, dict[str, list[str]]] = {}
    loop = 0
    for segment in raw.split("~"):
        fields = segment.strip().split("*")
        if fields[0] == "LX":
            loop = int(fields[1])
        elif fields[0] == "L11":
            by_loop.setdefault(loop, {}).setdefault(fields[2], []).append(fields[1])
    assert len(by_loop) == 3 and all(set(refs) == {"DO"} for refs in by_loop.values())
    milestones = [e for _, events in map_corpus(corpus_dir / name) for e in events
                  if isinstance(e, ShipmentMilestone)]
    assert {m.stop_sequence for m in milestones} == set(by_loop)
    for milestone in milestones:
        assert milestone.stop_sequence is not None
        assert {q: list(v) for q, v in milestone.references.items()} == (
            by_loop[milestone.stop_sequence])
    assert milestones[0].correlation.po_number is None  # DO is a delivery order, not a PO


def test_a_214_keeps_repeated_and_unmapped_qualifiers() -> None:
    data = build("214", "B10*PRO1*SHIP1*ABCD", "L11*PO-1*PO", "L11*PO-2*PO", "L11*Q9*ZZ",
                 "LX*1", "AT7*X1*NS***20260101*0800*LT", "L11*BOL-7*BM")
    (milestone,) = map_bytes(data)
    assert isinstance(milestone, ShipmentMilestone)
    assert milestone.references == {"PO": ("PO-1", "PO-2"), "ZZ": ("Q9",), "BM": ("BOL-7",)}


def test_947_and_846_warnings_stay_with_their_own_line() -> None:
    data = build("947", "W15*20260101*ADJ-1", "N1*WH*DC", "LX*1",
                 "W19*ZZ*-2*EA**VN*A-1", "LX*2", "W19*AA*3*EA**VN*B-2")
    first, second = map_bytes(data)
    assert isinstance(first, InventoryMovement) and isinstance(second, InventoryMovement)
    assert any("'ZZ' (element 181) is not known" in w for w in first.warnings)
    assert not any("element 181" in w for w in second.warnings)
    snapshots = map_bytes(build("846", "BIA*00*DD*INV-1*20260105", "LIN*1*SK*A-1",
                                "QTY*17*1", "LIN*2*SK*B-2", "QTY*17*2*EA"))
    assert [any("QTY03 unit of measure is empty" in w for w in s.warnings)
            for s in snapshots] == [True, False]
