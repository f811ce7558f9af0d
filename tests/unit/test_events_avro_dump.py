"""``to_avro`` and ``to_json_dict`` (pydantic-core dumps) equal an explicit field walk."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import fastavro
import pytest

from backbone import schemas
from backbone.events.values import CanonicalRecord
from backbone.samples import sample


def _walk(value: Any) -> Any:
    """The Avro shape spelled out: records as dicts, enums as their symbols, arrays as lists."""
    if isinstance(value, CanonicalRecord):
        return {name: _walk(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_walk(item) for item in value]
    if isinstance(value, dict):
        return {key: _walk(item) for key, item in value.items()}
    return value


def _encode(record: str, datum: Any) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schemas.parsed(record), datum)
    return buffer.getvalue()


@pytest.mark.parametrize("record", schemas.event_records())
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_to_avro_encodes_like_the_explicit_walk(record: str, seed: int) -> None:
    event = sample(record, seed=seed)
    assert _encode(record, event.to_avro()) == _encode(record, _walk(event))


def _json_walk(value: Any) -> Any:
    """The JSON lines shape spelled out (INTERFACES.md): decimals as strings, ISO UTC times."""
    if isinstance(value, CanonicalRecord):
        return {name: _json_walk(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_json_walk(item) for item in value]
    if isinstance(value, dict):
        return {key: _json_walk(item) for key, item in value.items()}
    return value


@pytest.mark.parametrize("record", schemas.event_records())
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_to_json_dict_is_the_json_lines_shape(record: str, seed: int) -> None:
    event = sample(record, seed=seed)
    assert json.dumps(event.to_json_dict()) == json.dumps(_json_walk(event))
