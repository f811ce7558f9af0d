"""Inputs for the property tests: arbitrary bytes, and real samples mutated the way a fuzzer
mutates them (bytes flipped, cut, inserted; lines duplicated; tokens that broke parsers
before spliced in)."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

# Tokens that found crashes or hangs in this project's parsers (issue 14), and their kin.
TOKENS: tuple[bytes, ...] = (
    b'"', b",", b"\n", b"\r\n", b"\x00", b"\xff", b"\xef\xbb\xbf", b"\\ud800", b"\\u0000",
    b"[" * 3000, b'{"a":' * 1500, b"9" * 5000, b"1e999999", b"-1e-999999", b"NaN", b"Infinity",
    b"-0", b"1E+28", b"99999999999999999999.999999", b"null", b"true", b"[]", b"{}",
    b"x" * 140_000, b"\xe2\x80\xa8", b"\xc2\xb3", b"0001-01-01T00:00:00+05:00",
    b"9999-12-31T23:59:59-05:00", b"2026-03-02T11:05:00", b"2026-03-02T11:05:00Z",
)


@st.composite
def mutated(draw: st.DrawFn, seeds: Sequence[bytes], max_mutations: int = 4) -> bytes:
    """One of ``seeds`` with up to ``max_mutations`` mutations."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, max_mutations))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(("flip", "cut", "insert", "token", "line")))
        if kind == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at:at + draw(st.integers(1, 64))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "token":
            data[at:at] = draw(st.sampled_from(TOKENS))
        else:  # a whole line again, as a resent or half-merged export would have it
            lines = bytes(data).splitlines(keepends=True)
            if lines:
                data[at:at] = draw(st.sampled_from(lines))
    return bytes(data)


def inputs(seeds: Sequence[bytes]) -> st.SearchStrategy[bytes]:
    """Mutated samples mostly, arbitrary bytes sometimes."""
    return st.one_of(mutated(seeds), mutated(seeds), mutated(seeds), st.binary(max_size=512))
