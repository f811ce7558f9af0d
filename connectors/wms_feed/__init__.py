"""WMS feed: CSV and JSON-lines files of movements, counts and receipts to canonical events."""

from connectors.wms_feed.connector import DEAD_LETTER_TOPIC, NAME, WmsFeedConnector
from connectors.wms_feed.mapping import BadRow, map_row

__all__ = ["DEAD_LETTER_TOPIC", "NAME", "BadRow", "WmsFeedConnector", "map_row"]
