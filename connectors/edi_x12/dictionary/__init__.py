"""X12 004010 segment and element definitions, and the checks the mappings run with them.

`x12_004010.json` is extracted (by `build.py`) from EdiEngine's X12 004010 dictionary (MIT,
see README.md): for every segment the sets we read use, its elements in order (data element
number, mandatory or not); for each element its type and length; for the elements our
mappings interpret (units 355, dates 374, change types 670, line statuses 668, ...) the code
list. It is a dictionary of the standard, not of any partner's implementation guide.

`segment_problems` names, per segment, what the definition refuses: more elements than the
segment has (a lost terminator runs two segments together), and a code outside its element's
list. Both are warnings on the event, never rejections: partners use later versions and
private codes, and the document's facts stay good.

Only documents of version 004010 or earlier are judged (GS08 "004010", "003040" ...): later
versions append elements and codes the 004010 dictionary does not know.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from connectors.edi_x12.model import Delimiters, Segment

_DATA = Path(__file__).with_name("x12_004010.json")
DICTIONARY_VERSION = "004010"


@dataclass(frozen=True, slots=True)
class ElementDefinition:
    """One element position of a segment: `number` is the X12 data element ('0355' ->
    355) or a composite ('C001'); `codes` the allowed values when we check them."""

    number: str
    mandatory: bool
    kind: str  # X12 type: AN, ID, N0..N9, R, DT, TM; "composite" for a composite
    min_length: int
    max_length: int
    codes: frozenset[str] | None
    first_component: ElementDefinition | None = None  # of a composite (C001: its unit)

    @property
    def label(self) -> str:
        return self.number if self.number.startswith("C") else self.number.lstrip("0")


@cache
def _dictionary() -> dict[str, dict[str, list[list[object]]]]:
    data: dict[str, dict[str, list[list[object]]]] = json.loads(
        _DATA.read_text(encoding="utf-8")
    )
    return data


@cache
def definition(tag: str) -> tuple[ElementDefinition, ...] | None:
    """The elements of segment `tag` in order; None for a segment the dictionary lacks."""
    data = _dictionary()
    members = data["segments"].get(tag)
    if members is None:
        return None
    return tuple(_element(str(number), bool(mandatory)) for number, mandatory in members)


def _element(number: str, mandatory: bool) -> ElementDefinition:
    data = _dictionary()
    if number.startswith("C"):
        parts = data["composites"].get(number, [])
        first = _element(str(parts[0][0]), True) if parts else None
        return ElementDefinition(number, mandatory, "composite", 0, 0, None, first)
    raw: dict[str, object] = data["elements"].get(number, {})  # type: ignore[assignment]
    codes = raw.get("codes")
    return ElementDefinition(
        number,
        mandatory,
        str(raw.get("type", "AN")),
        int(str(raw.get("min", 0))),
        int(str(raw.get("max", 0))),
        frozenset(str(code) for code in codes) if isinstance(codes, list) else None,
    )


def judged(version: str) -> bool:
    """Whether a group of this GS08 version is checked against the 004010 dictionary."""
    digits = version.strip()[:6]
    return len(digits) == 6 and digits.isascii() and digits.isdigit() and (
        digits <= DICTIONARY_VERSION)


def segment_problems(segment: Segment, delimiters: Delimiters) -> Iterator[str]:
    """What the 004010 definition of this segment refuses, as warning texts naming the
    element (e.g. "POC05 'XX' is not a code of element 355")."""
    elements = definition(segment.tag)
    if elements is None:
        return
    count = len(segment.fields) - 1
    if count > len(elements):
        yield (f"{segment.tag} has {count} elements, its X12 {DICTIONARY_VERSION} definition "
               f"{len(elements)}: a segment terminator may be missing, or two segments run "
               "together")
    for position, element in enumerate(elements, start=1):
        raw = segment.element(position).strip()
        if not raw:
            continue
        if element.first_component is not None:
            raw = delimiters.components(raw)[0].strip()
            element = element.first_component
        if element.codes is not None and raw not in element.codes:
            yield (f"{segment.tag}{position:02d} {raw[:20]!r} is not a code of element "
                   f"{element.label} in X12 {DICTIONARY_VERSION}")
