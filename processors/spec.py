"""What a processor is on the wire: its name and the catalog topics it reads and writes.

A :class:`ProcessorSpec` names a processor's inputs, outputs, retry and dead-letter topics;
:class:`ProcessorTopics` maps catalog names to actual ones (tests and staging run every processor
on ``<prefix>.<catalog name>`` topics). A renamed topic keeps the catalog entry's record type,
key and settings; only its name (and so its registry subject) changes. Each processor package
defines its own ``SPEC`` (processors/api.py lists the packages).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from backbone.topics import Topic
from backbone.topics import topic as catalog_topic


@dataclass(frozen=True)
class ProcessorTopics:
    """Actual topic names for catalog names; an empty mapping means "the catalog's own names"."""

    renamed: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    prefix: str = ""  # set by ``prefixed``: names the processor's internal topics apart too

    @classmethod
    def prefixed(cls, spec: ProcessorSpec, prefix: str) -> ProcessorTopics:
        """Every topic of ``spec`` renamed ``<prefix>.<catalog name>`` (fresh topics for tests)."""
        return cls(MappingProxyType({name: f"{prefix}.{name}" for name in spec.all_topics}),
                   prefix)

    def name(self, catalog_name: str) -> str:
        """The actual topic name standing for ``catalog_name``."""
        return self.renamed.get(catalog_name, catalog_name)

    def topic(self, catalog_name: str) -> Topic:
        """The catalog entry of ``catalog_name`` carrying its actual name."""
        entry = catalog_topic(catalog_name)
        actual = self.name(catalog_name)
        return entry if actual == entry.name else dataclasses.replace(entry, name=actual)

    def catalog_name(self, actual_name: str) -> str:
        """The catalog name an actual topic name stands for (itself when not renamed)."""
        for catalog_name, actual in self.renamed.items():
            if actual == actual_name:
                return catalog_name
        return actual_name


@dataclass(frozen=True)
class ProcessorSpec:
    """One processor: its name and the catalog topics it reads and writes."""

    name: str
    input_topics: tuple[str, ...]
    retry_topic: str
    dlq_topic: str
    output_topics: tuple[str, ...]

    @classmethod
    def named(cls, name: str, inputs: tuple[str, ...], outputs: tuple[str, ...]) -> ProcessorSpec:
        """The spec of processor ``name``, with its ``<name>.retry.v1`` and ``<name>.dlq.v1``."""
        return cls(name=name, input_topics=inputs, retry_topic=f"{name}.retry.v1",
                   dlq_topic=f"{name}.dlq.v1", output_topics=outputs)

    @property
    def all_topics(self) -> tuple[str, ...]:
        return (*self.input_topics, self.retry_topic, self.dlq_topic, *self.output_topics)
