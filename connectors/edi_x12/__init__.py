"""The EDI X12 connector: reads partner files into transaction sets, envelope-checked.

Start with `read_file` / `read_transaction_sets`; `read_segments` is the flat, envelope-blind
view of the same bytes.
"""

from connectors.edi_x12.envelope import (
    DEFAULT_MAX_SET_SEGMENTS,
    check_group_trailer,
    check_interchange_trailer,
    check_transaction_set,
    read_file,
    read_transaction_sets,
)
from connectors.edi_x12.errors import EdiError, EdiFileError
from connectors.edi_x12.model import (
    Delimiters,
    FunctionalGroup,
    Interchange,
    Segment,
    SegmentPosition,
    TransactionSet,
    TransactionSetResult,
)
from connectors.edi_x12.reader import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_SEGMENT_BYTES,
    ByteStream,
    SegmentScanner,
    read_items,
    read_segments,
)

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_MAX_SEGMENT_BYTES",
    "DEFAULT_MAX_SET_SEGMENTS",
    "ByteStream",
    "Delimiters",
    "EdiError",
    "EdiFileError",
    "FunctionalGroup",
    "Interchange",
    "Segment",
    "SegmentPosition",
    "SegmentScanner",
    "TransactionSet",
    "TransactionSetResult",
    "check_group_trailer",
    "check_interchange_trailer",
    "check_transaction_set",
    "read_file",
    "read_items",
    "read_segments",
    "read_transaction_sets",
]
