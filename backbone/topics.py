"""The topic catalog: every topic backbone reads or writes, the single source of their settings.

Names follow ``<domain>.<entity>[.<variant>].v<major>``; a processor owns
``<processor>.retry.v1`` and ``<processor>.dlq.v1``. ``backbone topics apply`` creates and aligns
them, ``backbone asyncapi`` documents them, the publisher takes keys from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from backbone.durability import DEFAULT_REPLICATION_FACTOR, Durability, durability_for

DAY_MS = 24 * 60 * 60 * 1000


class ValueFormat(StrEnum):
    AVRO = "avro"  # Confluent-framed Avro of ``record``
    BYTES = "bytes"  # opaque: dead letters keep the original bytes untouched
    JSON = "json"  # UTF-8 JSON objects (audit trails, raw webhook archives)


@dataclass(frozen=True)
class Topic:
    """One topic: what it carries, how it is keyed, and how Kafka keeps it."""

    name: str
    description: str
    value_format: ValueFormat
    record: str | None = None  # Avro full name when value_format is AVRO
    key_fields: tuple[str, ...] = ()
    key_separator: str = "|"
    partitions: int = 3
    retention_ms: int = 7 * DAY_MS
    cleanup_policy: str = "delete"
    compatibility: str = "FULL_TRANSITIVE"
    max_message_bytes: int = 1_000_000
    # wanted replicas; capped by the cluster's size (backbone.durability)
    replication_factor: int = DEFAULT_REPLICATION_FACTOR
    producers: tuple[str, ...] = ()
    consumers: tuple[str, ...] = ()
    extra_config: Mapping[str, str] = field(default_factory=dict)

    @property
    def value_subject(self) -> str:
        """TopicNameStrategy: the registry subject of this topic's values."""
        return f"{self.name}-value"

    @property
    def key_description(self) -> str:
        return self.key_separator.join(f"<{name}>" for name in self.key_fields) or "(none)"

    def key_for(self, value: Any) -> str | None:
        """The record key from the event's key fields (``None`` for unkeyed topics)."""
        if not self.key_fields:
            return None
        parts = [getattr(value, name) if not isinstance(value, Mapping) else value[name]
                 for name in self.key_fields]
        return self.key_separator.join(str(part) for part in parts)

    def durability(self, brokers: int) -> Durability:
        """Replication factor and min ISR of this topic on a cluster of ``brokers``."""
        return durability_for(brokers, self.replication_factor)

    def config(self, brokers: int | None = None) -> dict[str, str]:
        """The topic configs ``topics apply`` sets (with the durability ones when the
        cluster's size is given)."""
        return {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.retention_ms),
            "max.message.bytes": str(self.max_message_bytes),
            **(self.durability(brokers).config() if brokers else {}),
            **self.extra_config,
        }


PROCESSORS = ("shipment-status", "order-fulfillment", "stock-reconciliation")
CONNECTORS = ("edi-x12", "erp-outbox", "wms-feed", "carrier-webhooks", "carrier-tracking")
SINKS = ("iceberg-sink",)


def _canonical(name: str, description: str, record: str, key_fields: tuple[str, str],
               separator: str, producers: tuple[str, ...], consumers: tuple[str, ...],
               **kwargs: Any) -> Topic:
    # every canonical topic can be written to the analysts' tables (`backbone sink iceberg`)
    return Topic(name, description, ValueFormat.AVRO, record, key_fields, separator,
                 producers=producers, consumers=(*consumers, *SINKS), **kwargs)


def _po(name: str, record: str, description: str, producers: tuple[str, ...],
        consumers: tuple[str, ...] = ("order_fulfillment",), **kwargs: Any) -> Topic:
    return _canonical(name, description, record, ("buyer", "po_number"), "|", producers,
                      consumers, **kwargs)


def _stock(name: str, record: str, description: str, producers: tuple[str, ...],
           consumers: tuple[str, ...] = ("stock_reconciliation",), **kwargs: Any) -> Topic:
    return _canonical(name, description, record, ("sku", "location"), "@", producers,
                      consumers, **kwargs)


def _shipment(name: str, record: str, description: str, producers: tuple[str, ...],
              consumers: tuple[str, ...], **kwargs: Any) -> Topic:
    return _canonical(name, description, record, ("carrier", "tracking_number"), ":",
                      producers, consumers, **kwargs)




def _error_topics(owner: str) -> tuple[Topic, Topic]:
    retry = Topic(
        f"{owner}.retry.v1",
        f"Records {owner} will try again (transient failures, operator replays).",
        ValueFormat.BYTES, partitions=3, retention_ms=7 * DAY_MS,
        # replay reads it too: a killed replay run is recovered from what it already wrote
        producers=(owner, "backbone dlq replay"), consumers=(owner, "backbone dlq replay"),
    )
    dlq = Topic(
        f"{owner}.dlq.v1",
        f"Records {owner} could not process: original key and value bytes plus "
        "backbone.dlq.* headers.",
        ValueFormat.BYTES, partitions=1, retention_ms=30 * DAY_MS,
        producers=(owner,), consumers=("backbone dlq",),
    )
    return retry, dlq


_DECLARED: tuple[Topic, ...] = (
    _po("procurement.purchase-order.v1", "backbone.procurement.PurchaseOrderChanged",
        "Purchase orders created, changed, replaced or cancelled (ERP outbox, X12 850/860).",
        ("erp-outbox", "edi-x12")),
    _po("procurement.supplier-ack.v1", "backbone.procurement.SupplierAcknowledgement",
        "Supplier acknowledgements per PO line (X12 855/865).", ("edi-x12",)),
    _po("procurement.asn.v1", "backbone.procurement.AdvanceShipNotice",
        "Advance ship notices with the HL tree kept (X12 856).", ("edi-x12",),
        ("order_fulfillment", "stock_reconciliation", "carrier-tracking")),
    _po("finance.invoice.v1", "backbone.finance.Invoice",
        "Supplier invoices (X12 810).", ("edi-x12",)),
    _stock("inventory.receipt.v1", "backbone.inventory.GoodsReceipt",
           "Goods received at a site, one event per SKU (WMS, X12 944/861).",
           ("wms-feed", "edi-x12"), ("order_fulfillment", "stock_reconciliation")),
    _stock("inventory.movement.v1", "backbone.inventory.InventoryMovement",
           "Signed stock changes (WMS, X12 947).", ("wms-feed", "edi-x12")),
    _stock("inventory.snapshot.v1", "backbone.inventory.InventorySnapshot",
           "Stock counts that replace, never increment (ERP, WMS, X12 846).",
           ("erp-outbox", "wms-feed", "edi-x12")),
    _shipment("logistics.shipment-milestone.raw.v1", "backbone.logistics.ShipmentMilestone",
              "Carrier status events with their raw codes (X12 214, carrier APIs, webhooks).",
              ("carrier-webhooks", "edi-x12", "carrier-tracking"),
              ("shipment_status", "carrier-tracking")),
    _shipment("logistics.shipment-status.v1", "backbone.logistics.ShipmentStatus",
              "Normalized status per shipment: milestone, condition, ETA (latest per key).",
              ("shipment_status",), ("downstream systems", "carrier-tracking"),
              cleanup_policy="compact,delete", retention_ms=90 * DAY_MS),
    _po("procurement.order-line-status.v1", "backbone.procurement.OrderLineStatus",
        "Derived fulfillment state of every PO line (latest per PO).",
        ("order_fulfillment",), ("downstream systems",),
        cleanup_policy="compact,delete", retention_ms=90 * DAY_MS),
    _stock("inventory.position.v1", "backbone.inventory.InventoryPosition",
           "Expected on hand per SKU and site against what systems report (latest per key).",
           ("stock_reconciliation",), ("downstream systems",),
           cleanup_policy="compact,delete", retention_ms=90 * DAY_MS),
    _stock("inventory.discrepancy.v1", "backbone.inventory.InventoryDiscrepancy",
           "Stock breaks beyond tolerance and their clearing.",
           ("stock_reconciliation",), ("downstream systems",), retention_ms=90 * DAY_MS),
    Topic("logistics.carrier-webhook.raw.v1",
          "Carrier webhook bodies as received, archived before parsing so they can be re-parsed.",
          ValueFormat.BYTES, partitions=3, retention_ms=30 * DAY_MS,
          producers=("carrier-webhooks",), consumers=("operators",)),
    Topic("backbone.connect-offsets.v1",
          "Source offsets of the connectors, committed after Kafka acknowledged their events.",
          ValueFormat.JSON, partitions=1, cleanup_policy="compact", retention_ms=-1,
          producers=("connectors",), consumers=("connectors",)),
    Topic("backbone.replay-audit.v1",
          "One record per dead-letter replay or purge: who, when, filters, counts.",
          ValueFormat.JSON, partitions=1, retention_ms=-1,
          producers=("backbone dlq",), consumers=("operators",)),
    *(topic for owner in PROCESSORS for topic in _error_topics(owner)),
    # Connectors have nothing to retry from Kafka (their source is the retry): dead letters only.
    *(_error_topics(owner)[1] for owner in CONNECTORS),
    # What the sink cannot turn into a row will not turn into one on a second try: no retry.
    *(_error_topics(owner)[1] for owner in SINKS),
)


def _read_by_sinks(entry: Topic) -> Topic:
    # the Iceberg sink reads every canonical topic (analysts' tables; sinks/iceberg)
    if entry.value_format is not ValueFormat.AVRO:
        return entry
    return replace(entry, consumers=(*entry.consumers, *SINKS))


CATALOG: tuple[Topic, ...] = tuple(_read_by_sinks(entry) for entry in _DECLARED)

_BY_NAME = {topic.name: topic for topic in CATALOG}


def topic(name: str) -> Topic:
    """The catalog entry for ``name``; KeyError naming the known topics otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(
            f"topic {name!r} is not in the catalog; `backbone topics list` shows the known ones"
        ) from None


def for_record(record: str) -> Topic:
    """The topic an event record (full or short name) is published to."""
    for entry in CATALOG:
        if entry.record and (entry.record == record or entry.record.endswith(f".{record}")):
            return entry
    raise KeyError(f"no topic in the catalog carries {record!r}")
