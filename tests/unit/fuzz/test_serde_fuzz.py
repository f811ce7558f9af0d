"""Avro bytes at the serde, fuzzed: every record decodes to the topic's event or raises
DecodeError / SchemaValidationError naming the topic (a processor dead-letters both),
quickly, whatever the bytes: truncated, spliced, absurd or negative lengths, wrong ids."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from backbone.errors import DecodeError, SchemaValidationError
from backbone.events import model_for
from backbone.samples import sample
from backbone.topics import CATALOG, Topic, ValueFormat
from tests.unit.fuzz.canonical import serde
from tests.unit.fuzz.strategies import mutated
from tests.unit.test_serde_guards import zigzag

TOPICS = [entry for entry in CATALOG if entry.value_format is ValueFormat.AVRO and entry.record]
ENCODED = {entry.name: [serde().serialize(entry, sample(entry.record or "", seed=seed))
                        for seed in range(3)] for entry in TOPICS}
# Avro lengths and counts no writer produces: 2^60, negative, 2 GiB, and a length that is
# true (a 50 KB blob: a decimal that long took seconds to convert, a megabyte minutes)
LENGTHS = [zigzag(n) for n in (2**60, -(2**60), -1, -5, 2**31, 2**63 - 1, -(2**63))]
BLOB = zigzag(50_000) + b"\x01" * 50_000


@st.composite
def records(draw: st.DrawFn) -> tuple[Topic, bytes]:
    entry = draw(st.sampled_from(TOPICS))
    kind = draw(st.sampled_from(("mutated", "length", "arbitrary", "schema id")))
    if kind == "arbitrary":  # any bytes behind the topic's own frame
        good = ENCODED[entry.name][0]
        return entry, good[:5] + draw(st.binary(max_size=300))
    data = bytearray(draw(mutated(ENCODED[entry.name])) if kind == "mutated"
                     else draw(st.sampled_from(ENCODED[entry.name])))
    if kind == "length":
        at = draw(st.integers(5, len(data)))
        data[at:at] = draw(st.sampled_from([*LENGTHS, BLOB]))
    elif kind == "schema id":
        data[1:5] = struct.pack(">I", draw(st.integers(0, 2**32 - 1)))
    return entry, bytes(data)


@given(records())
def test_any_bytes_decode_to_the_topics_event_or_a_named_error(case: tuple[Topic, bytes]) -> None:
    entry, data = case
    try:
        event = serde().deserialize(entry, data)
    except (DecodeError, SchemaValidationError) as error:
        assert str(error).startswith(entry.name)
        return
    assert isinstance(event, model_for(entry.record or ""))
