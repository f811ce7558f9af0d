"""The processors' front door: which processors exist, their topics, and a dry check.

``processor(name)`` returns a :class:`ProcessorSpec`: the catalog topics a processor reads and
writes and ``check(topic, value, serde)``, which runs the processor's *stateless* logic (decode,
validate, map codes) on one record with the code and mapping tables loaded right now. ``backbone
dlq replay --dry-run`` uses it to predict "would succeed" / "still fails: <reason>" without
producing anything. State-dependent outcomes (a late event, a duplicate) are not errors and are
not predicted.

Topic names: a processor works on catalog topics unless given a :class:`ProcessorTopics` that
renames some of them (tests run every processor on fresh topics). A renamed topic keeps the
catalog entry's record type, key and settings; only its name (and so its registry subject)
changes.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from backbone.errors import DecodeError
from backbone.serde import AvroSerde
from backbone.topics import Topic
from backbone.topics import topic as catalog_topic

# (topic with its actual name, value bytes, serde) -> None; raises a BackboneError subclass
CheckFunction = Callable[[Topic, bytes | None, AvroSerde], None]


@dataclass(frozen=True)
class ProcessorTopics:
    """Actual topic names for catalog names; an empty mapping means "the catalog's own names"."""

    renamed: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def prefixed(cls, spec: ProcessorSpec, prefix: str) -> ProcessorTopics:
        """Every topic of ``spec`` renamed ``<prefix>.<catalog name>`` (fresh topics for tests)."""
        return cls(MappingProxyType({name: f"{prefix}.{name}" for name in spec.all_topics}))

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
    """One processor: its name, the catalog topics it reads and writes, and its dry check."""

    name: str
    input_topics: tuple[str, ...]
    retry_topic: str
    dlq_topic: str
    output_topics: tuple[str, ...]
    check_module: str  # module defining ``check(topic: Topic, value, serde) -> None``

    @property
    def package(self) -> str:
        return self.name.replace("-", "_")

    @property
    def all_topics(self) -> tuple[str, ...]:
        return (*self.input_topics, self.retry_topic, self.dlq_topic, *self.output_topics)

    def check(
        self,
        topic: str,
        value: bytes | None,
        serde: AvroSerde,
        *,
        topics: ProcessorTopics | None = None,
    ) -> None:
        """Run the stateless part of this processor on one record of ``topic``.

        ``topic`` is the record's ORIGINAL input topic (a dead letter's
        ``backbone.dlq.original_topic``), a catalog name or a name renamed by ``topics``.
        Returns when the current code would accept the record; raises the
        :class:`backbone.errors.BackboneError` it would fail with otherwise.
        """
        names = topics or ProcessorTopics()
        catalog_name = names.catalog_name(topic)
        if catalog_name not in self.input_topics:
            raise DecodeError(
                f"{self.name} does not read {topic!r}; it reads "
                f"{', '.join(names.name(name) for name in self.input_topics)}. Replay the record "
                "to the processor that owns the topic it came from"
            )
        function: CheckFunction = importlib.import_module(self.check_module).check
        function(names.topic(catalog_name), value, serde)


def _spec(
    name: str, inputs: tuple[str, ...], outputs: tuple[str, ...], check_module: str = "logic"
) -> ProcessorSpec:
    package = name.replace("-", "_")
    return ProcessorSpec(
        name=name,
        input_topics=inputs,
        retry_topic=f"{name}.retry.v1",
        dlq_topic=f"{name}.dlq.v1",
        output_topics=outputs,
        check_module=f"processors.{package}.{check_module}",
    )


_PROCESSORS: Mapping[str, ProcessorSpec] = MappingProxyType({
    spec.name: spec
    for spec in (
        _spec(
            "shipment-status",
            ("logistics.shipment-milestone.raw.v1",),
            ("logistics.shipment-status.v1",),
            # mapping.py/state.py are the shared pure logic; the decode + map check lives here
            "processor",
        ),
        _spec(
            "order-fulfillment",
            (
                "procurement.purchase-order.v1",
                "procurement.supplier-ack.v1",
                "procurement.asn.v1",
                "inventory.receipt.v1",
                "finance.invoice.v1",
            ),
            ("procurement.order-line-status.v1",),
        ),
        _spec(
            "stock-reconciliation",
            (
                "inventory.snapshot.v1",
                "inventory.movement.v1",
                "procurement.asn.v1",
                "inventory.receipt.v1",
            ),
            ("inventory.position.v1", "inventory.discrepancy.v1"),
        ),
    )
})


def processor_names() -> tuple[str, ...]:
    return tuple(_PROCESSORS)


def processor(name: str) -> ProcessorSpec:
    """The processor called ``name``; KeyError naming the known processors otherwise."""
    try:
        return _PROCESSORS[name]
    except KeyError:
        raise KeyError(
            f"no processor named {name!r}; known processors: {', '.join(_PROCESSORS)}"
        ) from None


def owner_of(topic_name: str) -> ProcessorSpec | None:
    """The processor whose retry or dead-letter topic is ``topic_name`` (None if no one's)."""
    for spec in _PROCESSORS.values():
        if topic_name in (spec.retry_topic, spec.dlq_topic):
            return spec
    return None
