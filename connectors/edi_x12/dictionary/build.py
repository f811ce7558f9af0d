"""Rebuilds `x12_004010.json` from EdiEngine's X12 004010 dictionary (MIT; see README.md).

    python -m connectors.edi_x12.dictionary.build <EdiEngine checkout> [--commit <sha>]

Reads the C# definitions as text (never compiles or runs them): which segments the maps of
the sets we read use, each segment's elements in order (data element number, composite
or simple, mandatory or not), each simple element's type and length, and the code lists of
the elements our mappings interpret. Writes the JSON beside this file, sorted, so a rebuild
from the same commit is byte-identical.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from pathlib import Path
from typing import Any

# The sets the mappings read (connectors/edi_x12/mapping/__init__.py), and the envelope's.
SETS = ("810", "846", "850", "855", "856", "860", "861", "865", "940", "944", "945", "947",
        "214", "997")
# Code lists kept: the elements a mapping turns into canonical values or warns about.
CODED_ELEMENTS = ("0098", "0066", "0128", "0235", "0248", "0353", "0355", "0374", "0587",
                  "0668", "0670", "0673", "0735", "1005", "0738", "0088")
ROOT = "EdiStandards/X12_004010"
OUT = Path(__file__).with_name("x12_004010.json")

_CLASS = re.compile(r"public class (\w+) : "
                    r"(MapSegment|MapSimpleDataElement|MapCompositeDataElement)"
                    r"\s*\{(.*?)\n\t\}", re.S)
_MEMBER = re.compile(r"new\s+(E_\w+|C\d+)\s*\{\s*ReqDes\s*=\s*RequirementDesignator\.(\w+)")
_USED = re.compile(r"new ([A-Z][A-Z0-9]{1,2})\(\)")


def _show(checkout: Path, commit: str, path: str) -> str:
    done = subprocess.run(["git", "-C", str(checkout), "show", f"{commit}:{path}"],
                          capture_output=True, text=True, check=True)
    return done.stdout


def build(checkout: Path, commit: str) -> dict[str, Any]:
    used = {"ISA", "GS", "ST", "SE", "GE", "IEA"}  # the envelope, in no map
    for set_id in SETS:
        used |= set(_USED.findall(_show(checkout, commit, f"{ROOT}/Maps/M_{set_id}.cs")))
    segments_cs = _show(checkout, commit, f"{ROOT}/Segments/Segments.cs")
    elements_cs = _show(checkout, commit, f"{ROOT}/DataElements/DataElements.cs")
    composites_cs = _show(checkout, commit, f"{ROOT}/DataElements/CompositeDataElements.cs")
    segments = {}
    for name, _, body in _CLASS.findall(segments_cs):
        if name in used:
            segments[name] = [[ref, req == "Mandatory"] for ref, req in _MEMBER.findall(body)]
    composites = {name: [[ref, req == "Mandatory"] for ref, req in _MEMBER.findall(body)]
                  for name, _, body in _CLASS.findall(composites_cs)}
    needed = {ref for members in segments.values() for ref, _ in members}
    needed |= {ref for name in needed if name in composites for ref, _ in composites[name]}
    elements = {}
    for name, _, body in _CLASS.findall(elements_cs):
        if name not in needed:
            continue
        kind = re.search(r"DataType = DataType\.(\w+)", body)
        low = re.search(r"MinLength = (\d+)", body)
        high = re.search(r"MaxLength = (\d+)", body)
        entry: dict[str, Any] = {
            "type": kind.group(1) if kind else "AN",
            "min": int(low.group(1)) if low else 0,
            "max": int(high.group(1)) if high else 0,
        }
        codes = re.search(r"AllowedValues\.AddRange\(new\[\] \{(.*?)\}\)", body, re.S)
        if codes and name.removeprefix("E_") in CODED_ELEMENTS:
            entry["codes"] = sorted(re.findall(r'"([^"]*)"', codes.group(1)))
        elements[name.removeprefix("E_")] = entry
    return {
        "source": f"olmelabs/EdiEngine @ {commit}, {ROOT} (MIT)",
        "sets": list(SETS),
        "segments": {tag: [[ref.removeprefix("E_"), mandatory] for ref, mandatory in members]
                     for tag, members in sorted(segments.items())},
        "composites": {name: [[ref.removeprefix("E_"), mandatory] for ref, mandatory in members]
                       for name, members in sorted(composites.items()) if name in needed},
        "elements": dict(sorted(elements.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path)
    parser.add_argument("--commit", default="f0b2cb9269fec6597908f4c8c955f98f2f3658b9")
    args = parser.parse_args()
    data = build(args.checkout, args.commit)
    OUT.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(f"{OUT}: {len(data['segments'])} segments, {len(data['elements'])} elements")


if __name__ == "__main__":
    main()
