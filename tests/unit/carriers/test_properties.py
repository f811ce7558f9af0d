"""Property-based tests of the carrier parsers at the edge: any bytes, mutated real responses and
hostile XML end in events or a CarrierResponseError, never another exception."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from connectors.carriers import PARSERS, CarrierResponseError, Parsed, parse
from connectors.carriers.cli import app as carriers_cli
from connectors.carriers.model import EventTime

NOW = datetime(2024, 5, 14, tzinfo=UTC)
SHARED_CORPUS = Path("/work/shared/corpus/carriers")
PROJECT_CORPUS = Path(__file__).parents[2] / "corpus" / "carriers"
SAMPLES = sorted(p for folder in (SHARED_CORPUS, PROJECT_CORPUS) if folder.is_dir()
                 for p in folder.iterdir() if p.suffix in {".xml", ".json"})
XML_CARRIERS = ["ups", "fedex", "usps"]
# Enough examples to find the defects below again within seconds; CI keeps the same budget.
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _outcome(carrier: str, data: bytes) -> Parsed | CarrierResponseError:
    try:
        return parse(carrier, data, name="fuzz", recorded_at=NOW)
    except CarrierResponseError as error:
        assert str(error).startswith("fuzz: "), "the message must name the input"
        return error


@FUZZ
@given(carrier=st.sampled_from(sorted(PARSERS)), data=st.binary(max_size=2048))
def test_any_bytes_end_in_events_or_a_clear_error(carrier: str, data: bytes) -> None:
    _outcome(carrier, data)


def test_the_corpus_is_there_to_mutate() -> None:
    assert len(SAMPLES) >= 10  # the project corpus alone has 13


@FUZZ
@given(sample=st.sampled_from(SAMPLES or [Path("missing")]), data=st.data())
def test_mutated_real_responses_end_in_events_or_a_clear_error(sample: Path,
                                                               data: st.DataObject) -> None:
    body = bytearray(sample.read_bytes())
    for _ in range(data.draw(st.integers(1, 8), label="mutations")):
        at = data.draw(st.integers(0, len(body)), label="at")
        kind = data.draw(st.sampled_from(["flip", "insert", "delete", "digits"]), label="kind")
        if kind == "flip" and at < len(body):
            body[at] = data.draw(st.integers(0, 255), label="byte")
        elif kind == "insert":
            body[at:at] = data.draw(st.binary(min_size=1, max_size=16), label="bytes")
        elif kind == "delete":
            del body[at:at + data.draw(st.integers(1, 64), label="length")]
        else:
            body[at:at] = b"9" * 5000  # past Python's 4300-digit int() limit
    carrier = sample.name.removeprefix("karrio__").split("__")[0]
    _outcome(CORPUS_CARRIER.get(carrier, carrier), bytes(body))


# Project corpus prefixes (karrio's connector names) to our --carrier names.
CORPUS_CARRIER = {"dhl_universal": "dhl", "mydhl": "dhl"}


ENCODINGS = st.one_of(st.sampled_from(["foo-bar", "utf-32", "utf-16", "x-mac-klingon", "UTF-7",
                                       "cp037", "ebcdic", "", " "]),
                      st.text(st.characters(min_codepoint=33, max_codepoint=126,
                                            exclude_characters='"'), max_size=20))


@FUZZ
@given(carrier=st.sampled_from(XML_CARRIERS), encoding=ENCODINGS)
@example(carrier="ups", encoding="foo-bar")  # LookupError before the fix
@example(carrier="usps", encoding="utf-32")  # ValueError before the fix
def test_an_xml_declaration_with_any_encoding_is_read_or_refused(carrier: str,
                                                                 encoding: str) -> None:
    _outcome(carrier, f'<?xml version="1.0" encoding="{encoding}"?><TrackResponse/>'.encode())


@FUZZ
@given(carrier=st.sampled_from(sorted(c for c in PARSERS if c not in XML_CARRIERS)),
       digits=st.integers(4301, 20000), depth=st.integers(0, 5))
def test_json_integers_past_the_digit_limit_are_refused(carrier: str, digits: int,
                                                        depth: int) -> None:
    body = b'{"a": ' + b"[" * depth + b"7" * digits + b"]" * depth + b"}"
    outcome = _outcome(carrier, body)
    assert isinstance(outcome, CarrierResponseError)
    assert "not JSON" in str(outcome)


@pytest.mark.parametrize("carrier", sorted(c for c in PARSERS if c not in XML_CARRIERS))
def test_json_nested_past_the_recursion_limit_is_refused(carrier: str) -> None:
    outcome = _outcome(carrier, b"[" * 200_000)
    assert isinstance(outcome, CarrierResponseError)
    assert "nested too deeply" in str(outcome)


NAME = st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=8)


@st.composite
def hostile_xml(draw: st.DrawFn) -> bytes:
    """Entity expansion (billion laughs), external entities (XXE) and parameter entities."""
    name = draw(NAME)
    kind = draw(st.sampled_from(["laughs", "external", "parameter", "doctype-only"]))
    if kind == "laughs":
        levels = draw(st.integers(1, 10))
        decls = [f'<!ENTITY {name}0 "lol">'] + [
            f'<!ENTITY {name}{i} "{("&" + name + str(i - 1) + ";") * 10}">'
            for i in range(1, levels)]
        dtd, use = "".join(decls), f"&{name}{levels - 1};"
    elif kind == "external":
        target = draw(st.sampled_from(["file:///etc/passwd", "http://127.0.0.1:9/x",
                                       "/proc/self/environ"]))
        dtd, use = f'<!ENTITY {name} SYSTEM "{target}">', f"&{name};"
    elif kind == "parameter":
        dtd, use = f'<!ENTITY % {name} SYSTEM "http://127.0.0.1:9/x.dtd"> %{name};', ""
    else:
        dtd, use = "", ""
    root = draw(st.sampled_from(["TrackResponse", "TrackReply"]))
    return (f'<?xml version="1.0"?><!DOCTYPE {root} [{dtd}]>'
            f"<{root}><Response>{use}</Response></{root}>").encode()


@FUZZ
@given(carrier=st.sampled_from(XML_CARRIERS), body=hostile_xml())
def test_dtds_and_entities_in_carrier_xml_are_refused(carrier: str, body: bytes) -> None:
    outcome = _outcome(carrier, body)
    assert isinstance(outcome, CarrierResponseError)
    assert "refused" in str(outcome)


@pytest.mark.parametrize(("carrier", "body", "message"), [
    ("ups", b'<?xml version="1.0" encoding="foo-bar"?><TrackResponse/>', "encoding"),
    ("easypost", b'{"tracking_code": ' + b"1" * 5000 + b"}", "not JSON"),
])
def test_carriers_parse_reports_what_used_to_crash_it(tmp_path: Path, carrier: str, body: bytes,
                                                      message: str) -> None:
    path = tmp_path / "response.bin"
    path.write_bytes(body)
    result = CliRunner().invoke(carriers_cli, ["parse", str(path), "--carrier", carrier])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert str(path) in result.stderr and message in result.stderr


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=12)
JSON_SAMPLES = [p for p in SAMPLES if p.suffix == ".json"]


def _paths(value: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*path, index))
    return found


@FUZZ
@given(sample=st.sampled_from(JSON_SAMPLES or [Path("missing")]), data=st.data())
def test_any_part_of_a_real_json_answer_replaced_by_any_json_ends_clearly(
        sample: Path, data: st.DataObject) -> None:
    body = json.loads(sample.read_bytes())
    for _ in range(data.draw(st.integers(1, 4), label="replacements")):
        path = data.draw(st.sampled_from(_paths(body)), label="path")
        replacement = data.draw(JSON_VALUES, label="value")
        if not path:
            body = replacement
            continue
        parent = body
        for step in path[:-1]:
            parent = parent[step]  # type: ignore[index]
        parent[path[-1]] = replacement  # type: ignore[index]
    carrier = sample.name.removeprefix("karrio__").split("__")[0]
    _outcome(CORPUS_CARRIER.get(carrier, carrier), json.dumps(body).encode())


def _stamp(moment: datetime, offset_minutes: int | None) -> str:
    text = moment.replace(tzinfo=None).isoformat()
    if offset_minutes is None:
        return text
    sign = "-" if offset_minutes < 0 else "+"
    return f"{text}{sign}{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"


OFFSETS = st.none() | st.integers(-1439, 1439)


@FUZZ
@given(local=st.datetimes(), local_offset=OFFSETS, given_offset=OFFSETS,
       utc=st.none() | st.datetimes())
@example(local=datetime(9999, 12, 31, 23, 59), local_offset=-300, given_offset=None, utc=None)
@example(local=datetime(1, 1, 1), local_offset=None, given_offset=300, utc=None)
@example(local=datetime(9999, 12, 31), local_offset=None, given_offset=None,
         utc=datetime(1, 1, 1))
def test_any_local_time_and_offset_is_placed_or_refused(
        local: datetime, local_offset: int | None, given_offset: int | None,
        utc: datetime | None) -> None:
    offset_text = _stamp(datetime(2000, 1, 1), given_offset)[19:] if given_offset is not None \
        else None
    try:
        when = EventTime.resolve(_stamp(local, local_offset), offset=offset_text,
                                 utc=_stamp(utc, 0) if utc else None)
    except ValueError:
        return
    assert when.utc.tzinfo is UTC
    assert when.offset_minutes is None or abs(when.offset_minutes) < 1440
