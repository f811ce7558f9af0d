"""A stand-in for confluent-kafka's Message (it cannot be built from Python)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FakeMessage:
    _topic: str = "x.dlq.v1"
    _partition: int = 0
    _offset: int = 0
    _key: bytes | None = b"k"
    _value: bytes | None = b"v"
    _headers: object = field(default_factory=list)
    _timestamp: tuple[int, int] = (1, 1_700_000_000_000)

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> object:
        return self._headers

    def timestamp(self) -> tuple[int, int]:
        return self._timestamp
