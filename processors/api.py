"""The processors' front door: the processor packages, their specs, logic and dry check.

Every processor is a package under processors/ whose ``processor`` module exports the same
three things (:class:`ProcessorPackage`):

- ``SPEC``: its :class:`ProcessorSpec` (name, input, output, retry and dead-letter topics);
- ``logic(settings)``: its :class:`processors.step.ProcessorLogic` bound to the settings, which
  ``backbone process`` runs;
- ``check(topic, value, serde, settings)``: its *stateless* part (decode, validate, map codes) on
  one record, with the same settings, which ``backbone dlq replay --dry-run`` uses to predict
  "would succeed" / "still fails: <reason>" without producing anything. State-dependent
  outcomes (a late event, a duplicate) are not errors and are not predicted.

:data:`PACKAGES` lists them; a new processor is one more package and one more line there.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Protocol

from backbone.errors import DecodeError
from backbone.serde import AvroSerde
from backbone.settings import Settings
from backbone.topics import Topic
from processors.order_fulfillment import processor as order_fulfillment
from processors.shipment_status import processor as shipment_status
from processors.spec import ProcessorSpec, ProcessorTopics
from processors.step import ProcessorLogic
from processors.stock_reconciliation import processor as stock_reconciliation

__all__ = ["PACKAGES", "ProcessorPackage", "ProcessorSpec", "ProcessorTopics", "check",
           "owner_of", "package", "processor", "processor_names"]


class ProcessorPackage(Protocol):
    """What every processor package's ``processor`` module exports."""

    SPEC: ProcessorSpec

    def logic(self, settings: Settings) -> ProcessorLogic: ...

    def check(self, topic: Topic, value: bytes | None, serde: AvroSerde,
              settings: Settings) -> None: ...


PACKAGES: tuple[ProcessorPackage, ...] = (shipment_status, order_fulfillment, stock_reconciliation)

_BY_NAME: Mapping[str, ProcessorPackage] = MappingProxyType(
    {package.SPEC.name: package for package in PACKAGES})


def processor_names() -> tuple[str, ...]:
    return tuple(_BY_NAME)


def package(name: str) -> ProcessorPackage:
    """The processor package called ``name``; KeyError naming the known processors otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(
            f"no processor named {name!r}; known processors: {', '.join(_BY_NAME)}"
        ) from None


def processor(name: str) -> ProcessorSpec:
    """The spec of the processor called ``name`` (KeyError naming the known ones otherwise)."""
    return package(name).SPEC


def owner_of(topic_name: str) -> ProcessorSpec | None:
    """The processor whose retry or dead-letter topic is ``topic_name`` (None if no one's)."""
    for candidate in PACKAGES:
        if topic_name in (candidate.SPEC.retry_topic, candidate.SPEC.dlq_topic):
            return candidate.SPEC
    return None


def check(spec: ProcessorSpec, topic: str, value: bytes | None, serde: AvroSerde,
          settings: Settings, *, topics: ProcessorTopics | None = None) -> None:
    """Run the stateless part of processor ``spec`` on one record of ``topic``.

    ``topic`` is the record's ORIGINAL input topic (a dead letter's
    ``backbone.dlq.original_topic``), a catalog name or a name renamed by ``topics``.
    ``settings`` are those ``backbone process`` runs with (status mappings, rules). Returns
    when the current code would accept the record; raises the
    :class:`backbone.errors.BackboneError` it would fail with otherwise.
    """
    names = topics or ProcessorTopics()
    catalog_name = names.catalog_name(topic)
    if catalog_name not in spec.input_topics:
        raise DecodeError(
            f"{spec.name} does not read {topic!r}; it reads "
            f"{', '.join(names.name(name) for name in spec.input_topics)}. Replay the record "
            "to the processor that owns the topic it came from"
        )
    package(spec.name).check(names.topic(catalog_name), value, serde, settings)
