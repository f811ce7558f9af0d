"""Builds small, envelope-correct X12 interchanges for mapping tests, and maps corpus files."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from backbone.events import Event
from connectors.edi_x12 import TransactionSetResult, read_file, read_transaction_sets
from connectors.edi_x12.mapping import map_transaction_set

RECORDED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

_FUNCTIONAL_IDS = {"850": "PO", "860": "PC", "855": "PR", "865": "CA", "856": "SH",
                   "846": "IB", "947": "AW", "944": "RE", "861": "RC", "214": "QM",
                   "945": "SW", "810": "IN", "940": "OW", "997": "FA", "837": "HC"}


def build(set_id: str, *segments: str, version: str = "004010", control: str = "000000123",
          sender: str = "PARTNER") -> bytes:
    """One interchange, one group, one set of `segments` ('*' elements, no terminators)."""
    st = [f"ST*{set_id}*0001", *segments]
    st.append(f"SE*{len(st) + 1}*0001")
    repetition = "^" if version >= "004030" else "U"
    isa_version = "00501" if version.startswith("005") else "00401"
    isa = (f"ISA*00*          *00*          *ZZ*{sender:<15}*ZZ*OURCO          *260102*0304*"
           f"{repetition}*{isa_version}*{control}*0*P*>")
    lines = [isa, f"GS*{_FUNCTIONAL_IDS[set_id]}*{sender}*OURCO*20260102*0304*77*X*{version}",
             *st, "GE*1*77", f"IEA*1*{control}"]
    return ("~\n".join(lines) + "~\n").encode()


def results_of(data: bytes, name: str = "sample.edi") -> list[TransactionSetResult]:
    return list(read_transaction_sets(io.BytesIO(data), name))


def map_bytes(data: bytes, name: str = "sample.edi") -> list[Event]:
    """Events of every set of `data`; asserts the envelope accepted them all."""
    events: list[Event] = []
    for result in results_of(data, name):
        assert result.accepted, result.rejection
        events.extend(map_transaction_set(result, file=name, recorded_at=RECORDED_AT))
    return events


def map_corpus(path: Path) -> list[tuple[TransactionSetResult, list[Event]]]:
    """(result, events) per accepted set of a corpus file; rejected sets are left out."""
    return [
        (result, map_transaction_set(result, file=path.name, recorded_at=RECORDED_AT))
        for result in read_file(path)
        if result.accepted
    ]
