"""The README's carrier support table names every code the shipped mapping tables map."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
README = (ROOT / "README.md").read_text()
TABLES = ROOT / "processors" / "shipment_status" / "mappings"


@pytest.mark.parametrize("source", ["UPS", "FEDEX", "USPS", "DHL", "EASYPOST", "AFTERSHIP",
                                    "SHIPENGINE", "SHIPPO"])
def test_support_table_lists_every_mapped_code(source: str) -> None:
    # the support table comes after the poller's credentials table, which also has a UPS row
    row = [line for line in README.splitlines() if line.startswith(f"| {source} |")][-1]
    mapped = yaml.safe_load((TABLES / f"{source.lower()}.yaml").read_text())["codes"]
    listed = set(re.split(r"[\s,;()+]+", row.split("|")[3]))
    assert [str(code) for code in mapped if str(code) not in listed] == []
