"""Order fulfillment's stateless part: which PO an event concerns, and the dry check for replay.

State is keyed by PO NUMBER, not by the ``buyer|po_number`` record key of the procurement topics,
because a GoodsReceipt is keyed ``sku@location`` and carries the PO number but no buyer. The
engine re-keys every input by the PO numbers :func:`route` returns (a Quix ``group_by``
repartition topic); an ASN covering several orders fans out to each of them. The buyer comes
from the PO (or the ack/ASN) and the output is keyed ``buyer|po_number`` as the catalog says.
"""

from __future__ import annotations

from collections.abc import Sequence

from backbone.errors import MissingReferenceError
from backbone.events import Event
from backbone.events.inventory import GoodsReceipt
from backbone.events.procurement import AdvanceShipNotice
from backbone.serde import AvroSerde
from backbone.settings import Settings
from backbone.topics import Topic


def route(topic: str, event: Event) -> Sequence[str]:
    """The PO numbers ``event`` concerns (state keys)."""
    if isinstance(event, AdvanceShipNotice):
        return [order.po_number for order in event.orders] or [event.po_number]
    if isinstance(event, GoodsReceipt):
        # a receipt without PO is dead-lettered by the reducer (MISSING_REFERENCE)
        return [event.po_number or f"receipt:{event.receipt_id}"]
    po_number = getattr(event, "po_number", None)
    return [po_number] if po_number else []


def check(topic: Topic, value: bytes | None, serde: AvroSerde, settings: Settings) -> None:
    """Dry check for ``dlq replay --dry-run``: decodes and validates the references."""
    event = serde.deserialize(topic, value)
    if isinstance(event, GoodsReceipt) and not event.po_number:
        raise MissingReferenceError(
            f"goods receipt {event.receipt_id} names no po_number; the order it fulfils "
            "cannot be found"
        )
