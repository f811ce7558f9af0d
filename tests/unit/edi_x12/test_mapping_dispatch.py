"""The dispatcher over the whole corpus: every file maps, is skipped or is rejected, events fit
their Avro schema, ids are deterministic; and `backbone edi parse` exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import fastavro
import pytest
from typer.testing import CliRunner

from backbone import schemas
from backbone.events import Event
from connectors.edi_x12 import read_file
from connectors.edi_x12.cli import app
from connectors.edi_x12.mapping import MappingError, map_transaction_set, skip_reason
from tests.unit.edi_x12.x12_samples import build, map_bytes, map_corpus, results_of

# Set ids of the accepted sets of each corpus file, and how many events they map to.
CORPUS = {
    "EdiEngine__850.OK.edi": (["850"], 1),
    "EdiEngine__856.Crossdock.OK.edi": (["856"], 1),
    "EdiEngine__940.OK.edi": (["940"], 0),
    "EdiEngine__940_Failed_SE01.edi": ([], 0),
    "EdiEngine__ControlNumbersMismatch.edi": ([], 0),
    "EdiEngine__MultipleInterchangesAndGroups.edi": (["940"] * 6, 0),
    "EdiEngine__NonEdi.edi": ([], 0),
    "EdiEngine__WrongGroupsAndTranCount.edi": (["940"], 0),
    "node-x12__850.edi": (["850"], 1),
    "node-x12__850_3.edi": (["850"], 1),
    "node-x12__855.edi": (["855"], 1),
    "node-x12__856.edi": (["856"], 1),
    "staedi__invalid997.edi": (["997"], 0),
    "staedi__invoice810_po850_dual.edi": (["810", "810", "850"], 3),
    "staedi__simple810.edi": (["810", "810"], 2),
    "staedi__simple997.edi": (["997"], 0),
    "staedi__ts214_ellipses_segterm.edi": (["214"], 2),
    "x12-types__004010_850.edi": (["850"], 1),
    "x12-types__004060_856.edi": (["856"], 1),
    "x12-types___850_test__parse_850_1.edi": (["850"], 1),
    "x12-types___855_test__test_855_1.edi": ([], 0),
    "x12-types__test_214__parse_214_1.edi": (["214"], 18),
    "x12-types__test_214__parse_214_2.edi": (["214"], 1),
    "x12-types__test_856__test_856_xx.edi": (["856"], 1),
}


def test_the_table_covers_every_corpus_file(corpus_dir: Path) -> None:
    assert sorted(p.name for p in corpus_dir.glob("*.edi")) == sorted(CORPUS)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_file_maps_and_every_event_fits_its_avro_schema(
    corpus_dir: Path, name: str
) -> None:
    mapped = map_corpus(corpus_dir / name)
    set_ids, event_count = CORPUS[name]
    assert [r.transaction_set.set_id for r, _ in mapped if r.transaction_set] == set_ids
    events = [e for _, found in mapped for e in found]
    assert len(events) == event_count
    for event in events:
        schema = schemas.parsed(event.RECORD_NAME)
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, schema, event.to_avro())
        buffer.seek(0)
        back = type(event).from_avro(fastavro.schemaless_reader(buffer, schema))
        assert back == event
        document = event.source.document
        assert document is not None and document.raw_ref == name
        assert event.source.partner_id


def test_event_ids_are_deterministic_across_parses(corpus_dir: Path) -> None:
    path = corpus_dir / "x12-types__test_214__parse_214_1.edi"
    first = [e.event_id for _, events in map_corpus(path) for e in events]
    second = [e.event_id for _, events in map_corpus(path) for e in events]
    assert first == second and len(set(first)) == 18


def test_same_st02_in_two_groups_of_one_interchange_gets_distinct_keys(corpus_dir: Path) -> None:
    # EdiEngine MultipleInterchangesAndGroups reuses ST 0001 in groups 3313 and 3314.
    data = (corpus_dir / "EdiEngine__MultipleInterchangesAndGroups.edi").read_bytes()
    data = data.replace(b"ST*940", b"ST*850").replace(
        b"W05*N*538686**001001*538686", b"BEG*00*SA*PO1**20260101").replace(
        b"W01*12*CA*000100011110*VN*000100*UC*DEC0199******19991205", b"PO1*1*1*EA*1")
    keys = [e.idempotency_key for e in map_bytes(data)]
    assert len(keys) == len(set(keys)) == 6


def test_940_and_997_are_accepted_without_events() -> None:
    assert skip_reason("940") is not None and "not a canonical event" in (skip_reason("940") or "")
    assert map_bytes(build("940", "W05*N*1")) == []


def test_unsupported_set_is_a_mapping_error_at_its_st() -> None:
    (result,) = results_of(build("837", "BHT*0019*00*1"), "claims.edi")
    with pytest.raises(MappingError) as caught:
        map_transaction_set(result, file="claims.edi")
    assert str(caught.value).startswith("claims.edi: segment 3 (ST) at byte ")
    assert "837 0001 is not supported" in str(caught.value)


def test_rejected_sets_are_refused(corpus_dir: Path) -> None:
    (result,) = [r for r in read_file(corpus_dir / "EdiEngine__940_Failed_SE01.edi")
                 if r.transaction_set is not None]
    with pytest.raises(ValueError, match="accepted transaction sets only"):
        map_transaction_set(result)


runner = CliRunner()


def test_parse_all_accepted_exits_0_with_json_lines(corpus_dir: Path) -> None:
    result = runner.invoke(app, ["parse", str(corpus_dir / "node-x12__855.edi")])
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    event = Event.from_json_dict(json.loads(line))
    assert event.event_type == "SupplierAcknowledgement"


def test_parse_some_rejected_exits_1_and_names_them_on_stderr(corpus_dir: Path) -> None:
    result = runner.invoke(app, ["parse", str(corpus_dir / "x12-types__test_214__parse_214_2.edi")])
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 1
    assert "x12-types__test_214__parse_214_2.edi: segment 15 (SE) at byte 324" in result.stderr


def test_parse_nothing_usable_exits_2(corpus_dir: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.edi"
    garbage.write_bytes(b"\x00\xff" * 500_000)
    result = runner.invoke(app, ["parse", str(corpus_dir / "EdiEngine__NonEdi.edi"),
                                 str(garbage), str(tmp_path / "missing.edi")])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "EdiEngine__NonEdi.edi: at byte 0" in result.stderr
    assert "garbage.edi" in result.stderr
    assert "missing.edi: no such file" in result.stderr
