"""``backbone carriers parse`` and ``backbone shipments normalize`` as users run them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.carriers.cli import app as carriers
from processors.shipment_status.cli import app as shipments

CORPUS = Path("/work/shared/corpus/carriers")
# Under CI the corpus is always beside the clone: its absence must fail, never skip.
pytestmark = pytest.mark.skipif(not CORPUS.is_dir() and os.environ.get("CI") != "true",
                                reason=f"corpus not at {CORPUS}")


def _lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_parse_then_normalize_ups_out_for_delivery() -> None:
    runner = CliRunner()
    parsed = runner.invoke(carriers, ["parse", str(CORPUS / "ups__out_for_delivery_shipment.xml"),
                                      "--carrier", "ups"])
    assert parsed.exit_code == 0, parsed.output
    events = _lines(parsed.stdout)
    assert len(events) == 5 and {e["event_type"] for e in events} == {"ShipmentMilestone"}
    normalized = runner.invoke(shipments, ["normalize", "-"], input=parsed.stdout)
    assert normalized.exit_code == 0, normalized.output
    (status,) = _lines(normalized.stdout)
    assert (status["event_type"], status["tracking_number"], status["milestone"],
            status["history_count"]) == ("ShipmentStatus", "1ZW22A280305086608",
                                         "OUT_FOR_DELIVERY", 5)


def test_not_found_exits_2_with_one_message_and_no_events() -> None:
    result = CliRunner().invoke(
        carriers, ["parse", str(CORPUS / "fedex__tracking_response_not_found.xml"),
                   "--carrier", "fedex"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("backbone:") == 1
    assert "cannot be found" in result.stderr


def test_partial_response_exits_1() -> None:
    result = CliRunner().invoke(
        carriers, ["parse", str(CORPUS / "usps__tracking_response_alt.xml"), "--carrier", "usps"])
    assert result.exit_code == 1
    assert len(_lines(result.stdout)) == 1
    assert "TrackDetail[1]" in result.stderr


def test_normalize_reports_bad_lines_and_unknown_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    good = runner.invoke(carriers, ["parse", str(CORPUS / "usps__tracking_response.xml"),
                                    "--carrier", "usps"]).stdout.splitlines()
    unknown = json.loads(good[0])
    unknown["raw_status"]["code"] = "ZZ"
    unknown["tracking_number"] = "OTHER"
    lines = [good[0], "{oops", json.dumps(unknown), '{"event_type": "ShipmentMilestone"}',
             *good[1:]]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(shipments, ["normalize", str(path)])
    assert result.exit_code == 1
    (status,) = _lines(result.stdout)
    assert (status["milestone"], status["history_count"]) == ("DELIVERED", 10)
    assert f"{path}:2: not JSON" in result.stderr
    assert f"{path}:3: UNKNOWN_CODE: USPS status code 'ZZ'" in result.stderr
    assert f"{path}:4: not a valid ShipmentMilestone" in result.stderr
    nothing = tmp_path / "bad.jsonl"
    nothing.write_text("{oops\n")
    assert runner.invoke(shipments, ["normalize", str(nothing)]).exit_code == 2


def test_normalize_honours_operator_overrides(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    good = runner.invoke(carriers, ["parse", str(CORPUS / "usps__tracking_response.xml"),
                                    "--carrier", "usps"]).stdout.splitlines()
    event = json.loads(good[-1])
    event["raw_status"]["code"] = "ZZ"
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text("USPS:\n  ZZ: {milestone: PICKED_UP, exception: true}\n")
    monkeypatch.setenv("BACKBONE_STATUS_MAPPINGS", str(overrides))
    result = runner.invoke(shipments, ["normalize", "-"], input=json.dumps(event) + "\n")
    assert result.exit_code == 0, result.stderr
    (status,) = _lines(result.stdout)
    assert (status["milestone"], status["condition"]["exception"]) == ("PICKED_UP", True)
    overrides.write_text("USPS:\n  ZZ: SHIPPED\n")
    bad = runner.invoke(shipments, ["normalize", "-"], input=json.dumps(event) + "\n")
    assert bad.exit_code == 2
    assert "'SHIPPED' is not a milestone" in bad.stderr
