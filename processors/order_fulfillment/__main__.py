"""`python -m processors.order_fulfillment`: same as `backbone process order-fulfillment`."""

from __future__ import annotations

import sys

from processors.cli import app

if __name__ == "__main__":
    app(["order-fulfillment", *sys.argv[1:]])
