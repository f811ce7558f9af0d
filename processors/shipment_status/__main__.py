"""`python -m processors.shipment_status`: same as `backbone process shipment-status`."""

from __future__ import annotations

import sys

from processors.cli import app

if __name__ == "__main__":
    app(["shipment-status", *sys.argv[1:]])
