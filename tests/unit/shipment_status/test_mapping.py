"""The shipped mapping tables and operator overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from backbone.errors import UnknownCodeError
from backbone.events.logistics import Milestone, RawStatus, RawStatusSource
from processors.shipment_status.mapping import (
    MAPPINGS_DIR,
    Attribute,
    MappingFileError,
    load_mappings,
)

FILES = sorted(MAPPINGS_DIR.glob("*.yaml"))


def test_every_source_the_brief_names_has_a_table() -> None:
    sources = set(load_mappings().tables)
    assert {RawStatusSource.X12_214, RawStatusSource.UPS, RawStatusSource.FEDEX,
            RawStatusSource.USPS, RawStatusSource.EASYPOST, RawStatusSource.WMS} <= sources


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_mapped_code_names_a_valid_milestone(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    assert RawStatusSource(data["source"])
    assert data["codes"], "a table without codes"
    for code, value in data["codes"].items():
        # YAML 1.1 reads 01 as 1 and ON as True: every code must be written as a string.
        assert isinstance(code, str), f"{path.name}: code {code!r} is not a string; quote it"
        if isinstance(value, str):
            assert Milestone(value) is not Milestone.UNKNOWN
            continue
        assert set(value) <= {"milestone", "exception", "reason_group", "attribute"}, code
        if "milestone" in value:
            assert Milestone(value["milestone"])
        if "attribute" in value:
            assert Attribute(value["attribute"])
        assert value.get("milestone") or value.get("exception") or value.get("attribute"), code
        if value.get("exception"):
            assert value.get("reason_group"), f"{path.name}: {code} raises without a reason group"
    for code, value in (data.get("reasons") or {}).items():
        assert isinstance(code, str), f"{path.name}: reason {code!r} is not a string"
        assert isinstance(value, str) or "reason_group" in value
    for rule in data.get("description_rules") or ():
        assert rule["code"] in data["codes"]
        assert Milestone(rule["milestone"])


def _raw(source: str, code: str, reason: str | None = None, description: str | None = None
         ) -> RawStatus:
    return RawStatus(source=RawStatusSource(source), code=code, reason_code=reason,
                     description=description)


@pytest.mark.parametrize(("raw", "milestone", "exception", "group"), [
    (_raw("UPS", "I", "DS", "OUT FOR DELIVERY"), Milestone.OUT_FOR_DELIVERY, False, None),
    (_raw("UPS", "I", "DS", "DESTINATION SCAN"), Milestone.IN_TRANSIT, False, None),
    (_raw("UPS", "I", "OR", "ORIGIN SCAN"), Milestone.PICKED_UP, False, None),
    (_raw("UPS", "M", "MP"), Milestone.PRE_TRANSIT, False, None),
    (_raw("UPS", "D", "KB", "DELIVERED"), Milestone.DELIVERED, False, None),
    (_raw("UPS", "X", "48"), Milestone.DELIVERY_ATTEMPTED, True, "CONSIGNEE"),
    (_raw("UPS", "X", "ZZ"), None, True, "CARRIER"),
    (_raw("FEDEX", "SE", "099", "Shipment exception"), None, True, "SHIPMENT_EXCEPTION"),
    (_raw("FEDEX", "OD"), Milestone.OUT_FOR_DELIVERY, False, None),
    (_raw("X12_214", "X6", "NS"), Milestone.OUT_FOR_DELIVERY, False, None),
    (_raw("X12_214", "X6", "AF"), Milestone.OUT_FOR_DELIVERY, True, "CARRIER"),
    (_raw("X12_214", "SD", "NS"), None, True, "DELAYED"),
    (_raw("X12_214", "AG", "NS"), None, False, None),
    (_raw("EASYPOST", "in_transit", "weather_delay"), Milestone.IN_TRANSIT, True,
     "WEATHER_FORCE_MAJEURE"),
    (_raw("EASYPOST", "in_transit", "something_new"), Milestone.IN_TRANSIT, False, None),
    (_raw("USPS", "01"), Milestone.DELIVERED, False, None),
])
def test_resolve(raw: RawStatus, milestone: Milestone | None, exception: bool,
                 group: str | None) -> None:
    resolution = load_mappings().resolve(raw)
    assert (resolution.milestone, resolution.exception, resolution.reason_group) == (
        milestone, exception, group)


def test_eta_codes_are_attributes() -> None:
    assert load_mappings().resolve(_raw("X12_214", "X2")).attribute is Attribute.ETA


def test_unknown_code_names_source_and_code() -> None:
    with pytest.raises(UnknownCodeError, match=r"FEDEX status code 'QQ'.*BACKBONE_STATUS_MAPPINGS"):
        load_mappings().resolve(_raw("FEDEX", "QQ"))


def test_unknown_x12_reason_is_never_guessed() -> None:
    with pytest.raises(UnknownCodeError, match=r"reason code 'ZZ'"):
        load_mappings().resolve(_raw("X12_214", "X6", "ZZ"))


def test_source_without_table() -> None:
    with pytest.raises(UnknownCodeError, match="no status mapping table for source OTHER"):
        load_mappings().resolve(_raw("OTHER", "OK"))


def test_overrides_add_and_replace_codes(tmp_path: Path) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text("X12_214:\n  OA: PICKED_UP\n  X6: {milestone: IN_TRANSIT, exception: true}\n"
                    "DHL:\n  OK: DELIVERED\n")
    mappings = load_mappings(path)
    assert mappings.resolve(_raw("X12_214", "OA")).milestone is Milestone.PICKED_UP
    x6 = mappings.resolve(_raw("X12_214", "X6"))
    assert (x6.milestone, x6.exception) == (Milestone.IN_TRANSIT, True)
    assert mappings.resolve(_raw("DHL", "OK")).milestone is Milestone.DELIVERED
    assert mappings.versions()["X12_214"] == "1+overrides"
    # the shipped tables stay as they are
    assert load_mappings().resolve(_raw("X12_214", "X6")).milestone is Milestone.OUT_FOR_DELIVERY


@pytest.mark.parametrize(("text", "message"), [
    ("FOO:\n  X: DELIVERED\n", "unknown source 'FOO'"),
    ("UPS:\n  ZZ: ARRIVED\n", "'ARRIVED' is not a milestone"),
    ("UPS: [1, 2]\n", "expected '<raw code>: <MILESTONE>'"),
    ("UPS:\n  ZZ: {milestone: DELIVERED, colour: red}\n", "unknown keys"),
    ("UPS: {ZZ: [\n", "not valid YAML"),
])
def test_bad_override_files_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text(text)
    with pytest.raises(MappingFileError, match=message) as caught:
        load_mappings(path)
    assert str(path) in str(caught.value)
