"""ERP outbox relay: Debezium-style outbox rows (PostgreSQL, SQLite) to canonical events."""

from connectors.erp_outbox.connector import DEAD_LETTER_TOPIC, NAME, ErpOutboxConnector
from connectors.erp_outbox.mapping import OutboxRow, UnmappableRow, map_row

__all__ = ["DEAD_LETTER_TOPIC", "NAME", "ErpOutboxConnector", "OutboxRow", "UnmappableRow",
           "map_row"]
