"""A rejected X12 set read again from its dead letter maps as the inbox maps it (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from backbone.errors import Category
from connectors.edi_x12 import read_file
from connectors.edi_x12.errors import EdiError
from connectors.edi_x12.ingest import edi_dead_letter
from connectors.edi_x12.mapping import map_transaction_set
from connectors.replay import StillFails, reread

AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_an_x12_set_is_wrapped_in_its_own_isa_and_gs_again(corpus_dir: Path) -> None:
    [result, *_] = [r for r in read_file(corpus_dir / "node-x12__855.edi") if r.accepted]
    assert result.transaction_set and result.interchange and result.group
    d = result.interchange.delimiters
    value = "".join(d.element.join(s.fields) + d.segment for s in result.transaction_set.segments)
    error = EdiError(file="855.edi", problem="p", hint="h", scope="transaction_set")
    record = edi_dead_letter(result.transaction_set, result.interchange, error, result.group)
    direct = map_transaction_set(result, file="855.edi", recorded_at=AT)
    events = reread(record, value.encode(), recorded_at=AT)
    assert [e.idempotency_key for e in events] == [e.idempotency_key for e in direct]
    assert [e.event_id for e in events] == [e.event_id for e in direct]
    cut = value.replace(f"SE{d.element}", f"SE{d.element}9", 1)  # a wrong segment count
    with pytest.raises(StillFails, match="SE01") as failure:
        reread(record, cut.encode(), recorded_at=AT)
    assert failure.value.category is Category.SCHEMA_VALIDATION
