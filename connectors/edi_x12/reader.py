"""Streams X12 segments out of bytes, with the delimiters each ISA declares.

The file is read in chunks (64 KiB by default) and cut at the byte level, so memory stays
flat whatever the file size and a multi-byte terminator (U+2026 '…' in UTF-8) is just a
three-byte separator. Segments come out in runs (`SegmentScanner.batches`): every complete
segment of the buffered chunk is cut at once, and a chunk that is plain ASCII with one-byte
delimiters (nearly every file) is decoded once and cut as text, so a byte offset is a
character offset and no segment is decoded or checked on its own.

Each ISA is parsed on its own: element separator = the character right after "ISA", then 16
elements split on it (not fixed offsets: collapsed or padded ISAs exist), ISA16 = component
separator, the next character = segment terminator.

Tolerated: a UTF-8 byte-order mark before an ISA; spaces, tabs, CR and LF around segments
(so "~\\r\\n", CRLF with a "\\n" terminator, and pretty-printed indentation all work); a last
segment without a terminator at end of file.

Text: the encoding is decided per file from its bytes: UTF-8 as long as every segment is
valid UTF-8 (a BOM or a multi-byte terminator implies it), latin-1 from the first segment
that is not, which decodes any byte, so reading never fails on text.

This module knows nothing of GS/ST nesting; `connectors.edi_x12.envelope` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from connectors.edi_x12.errors import EdiError, EdiFileError
from connectors.edi_x12.model import Delimiters, Interchange, Segment, is_digits

DEFAULT_CHUNK_SIZE = 64 * 1024
DEFAULT_MAX_SEGMENT_BYTES = 64 * 1024

# A fixed-width ISA is 106 bytes; collapsed or long-id ISAs stay far below this bound, and
# it keeps "ISA*" followed by a megabyte of garbage a fast error.
_ISA_MAX_BYTES = 1024
_ISA_ELEMENT_COUNT = 16
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_WHITESPACE_BYTES = b" \t\r\n"
_WHITESPACE = frozenset(_WHITESPACE_BYTES)
_WHITESPACE_TEXT = _WHITESPACE_BYTES.decode("ascii")
_TRAILING_WHITESPACE_TEXT = "\r\n"
_TRAILING_WHITESPACE = b"\r\n"
_ISA_TAG = b"ISA"
# How far past an ISA with a line-break terminator the next segment is looked at.
_PEEK_BYTES = 4096
# Segments per run handed on by `SegmentScanner.batches`: enough to make the per-run cost
# vanish, few enough that a run's objects do not pile up in the garbage collector's young
# generation (700 allocations by default) and make it collect over and over.
_RUN = 128
_I = ord("I")
_BOM_LEAD = _UTF8_BOM[0]
_new = tuple.__new__


class ByteStream(Protocol):
    """Anything with a binary `read(size)`: an open file, a socket file, io.BytesIO."""

    def read(self, size: int, /) -> bytes: ...


def read_segments(
    stream: ByteStream,
    name: str,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_segment_bytes: int = DEFAULT_MAX_SEGMENT_BYTES,
) -> Iterator[Segment]:
    """Every segment of the file in order, ISA included; raises EdiFileError when unreadable."""
    for item in read_items(
        stream, name, chunk_size=chunk_size, max_segment_bytes=max_segment_bytes
    ):
        yield item.header if isinstance(item, Interchange) else item


def read_items(
    stream: ByteStream,
    name: str,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_segment_bytes: int = DEFAULT_MAX_SEGMENT_BYTES,
) -> Iterator[Interchange | Segment]:
    """An `Interchange` for each ISA (it carries the ISA segment), a `Segment` for the rest.

    Raises EdiFileError (not X12, truncated or malformed ISA, over-long segment); items
    yielded before the error are valid.
    """
    if chunk_size <= 0 or max_segment_bytes <= 0:
        raise ValueError("chunk_size and max_segment_bytes must be positive")
    return SegmentScanner(stream, name, chunk_size, max_segment_bytes).items()


def utf8_char_length(data: bytes | bytearray, index: int) -> int:
    """Length of the character starting at `index`: 2-4 for a complete UTF-8 sequence, else 1."""
    lead = data[index]
    if lead < 0xC2 or lead > 0xF4:
        return 1
    length = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    tail = data[index + 1 : index + length]
    if len(tail) == length - 1 and all(0x80 <= byte < 0xC0 for byte in tail):
        return length
    return 1


class _Window:
    """The unread part of the stream: `data[start:]`, where `data[0]` is file byte `base`."""

    def __init__(self, stream: ByteStream, chunk_size: int) -> None:
        self._stream = stream
        self._chunk_size = chunk_size
        self.data = bytearray()
        self.start = 0
        self.base = 0
        self.eof = False

    def fill(self) -> bool:
        """Read one more chunk; False at end of file. Indices relative to `start` survive."""
        if self.eof:
            return False
        chunk = self._stream.read(self._chunk_size)
        if not chunk:
            self.eof = True
            return False
        if self.start:
            # Drop consumed bytes once per chunk: keeps the window about one segment plus
            # one chunk long, and the cost linear in the file size.
            del self.data[: self.start]
            self.base += self.start
            self.start = 0
        self.data += chunk
        return True

    def ensure(self, size: int) -> bool:
        """Make at least `size` unread bytes available if the file has them."""
        while len(self.data) - self.start < size:
            if not self.fill():
                return False
        return True

    def offset(self) -> int:
        return self.base + self.start


class SegmentScanner:
    """Cuts one file into interchanges and segments; holds the current ISA's separators."""

    def __init__(
        self, stream: ByteStream, name: str, chunk_size: int, max_segment_bytes: int
    ) -> None:
        self._window = _Window(stream, chunk_size)
        self._name = name
        self._max_segment_bytes = max_segment_bytes
        self._count = 0
        self._encoding = "utf-8"
        self._terminator = b"~"
        self._separator_bytes = b"*"
        self._separator = "*"
        # The terminator as text while both delimiters are one ASCII byte (the text path).
        self._plain_terminator: str | None = "~"
        self._interchange_control: str | None = None

    @property
    def bytes_read(self) -> int:
        """File offset just past the last segment handed out (the file size once done)."""
        return self._window.offset()

    @property
    def segments_read(self) -> int:
        return self._count

    def items(self) -> Iterator[Interchange | Segment]:
        """An `Interchange` per ISA, a `Segment` for every other segment, in file order."""
        for batch in self.batches():
            if isinstance(batch, list):
                yield from batch
            else:
                yield batch

    def batches(self) -> Iterator[Interchange | list[Segment]]:
        """`items()` with the segments between two ISAs grouped in non-empty runs.

        A run holds at most `_RUN` segments, so memory stays flat; handing runs on spares a
        generator round trip per segment.
        """
        self._check_start()
        while self._skip_whitespace():
            window = self._window
            if window.data[window.start] == _I and self._at_isa():
                yield self._read_isa()
                continue
            before = window.offset()
            yield from self._cut_buffered_segments()
            if window.offset() != before:
                continue
            segment = self._read_segment()
            if segment is not None:
                yield [segment]

    # -- start of file -------------------------------------------------------------------

    def _check_start(self) -> None:
        window = self._window
        window.ensure(len(_UTF8_BOM))
        if window.data.startswith(_UTF16_BOMS):
            raise self._error(
                "the file is UTF-16 encoded (it starts with a UTF-16 byte-order mark)",
                "X12 must be ASCII, latin-1 or UTF-8; ask the partner to send it that way",
            )
        if not self._skip_whitespace():
            raise self._error(
                "the file is empty",
                "an X12 file starts with an ISA segment; check the transfer delivered content",
            )
        if not self._at_isa():
            preview = bytes(window.data[window.start : window.start + 20]).decode("latin-1")
            raise self._error(
                f"the file does not start with an ISA segment (it starts with {preview!r})",
                "this is not an X12 interchange; check what the partner or upstream job sent",
            )

    def _skip_whitespace(self) -> bool:
        """Skip blanks and byte-order marks; False when the file has nothing more."""
        window = self._window
        while True:
            data = window.data
            index = window.start
            end = len(data)
            while index < end and data[index] in _WHITESPACE:
                index += 1
            window.start = index
            if index < end and data[index] == 0xEF and window.ensure(len(_UTF8_BOM)):
                if window.data.startswith(_UTF8_BOM, window.start):
                    window.start += len(_UTF8_BOM)
                    self._encoding = "utf-8"
                    continue
                return True
            if index < end:
                return True
            if not window.fill():
                return False

    def _at_isa(self) -> bool:
        window = self._window
        window.ensure(len(_ISA_TAG) + 1)
        data = window.data
        start = window.start
        if not data.startswith(_ISA_TAG, start) or len(data) - start <= len(_ISA_TAG):
            return False
        # "ISA" followed by a letter or digit is some other tag, not an interchange header.
        return not chr(data[start + len(_ISA_TAG)]).isalnum()

    # -- ISA -----------------------------------------------------------------------------

    def _read_isa(self) -> Interchange:
        window = self._window
        window.ensure(_ISA_MAX_BYTES)
        offset = window.offset()
        isa = bytes(window.data[window.start : window.start + _ISA_MAX_BYTES])
        separator = isa[3 : 3 + utf8_char_length(isa, 3)]
        last_separator = self._find_isa16_separator(isa, separator)
        component_at = last_separator + len(separator)
        terminator_at = component_at + utf8_char_length(isa, component_at)
        if terminator_at >= len(isa):
            raise self._truncated_isa(len(isa))
        component = isa[component_at:terminator_at]
        terminator = isa[terminator_at : terminator_at + utf8_char_length(isa, terminator_at)]
        self._check_isa_delimiters(separator, component, terminator)
        if terminator.isspace():
            self._check_whitespace_terminator(
                separator, component, terminator, terminator_at + len(terminator)
            )
        self._set_delimiters(separator, terminator)
        fields = tuple(self._decode(isa[:terminator_at]).split(self._separator))
        self._check_isa_elements(fields, _text(terminator))
        window.start += terminator_at + len(terminator)
        self._count += 1
        segment = Segment("ISA", fields, offset, self._count)
        self._interchange_control = segment.element(13).strip()
        return _interchange(segment, separator, component, terminator)

    def _find_isa16_separator(self, isa: bytes, separator: bytes) -> int:
        """Index of the separator in front of ISA16, counting separators, not columns."""
        index = 3
        for _ in range(_ISA_ELEMENT_COUNT - 1):
            index = isa.find(separator, index + len(separator))
            if index < 0:
                break
        if index >= 0 and index + len(separator) < len(isa):
            return index
        if len(isa) < _ISA_MAX_BYTES:
            raise self._truncated_isa(len(isa))
        raise self._error(
            f"the ISA header does not have {_ISA_ELEMENT_COUNT} elements separated by "
            f"{_text(separator)!r} within its first {_ISA_MAX_BYTES} bytes",
            "the interchange header is corrupt; ask the partner to resend the file",
            tag="ISA",
        )

    def _check_isa_delimiters(self, separator: bytes, component: bytes, terminator: bytes) -> None:
        roles = (("component separator (ISA16)", component), ("segment terminator", terminator))
        for role, value in roles:
            if _text(value).isalnum() or value == separator:
                raise self._error(
                    f"the ISA header is malformed: its {role} would be "
                    f"{_text(value)!r}, which cannot be a delimiter",
                    "ISA must have 16 elements, ISA16 one character, then the segment "
                    "terminator; ask the partner to fix their interchange header",
                    tag="ISA",
                )
        if component == terminator:
            raise self._error(
                f"the ISA header declares {_text(component)!r} as both component separator "
                "and segment terminator",
                "ask the partner to fix their interchange header (ISA16)",
                tag="ISA",
            )

    def _check_isa_elements(self, fields: tuple[str, ...], terminator: str) -> None:
        """No ISA element may hold the segment terminator: the ISA is cut by counting its
        separators, so a stray terminator inside it would otherwise reach a value."""
        for number, value in enumerate(fields[1:_ISA_ELEMENT_COUNT], start=1):
            if terminator in value:
                raise self._error(
                    f"ISA{number:02d} {value[:20]!r} contains the segment terminator "
                    f"{terminator!r}: a segment ends inside the interchange header",
                    "the interchange header is corrupt; ask the partner to resend the file",
                    tag="ISA",
                )

    def _check_whitespace_terminator(
        self, separator: bytes, component: bytes, terminator: bytes, isa_length: int
    ) -> None:
        """A line break may be the terminator; it may also be what follows a lost ISA16.

        "...*P*~" + newline has no ISA16: '~' is read as the component separator and the
        newline as the terminator, and every value would then end with the real terminator.
        Seen from the next segment: it ends with the would-be component separator, or that
        character is followed by the next segment's tag. A space or tab cannot be a
        terminator at all: element values hold spaces.
        """
        if terminator not in (b"\n", b"\r"):
            raise self._error(
                f"the ISA header is malformed: its segment terminator would be "
                f"{_text(terminator)!r} (the character after ISA16 {_text(component)!r}), and "
                "element values contain spaces and tabs",
                "ISA16 or the segment terminator is missing; nothing of this interchange was "
                "read — ask the partner to fix their interchange header",
                tag="ISA",
            )
        window = self._window
        window.ensure(isa_length + _PEEK_BYTES)
        following = bytes(window.data[window.start + isa_length :][:_PEEK_BYTES])
        following = following.lstrip(_WHITESPACE_BYTES)
        end = following.find(terminator)
        segment = (following if end < 0 else following[:end]).rstrip(_WHITESPACE_BYTES)
        tags = (b"GS", b"ST", b"SE", b"GE", b"IEA", b"TA1")
        run_together = any(component + tag + separator in segment for tag in tags)
        if segment.endswith(component) or run_together:
            raise self._error(
                f"the ISA header declares {_text(component)!r} as component separator (ISA16) "
                f"and a line break as segment terminator, but the next segment "
                f"{_text(segment[:40])!r} ends with or is cut by {_text(component)!r}: ISA16 "
                "is missing and the values would carry the real terminator",
                "the file cannot be read with the delimiters its ISA declares; nothing of this "
                "interchange was published — ask the partner to fix ISA16",
                tag="ISA",
            )

    def _set_delimiters(self, separator: bytes, terminator: bytes) -> None:
        if any(len(value) > 1 for value in (separator, terminator)):
            self._encoding = "utf-8"
        elif any(value[0] >= 0x80 for value in (separator, terminator)):
            self._encoding = "latin-1"
        self._separator_bytes = separator
        self._terminator = terminator
        self._separator = separator.decode(self._encoding)
        plain = len(separator) == len(terminator) == 1 and (separator + terminator).isascii()
        self._plain_terminator = terminator.decode("ascii") if plain else None

    def _truncated_isa(self, available: int) -> EdiFileError:
        return self._error(
            f"the file ends {available} bytes into the ISA header, before its "
            f"{_ISA_ELEMENT_COUNT} elements and segment terminator",
            "the file was cut short; ask the partner to resend it",
            tag="ISA",
        )

    # -- other segments ------------------------------------------------------------------

    def _cut_buffered_segments(self) -> Iterator[list[Segment]]:
        """Every complete segment already in the window, cut with one `split`.

        The fast path: it stops before anything the one-at-a-time path must look at (an
        ISA, which may change the delimiters; a byte-order mark; an over-long segment).
        """
        window = self._window
        last = window.data.rfind(self._terminator, window.start)
        if last < 0:
            return
        data = bytes(window.data[window.start : last])
        terminator = self._plain_terminator
        if terminator is not None and data.isascii():
            text = _plain_text(data.decode("ascii"), terminator, self._max_segment_bytes)
            if text:
                pieces = text.split(terminator)
                position = window.offset()
                # Every piece is cut, the terminator after the last one included.
                window.start += len(text) + 1
                for first in range(0, len(pieces), _RUN):
                    segments, position = _cut_text(
                        pieces[first : first + _RUN], self._separator, position, self._count
                    )
                    self._count += len(segments)
                    if segments:
                        yield segments
                return
        block = _Block(
            data=data,
            terminator=self._terminator,
            step=len(self._terminator),
            separator_bytes=self._separator_bytes,
            separator=self._separator,
            encoding=self._encoding,
            position=window.offset(),
            count=self._count,
            limit=self._max_segment_bytes,
        )
        try:
            yield from _cut_block(block)
        finally:
            window.start = block.position - window.base
            self._count = block.count
            self._encoding = block.encoding
            self._separator = block.separator

    def _read_segment(self) -> Segment | None:
        """The next segment, or None for an empty one ("~~")."""
        window = self._window
        end = self._find_terminator()
        start = window.start
        offset = window.base + start
        raw = window.data[start:end].rstrip(_TRAILING_WHITESPACE)
        window.start = min(end + len(self._terminator), len(window.data))
        if not raw:
            return None
        fields = tuple(self._decode(raw).split(self._separator))
        self._count += 1
        return Segment(fields[0], fields, offset, self._count)

    def _find_terminator(self) -> int:
        """Index of the terminator ending the segment at `start`; end of data at EOF."""
        window = self._window
        terminator = self._terminator
        searched = 0  # bytes after `start` known not to begin a terminator
        while True:
            data = window.data
            start = window.start
            found = data.find(terminator, start + searched)
            if found >= 0 and found - start <= self._max_segment_bytes:
                return found
            searched = max(0, len(data) - start - len(terminator) + 1)
            if found >= 0 or searched > self._max_segment_bytes:
                raise self._segment_too_long()
            if not window.fill():
                return len(window.data)

    def _segment_too_long(self) -> EdiFileError:
        window = self._window
        head = bytes(window.data[window.start : window.start + 20])
        tag = head.split(self._separator_bytes)[0].decode("latin-1")
        return self._error(
            f"segment is longer than {self._max_segment_bytes} bytes without the segment "
            f"terminator {_text(self._terminator)!r} declared in the ISA",
            "the file does not use the terminator its ISA declares, or is corrupt; if "
            "segments this long are legitimate, raise max_segment_bytes",
            tag=tag,
        )

    def _decode(self, raw: bytes | bytearray) -> str:
        try:
            return raw.decode(self._encoding)
        except UnicodeDecodeError:
            # Sticky: once a segment is not UTF-8, the file is latin-1 (or a cousin of it).
            self._encoding = "latin-1"
            self._separator = self._separator_bytes.decode("latin-1")
            return raw.decode("latin-1")

    def _error(self, problem: str, hint: str, *, tag: str | None = None) -> EdiFileError:
        return EdiFileError(
            EdiError(
                file=self._name,
                problem=problem,
                hint=hint,
                scope="file",
                byte_offset=self._window.offset(),
                segment_index=self._count + 1 if tag else None,
                segment_tag=tag,
                interchange_control=self._interchange_control,
                fatal=True,
            )
        )


@dataclass(slots=True)
class _Block:
    """Complete segments cut from the window in one go, and how far cutting got."""

    data: bytes
    terminator: bytes
    step: int  # len(terminator)
    separator_bytes: bytes
    separator: str
    encoding: str
    position: int  # file offset of the next piece
    count: int  # segments cut so far in the file
    limit: int


def _cut_text(
    pieces: list[str], separator: str, position: int, count: int
) -> tuple[list[Segment], int]:
    """The segments of `pieces` (ASCII text between terminators, no ISA), the first piece
    at file `position`; and the file position after the last piece's terminator."""
    # The loop comes first and the function stays small on purpose: it runs once per
    # segment, and tracemalloc (3.11) pays per allocation for the offset of the
    # allocating line within its function.
    segments: list[Segment] = []
    append = segments.append
    for piece in pieces:
        # strip() returns the piece itself when there is nothing to strip.
        body = piece.lstrip(_WHITESPACE_TEXT)
        size = len(piece)
        offset = position if body is piece else position + size - len(body)
        # ASCII: characters are bytes. size + 1 is usually a cached small int.
        position += size + 1
        if body:
            count += 1
            fields = tuple(body.rstrip(_TRAILING_WHITESPACE_TEXT).split(separator))
            # tuple.__new__ skips the Python-level __new__ of NamedTuple.
            append(_new(Segment, (fields[0], fields, offset, count)))
    return segments, position


def _plain_text(text: str, terminator: str, limit: int) -> str:
    """The longest run of whole segments at the start of `text` the text path may cut:
    up to the segment holding the first "ISA" (it may be an interchange header, which can
    change the delimiters), and none when a segment is longer than `limit`."""
    isa = text.find("ISA")
    if isa >= 0:
        cut = text.rfind(terminator, 0, isa)
        text = text[:cut] if cut >= 0 else ""
    # Checked per run, not per segment: a run is rarely longer than the limit.
    if len(text) > limit and max(map(len, text.split(terminator))) > limit:
        return ""
    return text


def _cut_block(block: _Block) -> Iterator[list[Segment]]:
    # The loop comes first: see `_cut_text`.
    segments: list[Segment] = []
    for piece in block.data.split(block.terminator):
        size = len(piece)
        # As bytes, strip() returns the piece itself when there is nothing to strip.
        body = piece.lstrip(_WHITESPACE_BYTES)
        if size > block.limit or (body and _needs_slow_path(body)):
            break
        position = block.position
        offset = position if body is piece else position + size - len(body)
        # size + step is usually a cached small int: one allocation fewer per segment.
        block.position = position + (size + block.step)
        body = body.rstrip(_TRAILING_WHITESPACE)
        if body:
            fields = tuple(_decode_into(block, body).split(block.separator))
            block.count += 1
            # tuple.__new__ skips the Python-level __new__ of NamedTuple.
            segments.append(_new(Segment, (fields[0], fields, offset, block.count)))
            if len(segments) == _RUN:
                yield segments
                segments = []
    if segments:
        yield segments


def _decode_into(block: _Block, body: bytes) -> str:
    try:
        return body.decode(block.encoding)
    except UnicodeDecodeError:
        # Sticky: once a segment is not UTF-8, the file is latin-1 (or a cousin of it).
        block.encoding = "latin-1"
        block.separator = block.separator_bytes.decode("latin-1")
        return body.decode("latin-1")


def _needs_slow_path(body: bytes) -> bool:
    """An ISA (it may change the delimiters) or a byte-order mark starts this segment."""
    first = body[0]
    if first == _I:
        return body.startswith(_ISA_TAG) and (len(body) == 3 or not chr(body[3]).isalnum())
    return first == _BOM_LEAD and body.startswith(_UTF8_BOM)


def _interchange(
    isa: Segment, separator: bytes, component: bytes, terminator: bytes
) -> Interchange:
    version = isa.element(12)
    repetition = isa.element(11)
    # ISA11 became the repetition separator in 00402; before that it is the standards id.
    has_repetition = (
        is_digits(version)
        and int(version) >= 402
        and len(repetition) == 1
        and not repetition.isalnum()
        and not repetition.isspace()
    )
    delimiters = Delimiters(
        element=_text(separator),
        component=_text(component),
        segment=_text(terminator),
        repetition=repetition if has_repetition else None,
    )
    return Interchange(
        sender_qualifier=isa.element(5).strip(),
        sender_id=isa.element(6).strip(),
        receiver_qualifier=isa.element(7).strip(),
        receiver_id=isa.element(8).strip(),
        date=isa.element(9).strip(),
        time=isa.element(10).strip(),
        version=version.strip(),
        control_number=isa.element(13).strip(),
        acknowledgment_requested=isa.element(14).strip(),
        usage_indicator=isa.element(15).strip(),
        delimiters=delimiters,
        header=isa,
    )


def _text(delimiter: bytes) -> str:
    """A delimiter as text: its UTF-8 character when it is one, else its latin-1 byte."""
    try:
        return delimiter.decode("utf-8")
    except UnicodeDecodeError:
        return delimiter.decode("latin-1")
